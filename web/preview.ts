/**
 * Previews of an artifact's first chunk: a table of values, a line plot of a
 * 1-D array, an image of a 2-D array (both on a canvas), or the text of a
 * file (a subprocess's stdout and stderr). Never more than the chunk.
 */
import { formatBytes, h } from './dom.js';
import type { Preview, PreviewResult } from './source.js';

const ITEM: { [dtype: string]: number } = { int64: 8, float64: 8, float32: 4, int32: 4, uint8: 1, bool: 1 };

/** The chunk's elements as numbers, in C order. */
export function decode(preview: Preview): number[] {
  const size = ITEM[preview.dtype ?? ''];
  if (size === undefined) return [];
  const view = new DataView(preview.bytes.buffer, preview.bytes.byteOffset, preview.bytes.byteLength);
  const little = preview.littleEndian !== false;
  const values: number[] = [];
  for (let at = 0; at + size <= view.byteLength; at += size) {
    switch (preview.dtype) {
      case 'int64':
        values.push(Number(view.getBigInt64(at, little)));
        break;
      case 'float64':
        values.push(view.getFloat64(at, little));
        break;
      case 'float32':
        values.push(view.getFloat32(at, little));
        break;
      case 'int32':
        values.push(view.getInt32(at, little));
        break;
      default:
        values.push(view.getUint8(at));
    }
  }
  return values;
}

function formatValue(v: number, dtype: string | undefined): string {
  if (dtype === 'bool') return v === 0 ? 'false' : 'true';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toPrecision(6);
}

/** A table of at most `rows` x `cols` values. */
function table(values: number[], shape: number[], dtype: string | undefined): HTMLTableElement {
  const cols = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const rowCount = shape.length === 0 ? 1 : (shape[0] ?? 1);
  const showRows = Math.min(rowCount, 12);
  const showCols = Math.min(cols, 10);
  const head = h('tr', {}, h('th', {}, shape.length >= 2 ? 'row' : 'index'));
  if (shape.length >= 2) for (let c = 0; c < showCols; c++) head.append(h('th', {}, String(c)));
  else head.append(h('th', {}, 'value'));
  const body: HTMLTableRowElement[] = [];
  for (let r = 0; r < showRows; r++) {
    const tr = h('tr', {}, h('th', {}, String(r)));
    for (let c = 0; c < showCols; c++) tr.append(h('td', {}, formatValue(values[r * cols + c] ?? NaN, dtype)));
    if (showCols < cols) tr.append(h('td', {}, '…'));
    body.push(tr);
  }
  return h('table', { class: 'values' }, h('thead', {}, head), h('tbody', {}, ...body));
}

function finite(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi === lo ? lo + 1 : hi] : [0, 1];
}

/** A line plot of a 1-D array. */
function plot(values: number[], offset: number): HTMLCanvasElement {
  const width = 360;
  const height = 160;
  const canvas = h('canvas', { class: 'plot', width: String(width), height: String(height), 'data-preview': 'plot' });
  const ctx = canvas.getContext('2d');
  if (ctx === null) return canvas;
  const [lo, hi] = finite(values);
  const pad = 28;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(pad, 6, width - pad - 6, height - pad - 6);
  ctx.fillStyle = '#555';
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillText(formatValue(hi, 'float64'), 2, 12);
  ctx.fillText(formatValue(lo, 'float64'), 2, height - pad);
  ctx.fillText(String(offset), pad, height - 8);
  ctx.fillText(String(offset + values.length - 1), width - 40, height - 8);
  ctx.strokeStyle = '#2563eb';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = pad + (i / Math.max(1, values.length - 1)) * (width - pad - 6);
    const y = 6 + (1 - (v - lo) / (hi - lo)) * (height - pad - 6);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
  return canvas;
}

const STOPS: [number, number, number][] = [
  [68, 1, 84],
  [33, 145, 140],
  [253, 231, 37],
];

function ramp(t: number): [number, number, number] {
  const at = t * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(at));
  const f = at - i;
  const a = STOPS[i] ?? [0, 0, 0];
  const b = STOPS[i + 1] ?? a;
  return [0, 1, 2].map((k) => Math.round((a[k] ?? 0) + f * ((b[k] ?? 0) - (a[k] ?? 0)))) as [number, number, number];
}

/** An image of a 2-D array, one pixel per element, scaled up, dark to light from the smallest to the largest value. */
function image(values: number[], rows: number, cols: number): HTMLCanvasElement {
  const canvas = h('canvas', { class: 'image', width: String(cols), height: String(rows), 'data-preview': 'image' });
  const scale = Math.max(1, Math.floor(Math.min(320 / cols, 240 / rows)));
  canvas.style.width = `${cols * scale}px`;
  canvas.style.height = `${rows * scale}px`;
  const ctx = canvas.getContext('2d');
  if (ctx === null) return canvas;
  const [lo, hi] = finite(values);
  const pixels = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    const t = Math.max(0, Math.min(1, ((values[i] ?? lo) - lo) / (hi - lo)));
    // Purple through teal to yellow (viridis' ends and middle): ordered in lightness, readable for most colour vision.
    const [r, g, b] = ramp(t);
    pixels.data[i * 4] = r;
    pixels.data[i * 4 + 1] = g;
    pixels.data[i * 4 + 2] = b;
    pixels.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas;
}

function text(bytes: Uint8Array, total: number, kind: string): HTMLElement {
  let shown = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (kind === 'json' && bytes.length === total) {
    try {
      shown = JSON.stringify(JSON.parse(shown), null, 2);
    } catch {
      // Shown as it is.
    }
  }
  return h('pre', { class: 'text', 'data-preview': 'text' }, shown === '' ? '(empty)' : shown);
}

/** The preview of one artifact, with a line saying how much of it is shown. */
export function renderPreview(result: PreviewResult): HTMLElement {
  const info = result.info;
  const describe = [
    info.kind,
    info.dtype,
    info.shape === undefined ? undefined : `[${info.shape.join(', ')}]`,
    formatBytes(info.size),
  ]
    .filter((p) => p !== undefined)
    .join(' ');
  const head = h('div', { class: 'artifact-head' }, h('b', {}, info.output), ` ${describe}`);
  if ('note' in result) return h('div', { class: 'artifact' }, head, h('p', { class: 'note' }, result.note));
  if (result.dtype === undefined) {
    const part =
      result.bytes.length < info.size
        ? ` (first ${formatBytes(result.bytes.length)} of ${formatBytes(info.size)})`
        : '';
    return h(
      'div',
      { class: 'artifact' },
      head,
      text(result.bytes, info.size, info.kind),
      part && h('p', { class: 'note' }, part),
    );
  }
  const values = decode(result);
  const shape = result.shape ?? [];
  const [first, end] = result.rows ?? [0, 0];
  const totalRows = info.shape?.[0] ?? 1;
  const parts: HTMLElement[] = [];
  if (shape.length === 1 && values.length > 1) parts.push(plot(values, first));
  if (shape.length === 2 && (shape[0] ?? 0) > 1 && (shape[1] ?? 0) > 1)
    parts.push(image(values, shape[0] ?? 1, shape[1] ?? 1));
  parts.push(table(values, shape, result.dtype));
  const note =
    shape.length > 0 && end - first < totalRows ? `rows ${first} to ${end - 1} of ${totalRows} (the first chunk)` : '';
  return h(
    'div',
    { class: 'artifact', 'data-output': info.output },
    head,
    ...parts,
    note && h('p', { class: 'note' }, note),
  );
}
