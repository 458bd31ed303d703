/**
 * The README and the pages of docs/ link to each other, to sections of each
 * other, and to files of the repository. This test follows every relative
 * link: its file must exist inside the repository, and a `#anchor` into a
 * Markdown file must be the slug of one of its headings, as GitHub makes
 * them. It also checks that every repository path the pages name in code
 * (`src/store/lock.ts`, `node build/bench/load.js`) still exists, so a file
 * that moves cannot leave the documentation pointing at its old place.
 * Links with a scheme (https:, mailto:) are not followed: no network.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** What the checker may ask of a file system: a real one, or a few files in memory. */
export interface Files {
  exists(path: string): boolean;
  read(path: string): string;
}

/** The lines of a Markdown text, each with whether it lies inside a fenced code block (fences included). */
function linesOutsideFences(markdown: string): Array<{ line: number; text: string; fenced: boolean }> {
  const result: Array<{ line: number; text: string; fenced: boolean }> = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = marker;
      result.push({ line: i + 1, text, fenced: true });
    } else if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length && text.trim() === marker)
        fence = undefined;
      result.push({ line: i + 1, text, fenced: true });
    } else {
      result.push({ line: i + 1, text, fenced: false });
    }
  });
  return result;
}

/**
 * GitHub's anchor for a heading: its text as rendered (link targets, images
 * and emphasis marks dropped), lowercased, every character that is not a
 * letter, digit, mark, connector, space or hyphen removed, and each space
 * turned into a hyphen.
 */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[*`]/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a Markdown text's headings, a repeated one suffixed -1, -2, ... as GitHub does. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text, fenced } of linesOutsideFences(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(text)?.[1];
    if (fenced || heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Every link target of a Markdown text outside code (fenced blocks and inline code spans), with its line. */
export function linkTargets(markdown: string): Array<{ line: number; target: string }> {
  const targets: Array<{ line: number; target: string }> = [];
  for (const { line, text, fenced } of linesOutsideFences(markdown)) {
    if (fenced) continue;
    const prose = text.replace(/(`+)[\s\S]*?\1/g, '');
    for (const m of prose.matchAll(/\]\(\s*<?([^()\s<>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g))
      targets.push({ line, target: m[1] ?? '' });
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(prose);
    if (definition?.[1] !== undefined) targets.push({ line, target: definition[1] });
  }
  return targets;
}

/** Repository paths named in inline code (`src/x.ts`, `node build/bench/load.js`), with their line. */
export function codePaths(markdown: string): Array<{ line: number; path: string }> {
  const paths: Array<{ line: number; path: string }> = [];
  for (const { line, text, fenced } of linesOutsideFences(markdown)) {
    if (fenced) continue;
    for (const span of text.matchAll(/(`+)([\s\S]*?)\1/g)) {
      for (const m of (span[2] ?? '').matchAll(
        /(?:^|\s)((?:src|bench|torture|test|examples|schemas|docs|dist|build)\/[\w./-]*)/g,
      )) {
        paths.push({ line, path: m[1] ?? '' });
      }
    }
  }
  return paths;
}

/**
 * Where a named path lives in the repository: built files are found by their
 * source (`dist/x.js` is `src/x.ts`, `dist/x.cjs` is `src/x.cts`, `build/bench/x.js` is `bench/x.ts`);
 * undefined for what only a build or a run makes (`build/` itself, a
 * `.workdir`).
 */
function sourceOf(path: string): string | undefined {
  if (path.includes('.workdir')) return undefined;
  const built = /^(dist|build)\/(.*)$/.exec(path);
  if (built === null) return path;
  const [, tree, rest = ''] = built;
  if (rest === '') return undefined;
  return (tree === 'dist' ? 'src/' : '') + rest.replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts');
}

/** The problems of one Markdown file's links and named paths, one line each: `file:line: target: what is wrong`. */
export function brokenLinks(file: string, root: string, files: Files): string[] {
  const markdown = files.read(file);
  const name = relative(root, file).split(sep).join('/');
  const problems: string[] = [];
  for (const { line, target } of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const hash = target.indexOf('#');
    const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved =
      pathPart === '' ? file : pathPart.startsWith('/') ? join(root, pathPart) : resolve(dirname(file), pathPart);
    const where = `${name}:${line}: ${target}`;
    if (relative(root, resolved).startsWith('..')) {
      problems.push(`${where}: points outside the repository`);
    } else if (!files.exists(resolved)) {
      problems.push(`${where}: no such file`);
    } else if (anchor !== undefined && resolved.endsWith('.md') && !headingAnchors(files.read(resolved)).has(anchor)) {
      problems.push(`${where}: no heading with the anchor #${anchor}`);
    }
  }
  for (const { line, path } of codePaths(markdown)) {
    const source = sourceOf(path);
    if (source !== undefined && !files.exists(join(root, source.replace(/\/$/, ''))))
      problems.push(`${name}:${line}: ${path}: no such file in the repository`);
  }
  return problems;
}

/** The Markdown files under test: README.md and every page under docs/. */
function documentationFiles(): string[] {
  const pages = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return pages(path);
      return entry.name.endsWith('.md') ? [path] : [];
    });
  return [join(ROOT, 'README.md'), ...pages(join(ROOT, 'docs'))];
}

const disk: Files = { exists: existsSync, read: (path) => readFileSync(path, 'utf8') };

describe('the checker', () => {
  it('makes the anchors GitHub makes', () => {
    expect(slug('Set-up, in two commands')).toBe('set-up-in-two-commands');
    expect(slug('API (v1)')).toBe('api-v1');
    expect(slug('identity/: canonical JSON and the fingerprint')).toBe('identity-canonical-json-and-the-fingerprint');
    expect(slug('Long operations: checkpoints, streams, threads')).toBe('long-operations-checkpoints-streams-threads');
    expect(slug('The `run-graph` **command**')).toBe('the-run-graph-command');
    expect(slug('See [the API](http-api.md)')).toBe('see-the-api');
    expect(slug('snake_case and Ünïcode')).toBe('snake_case-and-ünïcode');
    expect([...headingAnchors('# Notes\n\n```sh\n# not a heading\n```\n## Notes\n### Notes ###\n')]).toEqual([
      'notes',
      'notes-1',
      'notes-2',
    ]);
  });

  it('reports a missing file, a missing anchor and a path that is gone, and nothing else', () => {
    const root = resolve('/repo');
    const memory = new Map<string, string>([
      [
        join(root, 'README.md'),
        [
          '# Top',
          '',
          'Read [the guide](docs/guide.md#set-up-in-two-commands) and [its top](docs/guide.md),',
          'then [a lost page](docs/lost.md) and [a lost section](docs/guide.md#no-such-section).',
          'Back to [the top](#top), out to [the web](https://example.com/missing.md#x),',
          'or to [a source file](src/a.ts#L3). `[not a link](nowhere.md)` is code, and so is `src/a.ts`;',
          '`node build/b.js` and `dist/a.js` are built from b.ts and src/a.ts, in `build/`; `src/old.ts` moved away.',
          '',
          '```md',
          '[fenced](fenced.md)',
          '```',
          '[ref]: docs/gone.md',
        ].join('\n'),
      ],
      [
        join(root, 'docs', 'guide.md'),
        '# Guide\n\n## Set-up, in two commands\n\nBack to [the README](../README.md#top) or [beyond](../../elsewhere.md).\n',
      ],
      [join(root, 'src', 'a.ts'), ''],
      [join(root, 'b.ts'), ''],
    ]);
    const files: Files = { exists: (path) => memory.has(path), read: (path) => memory.get(path) ?? '' };
    expect(brokenLinks(join(root, 'README.md'), root, files)).toEqual([
      'README.md:4: docs/lost.md: no such file',
      'README.md:4: docs/guide.md#no-such-section: no heading with the anchor #no-such-section',
      'README.md:12: docs/gone.md: no such file',
      'README.md:7: src/old.ts: no such file in the repository',
    ]);
    expect(brokenLinks(join(root, 'docs', 'guide.md'), root, files)).toEqual([
      'docs/guide.md:5: ../../elsewhere.md: points outside the repository',
    ]);
  });
});

describe('the documentation', () => {
  const pages = documentationFiles();

  it('has the pages the README and the index link to', () => {
    expect(pages.map((p) => relative(ROOT, p).split(sep).join('/'))).toEqual(
      expect.arrayContaining(['README.md', 'docs/README.md', 'docs/architecture.md']),
    );
  });

  it.each(pages.map((p) => [relative(ROOT, p).split(sep).join('/'), p]))(
    '%s: every relative link and named path resolves',
    (_name, page) => {
      expect(brokenLinks(page, ROOT, disk)).toEqual([]);
    },
  );
});
