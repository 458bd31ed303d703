/**
 * The layout of src/ is part of the design: each folder is one concept, and
 * the folders form layers, so no import (type-only ones included) may close
 * a cycle, between folders or between files. These tests read the sources
 * and fail naming the cycle.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [relative(SRC, path).split('\\').join('/')] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*'(\.{1,2}\/[^']+)'/g;

/** Each source file's relative imports, as paths under src/ ending in .ts. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(join(SRC, file), 'utf8');
    const targets = [...text.matchAll(IMPORT)].map((m) =>
      posix.normalize(posix.join(posix.dirname(file), (m[1] as string).replace(/\.js$/, '.ts'))),
    );
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** The first cycle found in a directed graph, as the list of its vertices, or undefined. */
export function findCycle(edges: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (v: string): string[] | undefined => {
    state.set(v, 'open');
    path.push(v);
    for (const w of edges.get(v) ?? []) {
      if (state.get(w) === 'open') return [...path.slice(path.indexOf(w)), w];
      if (state.get(w) === undefined) {
        const found = visit(w);
        if (found !== undefined) return found;
      }
    }
    path.pop();
    state.set(v, 'done');
    return undefined;
  };
  for (const v of [...edges.keys()].sort()) {
    if (state.get(v) !== undefined) continue;
    const found = visit(v);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The folder of a file under src/: its first path segment, or the file itself at the top. */
function folderOf(file: string): string {
  return file.includes('/') ? (file.split('/')[0] as string) : file;
}

describe('the source tree', () => {
  const graph = importGraph();

  it('resolves every relative import to a source file', () => {
    const missing = [...graph].flatMap(([file, targets]) =>
      targets.filter((t) => !graph.has(t) && !t.endsWith('.json')).map((t) => `${file} -> ${t}`),
    );
    expect(missing).toEqual([]);
  });

  it('has no import cycle between folders', () => {
    const folders = new Map<string, Set<string>>();
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      const set = folders.get(from) ?? new Set<string>();
      for (const t of targets) if (folderOf(t) !== from) set.add(folderOf(t));
      folders.set(from, set);
    }
    const cycle = findCycle(new Map([...folders].map(([k, v]) => [k, [...v].sort()])));
    const witness = cycle?.slice(1).map((to, i) => {
      const from = cycle[i] as string;
      const file = [...graph].find(([f, ts]) => folderOf(f) === from && ts.some((t) => folderOf(t) === to));
      return `${from} -> ${to} (${file?.[0] ?? '?'})`;
    });
    expect(witness).toBeUndefined();
  });

  it('has no import cycle between files', () => {
    expect(findCycle(graph)).toBeUndefined();
  });

  it('keeps only the entry points at the top of src/', () => {
    expect(
      sourceFiles(SRC)
        .filter((f) => !f.includes('/'))
        .sort(),
    ).toEqual(['errors.ts', 'index.ts']);
  });
});

describe('findCycle', () => {
  it('finds a cycle and names its vertices in order', () => {
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual(['a', 'b', 'c', 'a']);
  });

  it('accepts a diamond', () => {
    expect(
      findCycle(
        new Map([
          ['a', ['b', 'c']],
          ['b', ['d']],
          ['c', ['d']],
          ['d', []],
        ]),
      ),
    ).toBeUndefined();
  });
});
