/**
 * `run-graph report`: one HTML file with the view's data embedded and the
 * script inlined, written atomically, bounded in what it embeds, and a clear
 * error (nothing written) for a working directory that is not there.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportHtml } from '../../src/views/web/page.js';
import { reportData } from '../../src/views/web/report.js';
import type { ReportData } from '../../src/views/web/types.js';
import { buildGraph } from '../../src/workflow/graph.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import type { WorkflowSpec } from '../../src/workflow/load.js';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let sandbox: Sandbox;

const FLOW: WorkflowSpec = {
  nodes: [
    { label: 'wide', operation: 'scalems.Float64', input: { data: Array.from({ length: 3000 }, (_, i) => i / 7) } },
    { label: 'narrow', operation: 'scalems.Integer64', input: { data: [[1, 2, 3]] } },
    {
      label: 'echo',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'echo "</script><b>not markup</b>"'] },
    },
  ],
};

function embedded(html: string): ReportData {
  const match = /<script type="application\/json" id="run-graph-report">([\s\S]*?)<\/script>/.exec(html);
  if (match === null) throw new Error('no embedded data in the report');
  return JSON.parse(match[1] ?? '') as ReportData;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  await writeFile(sandbox.path('flow.json'), JSON.stringify(FLOW));
  const run = await runCli(['run', 'flow.json'], { cwd: sandbox.dir });
  expect(run.code).toBe(0);
});

afterAll(async () => {
  await sandbox?.cleanup();
});

describe('run-graph report', () => {
  it('writes one self-contained file: data embedded, script and style inlined, nothing fetched', async () => {
    await writeFile(sandbox.path('report.html'), 'an older report');
    const result = await runCli(['report', 'flow.json', '-o', 'report.html'], { cwd: sandbox.dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^wrote report\.html: 3 nodes \(3 committed\)$/m);
    const html = await readFile(sandbox.path('report.html'), 'utf8');
    expect(html).not.toMatch(/<script src=|<link /);
    expect(html).toMatch(/<style>/);
    const data = embedded(html);
    expect(data.snapshot.nodes.map((n) => n.label).sort()).toEqual(['echo', 'narrow', 'wide']);
    const echo = data.snapshot.nodes.find((n) => n.label === 'echo');
    const stdout = data.details[echo?.uid ?? '']?.previews['stdout'];
    expect(Buffer.from(stdout?.base64 ?? '', 'base64').toString('utf8')).toBe('</script><b>not markup</b>\n');
    // Replaced whole, and no temporary file left beside it.
    expect((await readdir(sandbox.dir)).filter((n) => n.startsWith('report.html'))).toEqual(['report.html']);
  });

  it('fails with E_WORKDIR and writes nothing for a working directory that does not exist', async () => {
    const result = await runCli(['report', 'flow.json', '-w', 'missing.workdir', '-o', 'none.html'], {
      cwd: sandbox.dir,
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/E_WORKDIR: .*missing\.workdir.*does not exist/);
    expect((await readdir(sandbox.dir)).filter((n) => n.startsWith('none.html'))).toEqual([]);
  });
});

describe('reportData', () => {
  it('embeds previews only up to its limits, and says what it left out', async () => {
    const graph = await buildGraph(FLOW, {
      registry: builtinRegistry(),
      baseDir: sandbox.dir,
      file: join(sandbox.dir, 'flow.json'),
    });
    const data = await reportData(graph, sandbox.path('flow.workdir'), {
      previewBytes: 4096,
      totalPreviewBytes: 4096 * 2,
    });
    const wide = data.snapshot.nodes.find((n) => n.label === 'wide');
    const preview = data.details[wide?.uid ?? '']?.previews['data'];
    // 3000 float64 are 24,000 bytes; the first chunk of 4 KiB holds 512 of them.
    expect(preview?.rows).toEqual([0, 512]);
    expect(Buffer.from(preview?.base64 ?? '', 'base64').length).toBe(4096);
    const total = Object.values(data.details)
      .flatMap((d) => Object.values(d.previews))
      .reduce((sum, p) => sum + Buffer.from(p.base64, 'base64').length, 0);
    expect(total).toBeLessThanOrEqual(4096 * 2);
    expect(data.omitted.join('\n')).toMatch(/\d+ previews \(each at most 4096 bytes, all together at most 8192\)/);
  });

  it("embeds a failed node's logs, read from its attempt", async () => {
    const box = await createSandbox();
    try {
      await box.write('failing.json', {
        nodes: [
          {
            label: 'broken',
            operation: 'scalems.Subprocess',
            input: { argv: ['sh', '-c', 'echo "partial result"; echo "</script> no input here" >&2; exit 3'] },
          },
        ],
      });
      expect((await runCli(['run', 'failing.json'], { cwd: box.dir })).code).toBe(1);
      const result = await runCli(['report', 'failing.json', '-o', 'report.html'], { cwd: box.dir });
      expect(result.code, result.stderr).toBe(0);
      const data = embedded(await readFile(box.path('report.html'), 'utf8'));
      const broken = data.snapshot.nodes.find((n) => n.label === 'broken');
      const logs = data.details[broken?.uid ?? '']?.logs;
      expect(logs?.heading).toMatch(/^== broken, attempt 1: failed \(exit 3\)/);
      expect(logs?.stdout?.text).toBe('partial result\n');
      expect(logs?.stderr?.text).toBe('</script> no input here\n');
    } finally {
      await box.cleanup();
    }
  });

  it('keeps embedded text from closing its script element', async () => {
    const html = await reportHtml({
      snapshot: { file: '</script><script>alert(1)</script>', generatedAt: new Date(0).toISOString(), nodes: [] },
      details: {},
      limits: { previewBytes: 1, totalPreviewBytes: 1, detailNodes: 1 },
      omitted: ['<!-- a comment opener'],
    });
    expect(html).not.toContain('</script><script>alert(1)');
    expect(html).not.toContain('<!-- a comment');
    expect(embedded(html).snapshot.file).toBe('</script><script>alert(1)</script>');
  });
});
