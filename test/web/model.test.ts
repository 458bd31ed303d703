/**
 * How the page groups nodes into boxes: ensemble members and loop
 * iterations collapse into one box per group, expand one level at a time,
 * and an expanded group shows at most EXPANDED_LIMIT boxes plus one for the
 * rest. Pure code, no browser.
 */
import { describe, expect, it } from 'vitest';
import { boxKey, EXPANDED_LIMIT, RunModel } from '../../web/model.js';
import type { ViewNode } from '../../src/views/web/types.js';

function node(label: string, state: ViewNode['state'] = 'not-started', upstream: number[] = []): ViewNode {
  return { label, uid: `${'0'.repeat(63)}1` as ViewNode['uid'], operation: 'x.y', version: null, upstream, state };
}

describe('boxKey', () => {
  it('collapses at the first collapse point not expanded', () => {
    const none = new Set<string>();
    expect(boxKey('total', none)).toEqual({ key: 'total' });
    expect(boxKey('sim[12]', none)).toEqual({ key: 'sim[*]' });
    expect(boxKey('relax#3/members[2]', none)).toEqual({ key: 'relax#*' });
    const loop = new Set(['relax#*']);
    expect(boxKey('relax#3/members[2]', loop)).toEqual({ key: 'relax#3/*', under: 'relax#*' });
    expect(boxKey('relax#3/largest', loop)).toEqual({ key: 'relax#3/*', under: 'relax#*' });
    const iteration = new Set(['relax#*', 'relax#3/*']);
    expect(boxKey('relax#3/members[2]', iteration)).toEqual({ key: 'relax#3/members[*]', under: 'relax#3/*' });
    expect(boxKey('relax#3/largest', iteration)).toEqual({ key: 'relax#3/largest', under: 'relax#3/*' });
    expect(boxKey('relax#4/largest', iteration)).toEqual({ key: 'relax#4/*', under: 'relax#*' });
    const all = new Set(['relax#*', 'relax#3/*', 'relax#3/members[*]']);
    expect(boxKey('relax#3/members[2]', all)).toEqual({ key: 'relax#3/members[2]', under: 'relax#3/members[*]' });
  });
});

describe('RunModel.boxes', () => {
  const snapshot = {
    file: null,
    generatedAt: new Date(0).toISOString(),
    nodes: [
      node('seed', 'committed'),
      ...Array.from({ length: 450 }, (_, i) => node(`sim[${i}]`, i < 100 ? 'committed' : 'not-started', [0])),
      node('total', 'not-started', [1, 2]),
    ],
  };

  it('draws a collapsed ensemble as one box with a count per state, and edges between boxes once', () => {
    const model = new RunModel();
    model.load(snapshot);
    const { boxes, edges } = model.boxes();
    expect(boxes.map((b) => [b.key, b.kind, b.members.length])).toEqual([
      ['seed', 'node', 1],
      ['sim[*]', 'group', 450],
      ['total', 'node', 1],
    ]);
    expect(boxes[1]?.counts).toMatchObject({ committed: 100, 'not-started': 350 });
    expect(edges).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });

  it('shows an expanded group a page at a time', () => {
    const model = new RunModel();
    model.load(snapshot);
    model.expanded.add('sim[*]');
    const first = model.boxes().boxes;
    expect(first).toHaveLength(1 + EXPANDED_LIMIT + 1 + 1);
    expect(first.find((b) => b.kind === 'more')?.members).toHaveLength(450 - EXPANDED_LIMIT);
    model.shown.set('sim[*]', 2 * EXPANDED_LIMIT);
    expect(model.boxes().boxes.find((b) => b.kind === 'more')?.members).toHaveLength(450 - 2 * EXPANDED_LIMIT);
  });

  it('follows events: a node started, failed, and one a loop added', () => {
    const model = new RunModel();
    model.load(snapshot);
    const time = new Date(1000).toISOString();
    const uid = node('any').uid;
    expect(model.apply({ id: 1, time, type: 'node-started', label: 'sim[1]', uid, operation: 'x.y' })).toEqual([2]);
    expect(model.nodes[2]).toMatchObject({ state: 'running', startedAt: time });
    model.apply({
      id: 2,
      time,
      type: 'node-failed',
      label: 'sim[1]',
      uid,
      error: { code: 'E_NODE_FAILED', message: 'no' },
    });
    expect(model.nodes[2]).toMatchObject({ state: 'failed', error: 'E_NODE_FAILED: no' });
    const before = model.nodes.length;
    expect(model.apply({ id: 3, time, type: 'node-started', label: 'loop#0/step', uid, operation: 'x.y' })).toEqual([
      -1,
      before,
    ]);
    expect(model.counts()).toMatchObject({ total: before + 1, failed: 1, running: 1 });
  });
});
