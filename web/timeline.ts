/**
 * The timeline: one bar per node that ran, in order of start, from its
 * start for its duration (a running one up to now), with its label and
 * where it ran. Drawn on a canvas, rows past `MAX_ROWS` left out (and said).
 */
import type { PageNode } from './model.js';
import { formatDuration } from './dom.js';

const ROW = 16;
const MAX_ROWS = 2000;
const LABEL_W = 220;

const COLORS: { [state: string]: string } = {};

function stateColor(state: string): string {
  if (COLORS[state] === undefined)
    COLORS[state] = getComputedStyle(document.documentElement).getPropertyValue(`--${state}`).trim() || '#888';
  return COLORS[state] ?? '#888';
}

export class Timeline {
  readonly element: HTMLDivElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #note: HTMLParagraphElement;

  constructor() {
    this.element = document.createElement('div');
    this.element.className = 'timeline';
    this.#note = document.createElement('p');
    this.#note.className = 'note';
    this.#canvas = document.createElement('canvas');
    this.element.append(this.#note, this.#canvas);
  }

  draw(nodes: readonly PageNode[], now: number): void {
    const bars = nodes
      .filter((n) => n.startedAt !== undefined)
      .map((n) => {
        const start = Date.parse(n.startedAt ?? '');
        const end = n.durationMs !== undefined ? start + n.durationMs : n.state === 'running' ? now : start;
        return { node: n, start, end };
      })
      .sort((a, b) => a.start - b.start);
    const shown = bars.slice(0, MAX_ROWS);
    this.#note.textContent =
      bars.length === 0
        ? 'No node has started yet.'
        : `${bars.length} nodes ran or run${bars.length > MAX_ROWS ? `; the first ${MAX_ROWS} by start are drawn` : ''}.`;
    const width = Math.max(400, this.element.clientWidth - 4);
    const height = Math.max(1, shown.length) * ROW + 24;
    const ratio = window.devicePixelRatio || 1;
    this.#canvas.width = width * ratio;
    this.#canvas.height = height * ratio;
    this.#canvas.style.width = `${width}px`;
    this.#canvas.style.height = `${height}px`;
    const ctx = this.#canvas.getContext('2d');
    if (ctx === null || shown.length === 0) return;
    ctx.scale(ratio, ratio);
    const t0 = Math.min(...shown.map((b) => b.start));
    const t1 = Math.max(t0 + 1, ...shown.map((b) => b.end));
    const span = t1 - t0;
    const plot = width - LABEL_W - 8;
    const x = (t: number): number => LABEL_W + ((t - t0) / span) * plot;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#666';
    ctx.textBaseline = 'middle';
    for (let k = 0; k <= 4; k++) {
      const t = t0 + (span * k) / 4;
      ctx.fillText(`+${formatDuration(t - t0)}`, Math.min(x(t), width - 60), 10);
      ctx.fillRect(x(t), 18, 1, height - 18);
    }
    shown.forEach((bar, row) => {
      const y = 22 + row * ROW;
      ctx.fillStyle = '#222';
      const where = bar.node.host === undefined ? '' : ` @${bar.node.host}`;
      ctx.fillText(`${bar.node.label}${where}`.slice(0, 36), 4, y + ROW / 2 - 1);
      ctx.fillStyle = stateColor(bar.node.state);
      const left = x(bar.start);
      ctx.fillRect(left, y + 2, Math.max(2, x(bar.end) - left), ROW - 5);
    });
  }
}
