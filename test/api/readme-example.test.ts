// The README's library example is examples/library.ts, included verbatim;
// this test checks the two are identical and runs the example as a real
// program (transpiled, importing the built package by its name) twice: the
// first run builds every node, the second reuses them all. It also checks
// that the README's rendered graph is what `run-graph graph` prints.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

/** The fenced code blocks of a language in a Markdown text. */
function codeBlocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');
}

describe('README', () => {
  it('includes examples/library.ts verbatim, and the example runs', async () => {
    const source = await readFile(join(REPO_ROOT, 'examples', 'library.ts'), 'utf8');
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(codeBlocks(readme, 'ts')).toContain(source);

    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    await writeFile(box.path('library.mjs'), outputText);
    // `import ... from 'run-graph'` resolves as it would for a user: through node_modules to the package.
    await mkdir(box.path('node_modules'));
    await symlink(REPO_ROOT, box.path('node_modules', 'run-graph'), 'dir');
    const run = (): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [box.path('library.mjs'), box.path('example.workdir')], {
        cwd: box.dir,
        encoding: 'utf8',
      });

    const first = run();
    expect(first.status, String(first.stderr)).toBe(0);
    expect(first.stdout).toContain('matrix uid: 266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365');
    expect(first.stdout).toContain('mean 5, std 2.236: 4 values from 2 to 8');
    expect(first.stdout).toContain('built 3, reused 0');
    const second = run();
    expect(second.status, String(second.stderr)).toBe(0);
    expect(second.stdout).toContain('built 0, reused 3');
  });

  it('shows the graph of the quickstart exactly as `run-graph graph` renders it', async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const result = await runCli([
      'graph',
      'examples/quickstart.json',
      '--format',
      'mermaid',
      '--workdir',
      'workdir.example',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(codeBlocks(readme, 'mermaid')).toContain(result.stdout);
  });
});
