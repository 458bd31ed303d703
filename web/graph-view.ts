/**
 * The graph, left to right: dagre lays out the boxes of the model (nodes,
 * and collapsed groups with their counts), and SVG draws them, all edges as
 * one path. A state change recolours boxes in place; only new nodes or an
 * expansion lay the graph out again. Drag pans, the wheel zooms.
 */
import { Graph, layout } from '@dagrejs/dagre';
import { svg } from './dom.js';
import { RunModel, type Box, type BoxGraph } from './model.js';
import { VIEW_STATES } from '../src/views/web/types.js';

const NODE_W = 170;
const NODE_H = 34;
const GROUP_H = 48;
/** Fitting never zooms out past this: labels stay legible, and the rest is a drag away. */
const MIN_FIT_SCALE = 0.6;

interface Drawn {
  box: Box;
  rect: SVGRectElement;
  counts?: SVGTextElement;
  bar?: SVGGElement;
  x: number;
  y: number;
  w: number;
}

function short(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

export class GraphView {
  readonly element: SVGSVGElement;
  readonly #model: RunModel;
  readonly #onNode: (index: number) => void;
  readonly #onChange: () => void;
  #graph: BoxGraph = { boxes: [], edges: [] };
  #drawn: Drawn[] = [];
  #byNode = new Int32Array(0);
  #view = { x: 0, y: 0, scale: 1 };
  #size = { width: 1, height: 1 };
  /** Milliseconds the last layout took (shown in the page, read by the browser test). */
  lastLayoutMs = 0;

  constructor(model: RunModel, onNode: (index: number) => void, onChange: () => void) {
    this.#model = model;
    this.#onNode = onNode;
    this.#onChange = onChange;
    this.element = svg('svg', { class: 'graph', role: 'img', 'aria-label': 'workflow graph' });
    this.#panAndZoom();
  }

  /** Lay the boxes out again and redraw everything. */
  relayout(): void {
    const started = performance.now();
    this.#graph = this.#model.boxes();
    const g = new Graph();
    g.setGraph({ rankdir: 'LR', nodesep: 12, ranksep: 50, marginx: 20, marginy: 20 });
    g.setDefaultEdgeLabel(() => ({}));
    this.#graph.boxes.forEach((box, i) =>
      g.setNode(String(i), { width: NODE_W, height: box.kind === 'node' ? NODE_H : GROUP_H }),
    );
    for (const [from, to] of this.#graph.edges) g.setEdge(String(from), String(to));
    layout(g);
    const size = g.graph();
    this.#size = { width: Math.max(1, size.width ?? 1), height: Math.max(1, size.height ?? 1) };
    this.#draw(g);
    this.lastLayoutMs = performance.now() - started;
    this.fit();
  }

  #draw(g: Graph): void {
    const layer = svg('g', { class: 'layer' });
    const path: string[] = [];
    for (const edge of g.edges()) {
      const points = g.edge(edge).points ?? [];
      if (points.length === 0) continue;
      path.push(`M${points.map((p: { x: number; y: number }) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('L')}`);
    }
    layer.append(svg('path', { class: 'edges', d: path.join(' ') }));
    this.#drawn = [];
    this.#byNode = new Int32Array(this.#model.nodes.length).fill(-1);
    this.#graph.boxes.forEach((box, i) => {
      const place = g.node(String(i));
      const h = box.kind === 'node' ? NODE_H : GROUP_H;
      const x = place.x - NODE_W / 2;
      const y = place.y - h / 2;
      const item = svg('g', {
        class: `box ${box.kind}`,
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
        'data-box': box.key,
        tabindex: '0',
      });
      const rect = svg('rect', { width: NODE_W, height: h, rx: 5 });
      const title = svg('title');
      title.textContent = box.kind === 'node' ? box.key : `${box.key}: ${box.members.length} nodes (click to expand)`;
      const name = svg('text', { x: 8, y: 15, class: 'name' });
      name.textContent = short(box.kind === 'more' ? `${box.members.length} more` : box.key, 22);
      item.append(rect, title, name);
      const drawn: Drawn = { box, rect, x, y, w: NODE_W };
      if (box.kind === 'node') {
        const op = svg('text', { x: 8, y: 28, class: 'sub' });
        op.textContent = short(this.#model.nodes[box.members[0] ?? 0]?.operation ?? '', 26);
        item.append(op);
      } else {
        drawn.counts = svg('text', { x: 8, y: 29, class: 'sub' });
        drawn.bar = svg('g', { transform: `translate(8,35)` });
        item.append(drawn.counts, drawn.bar);
      }
      item.addEventListener('click', () => this.#clicked(box));
      item.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') this.#clicked(box);
      });
      layer.append(item);
      this.#drawn.push(drawn);
      for (const m of box.members) this.#byNode[m] = i;
    });
    this.element.replaceChildren(layer);
    this.#drawn.forEach((d) => this.#paint(d));
  }

  #clicked(box: Box): void {
    if (box.kind === 'node') {
      this.#onNode(box.members[0] ?? 0);
      return;
    }
    if (box.kind === 'more' && box.parent !== undefined) {
      const model = this.#model;
      model.shown.set(box.parent, (model.shown.get(box.parent) ?? 200) + 200);
    } else {
      this.#model.expanded.add(box.key);
    }
    this.relayout();
    this.#onChange();
  }

  /** Collapse an expanded group again, and every group expanded inside it. */
  collapse(key: string): void {
    // `sim[*]` covers `sim[3]...`, `relax#*` covers `relax#2...`, `relax#2/*` covers `relax#2/...`.
    const stem = key.endsWith('[*]') ? key.slice(0, -2) : key.slice(0, -1);
    for (const k of [...this.#model.expanded]) {
      if (k === key || k.startsWith(stem)) {
        this.#model.expanded.delete(k);
        this.#model.shown.delete(k);
      }
    }
    this.relayout();
  }

  /** Recolour the boxes of these nodes (after events). */
  update(indices: readonly number[]): void {
    const boxes = new Set<number>();
    for (const i of indices) {
      const b = this.#byNode[i];
      if (b !== undefined && b >= 0) boxes.add(b);
    }
    for (const b of boxes) {
      const drawn = this.#drawn[b];
      if (drawn === undefined) continue;
      const counts = drawn.box.counts;
      for (const k of VIEW_STATES) counts[k] = 0;
      for (const m of drawn.box.members) {
        const node = this.#model.nodes[m];
        if (node !== undefined) counts[node.state]++;
      }
      this.#paint(drawn);
    }
  }

  #paint(drawn: Drawn): void {
    const state = RunModel.boxState(drawn.box);
    drawn.rect.setAttribute('class', `state-${state}`);
    drawn.rect.parentElement?.setAttribute('data-state', state);
    if (drawn.counts === undefined || drawn.bar === undefined) return;
    const counts = drawn.box.counts;
    const total = drawn.box.members.length;
    drawn.counts.textContent = `${total} · ${VIEW_STATES.filter((s) => counts[s] > 0)
      .map((s) => `${counts[s]} ${s}`)
      .join(', ')}`;
    const width = NODE_W - 16;
    let x = 0;
    const parts: SVGRectElement[] = [];
    for (const s of VIEW_STATES) {
      if (counts[s] === 0) continue;
      const w = (counts[s] / Math.max(1, total)) * width;
      parts.push(svg('rect', { x: x.toFixed(2), y: 0, width: w.toFixed(2), height: 6, class: `state-${s}` }));
      x += w;
    }
    drawn.bar.replaceChildren(...parts);
  }

  /** Show the whole graph, or as much of it as stays readable (from its top), in the element. */
  fit(): void {
    const box = this.element.getBoundingClientRect();
    const whole = Math.min(1.2, box.width / this.#size.width, box.height / this.#size.height) || 1;
    const scale = Math.max(MIN_FIT_SCALE, whole);
    this.#view = {
      scale,
      x: Math.max(0, (box.width - this.#size.width * scale) / 2),
      y: Math.max(0, (box.height - this.#size.height * scale) / 2),
    };
    this.#apply();
  }

  #apply(): void {
    const layer = this.element.firstElementChild;
    const { x, y, scale } = this.#view;
    layer?.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${scale.toFixed(4)})`);
  }

  #panAndZoom(): void {
    let dragging: { x: number; y: number } | undefined;
    this.element.addEventListener('pointerdown', (e) => {
      if ((e.target as Element).closest('.box') !== null) return;
      dragging = { x: e.clientX - this.#view.x, y: e.clientY - this.#view.y };
    });
    window.addEventListener('pointermove', (e) => {
      if (dragging === undefined) return;
      this.#view.x = e.clientX - dragging.x;
      this.#view.y = e.clientY - dragging.y;
      this.#apply();
    });
    window.addEventListener('pointerup', () => (dragging = undefined));
    this.element.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const rect = this.element.getBoundingClientRect();
        const px = e.clientX - rect.left;
        const py = e.clientY - rect.top;
        const factor = Math.exp(-e.deltaY / 500);
        const scale = Math.min(4, Math.max(0.02, this.#view.scale * factor));
        const k = scale / this.#view.scale;
        this.#view = { scale, x: px - (px - this.#view.x) * k, y: py - (py - this.#view.y) * k };
        this.#apply();
      },
      { passive: false },
    );
  }
}
