/**
 * The page's model of a run: every node with its state, updated from run
 * events, and the boxes the graph shows. Ensemble members (`m[3]`) and loop
 * iterations (`relax#7/...`) collapse into one box per ensemble or loop,
 * with a count per state; expanding a box shows the next level, at most
 * `EXPANDED_LIMIT` boxes at a time, so the page never lays out thousands.
 */
import type { Uid } from '../src/identity/fingerprint.js';
import type { PublishedEvent } from '../src/server/events.js';
import type { ViewNode, ViewSnapshot, ViewState } from '../src/views/web/types.js';

/** Boxes an expanded group shows before the rest fold into a "more" box. */
export const EXPANDED_LIMIT = 200;

export type StateCounts = { [S in ViewState]: number };

export function zeroCounts(): StateCounts {
  return { committed: 0, running: 0, failed: 0, incomplete: 0, outdated: 0, 'not-started': 0 };
}

/** A node as the page holds it: the snapshot's fields, plus what events told. */
export type PageNode = ViewNode & { error?: string; skipped?: string };

export interface Box {
  /** A node's label, a group's pattern (`members[*]`, `relax#*`), or a group's "more" box. */
  key: string;
  kind: 'node' | 'group' | 'more';
  members: number[];
  counts: StateCounts;
  /** For a "more" box: the expanded group it belongs to. */
  parent?: string;
}

export interface BoxGraph {
  boxes: Box[];
  /** Pairs of box indices, upstream first, each once. */
  edges: [number, number][];
}

// An ensemble member `[3]` or a loop iteration `#3`, each a point where a label can collapse.
const MARKER = /\[\d+\]|#\d+/g;

/**
 * The box a label falls in: the pattern of its first collapse point whose
 * group is not expanded, or the label itself. An ensemble collapses to
 * `sim[*]`; a loop to `relax#*`, which expands into one box per iteration
 * (`relax#2/*`), which expands into that iteration's nodes. `under` is the
 * innermost expanded group the label sits in.
 */
export function boxKey(label: string, expanded: ReadonlySet<string>): { key: string; under?: string } {
  let under: string | undefined;
  const place = (key: string): { key: string; under?: string } => (under === undefined ? { key } : { key, under });
  for (const match of label.matchAll(MARKER)) {
    const at = match.index;
    const end = at + match[0].length;
    const group = `${label.slice(0, at)}${match[0].startsWith('#') ? '#*' : '[*]'}`;
    if (!expanded.has(group)) return place(group);
    under = group;
    if (match[0].startsWith('#') && label[end] === '/') {
      const iteration = `${label.slice(0, end)}/*`;
      if (!expanded.has(iteration)) return place(iteration);
      under = iteration;
    }
  }
  return place(label);
}

export class RunModel {
  nodes: PageNode[] = [];
  readonly byLabel = new Map<string, number>();
  readonly expanded = new Set<string>();
  /** How many boxes each expanded group shows. */
  readonly shown = new Map<string, number>();
  file: string | null = null;
  runStartedAt: number | undefined;
  runFinishedAt: number | undefined;
  /** Nodes done (committed or failed) since this page saw the run start, for the ETA. */
  doneInRun = 0;
  /** Set when the nodes themselves changed (new ones), so the graph must be laid out again. */
  structureVersion = 0;

  load(snapshot: ViewSnapshot): void {
    const previous = new Map(this.nodes.map((n) => [n.label, n]));
    this.file = snapshot.file;
    this.nodes = snapshot.nodes.map((node) => {
      const old = previous.get(node.label);
      // A failure is known only from events; keep it until the node is seen to run again.
      return old?.state === 'failed' && node.state !== 'committed' && node.state !== 'running'
        ? { ...node, state: 'failed', ...(old.error === undefined ? {} : { error: old.error }) }
        : node;
    });
    for (const [label, old] of previous) if (!snapshot.nodes.some((n) => n.label === label)) this.nodes.push(old);
    this.byLabel.clear();
    this.nodes.forEach((node, i) => this.byLabel.set(node.label, i));
    this.structureVersion++;
  }

  /** Apply one run event; returns the indices of the nodes it changed (-1 for a structural change). */
  apply(event: PublishedEvent): number[] {
    const time = Date.parse(event.time);
    switch (event.type) {
      case 'run-started':
        this.runStartedAt = time;
        this.runFinishedAt = undefined;
        this.doneInRun = 0;
        return [];
      case 'run-finished':
        this.runFinishedAt = time;
        return [];
      case 'node-started':
        return this.#set(event.label, event.uid, { state: 'running', startedAt: event.time }, event.operation);
      case 'node-reused':
        return this.#set(event.label, event.uid, { state: 'committed' });
      case 'node-committed': {
        this.doneInRun++;
        return this.#set(event.label, event.uid, {
          state: 'committed',
          committedAt: event.time,
          durationMs: event.durationMs,
          startedAt: new Date(time - event.durationMs).toISOString(),
        });
      }
      case 'node-failed':
        this.doneInRun++;
        return this.#set(event.label, event.uid, {
          state: 'failed',
          error: `${event.error.code}: ${event.error.message}`,
        });
      case 'node-skipped':
        return this.#set(event.label, event.uid, { skipped: `not run: upstream '${event.upstream}' failed` });
      case 'store-reset':
      case 'store-quarantined':
        return this.#set(event.label, event.uid, { state: 'incomplete' });
      default:
        return [];
    }
  }

  #set(label: string, uid: Uid, change: Partial<PageNode>, operation?: string): number[] {
    let index = this.byLabel.get(label);
    let added = false;
    if (index === undefined) {
      // A node the snapshot did not have: one a loop assembled while the run went on.
      index = this.nodes.length;
      this.nodes.push({ label, uid, operation: operation ?? '?', version: null, upstream: [], state: 'not-started' });
      this.byLabel.set(label, index);
      this.structureVersion++;
      added = true;
    }
    const node = this.nodes[index];
    if (node === undefined) return [];
    if (change.state !== undefined && change.state !== 'failed') delete node.error;
    Object.assign(node, change);
    return added ? [-1, index] : [index];
  }

  counts(): StateCounts & { total: number } {
    const counts = { ...zeroCounts(), total: this.nodes.length };
    for (const node of this.nodes) counts[node.state]++;
    return counts;
  }

  /** The boxes and edges to draw for the current expansion. */
  boxes(): BoxGraph {
    const boxes: Box[] = [];
    const byKey = new Map<string, number>();
    const perGroup = new Map<string, number>();
    const boxOf = new Int32Array(this.nodes.length);
    this.nodes.forEach((node, i) => {
      const place = boxKey(node.label, this.expanded);
      let key = place.key;
      let parent: string | undefined;
      if (place.under !== undefined && !byKey.has(key)) {
        const count = perGroup.get(place.under) ?? 0;
        if (count >= (this.shown.get(place.under) ?? EXPANDED_LIMIT)) {
          parent = place.under;
          key = `${place.under} …more`;
        } else {
          perGroup.set(place.under, count + 1);
        }
      }
      let at = byKey.get(key);
      if (at === undefined) {
        at = boxes.length;
        byKey.set(key, at);
        boxes.push({
          key,
          kind: parent !== undefined ? 'more' : key === node.label ? 'node' : 'group',
          members: [],
          counts: zeroCounts(),
          ...(parent === undefined ? {} : { parent }),
        });
      }
      const box = boxes[at];
      if (box !== undefined) {
        box.members.push(i);
        box.counts[node.state]++;
      }
      boxOf[i] = at;
    });
    const seen = new Set<number>();
    const edges: [number, number][] = [];
    this.nodes.forEach((node, i) => {
      const to = boxOf[i] ?? 0;
      for (const u of node.upstream) {
        const from = boxOf[u];
        if (from === undefined || from === to) continue;
        const id = from * boxes.length + to;
        if (seen.has(id)) continue;
        seen.add(id);
        edges.push([from, to]);
      }
    });
    return { boxes, edges };
  }

  /** The state a box is drawn in: a group takes its most pressing member state. */
  static boxState(box: Box): ViewState {
    for (const state of ['failed', 'running', 'incomplete', 'outdated', 'not-started'] as const)
      if (box.counts[state] > 0) return state;
    return 'committed';
  }
}
