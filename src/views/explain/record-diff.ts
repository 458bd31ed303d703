/**
 * Field-by-field difference between two node records, in terms a user
 * recognises: an input changed, a file's content changed, the operation
 * version changed, or an upstream uid changed, in which case the difference
 * is traced upstream to the node whose change caused it.
 */
import { canonicalJson, type JsonValue } from '../../identity/canonical-json.js';
import { assertNever } from '../../errors.js';
import { isUid, shortUid, type NodeRecord, type Uid } from '../../identity/fingerprint.js';
import { withListsRead } from '../../identity/number-list.js';
import type { StoreMetadata } from '../../store/metadata.js';
import type { GraphNode } from '../../workflow/graph.js';
import { hasRecord } from './prior-versions.js';

/** Why an upstream uid changed: the upstream node's record against its earlier store's record. */
export type UpstreamCause =
  | { kind: 'differences'; store: Uid; differences: RecordDifference[]; omitted: number }
  | { kind: 'earlier-store-missing'; store: Uid }
  | { kind: 'not-traced' };

/** One way a node's record differs from an existing store's record. */
export type RecordDifference =
  | { kind: 'operation-version'; operation: string; from: string | null; to: string | null }
  | { kind: 'operation'; from: string; to: string }
  | { kind: 'input-changed'; field: string; from: JsonValue; to: JsonValue }
  | { kind: 'input-added'; field: string; value: JsonValue }
  | { kind: 'input-removed'; field: string; value: JsonValue }
  | { kind: 'file-changed'; field: string; from: JsonValue; to: JsonValue }
  | {
      kind: 'upstream-changed';
      field: string;
      from: string;
      to: string;
      upstreamLabel: string | undefined;
      because: UpstreamCause;
    }
  | { kind: 'depends-changed'; added: Uid[]; removed: Uid[] };

/** What tracing upstream needs: the graph's nodes by uid, and the stores of the working directory. */
export interface DiffContext {
  readonly nodesByUid: ReadonlyMap<Uid, GraphNode>;
  readonly stores: ReadonlyMap<Uid, StoreMetadata | undefined>;
}

/** Differences listed per record; the rest are counted. */
const MAX_DIFFERENCES = 20;
/** How far upstream a change is traced. */
const MAX_DEPTH = 16;

function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function specialKind(value: JsonValue | undefined): 'ref' | 'file' | undefined {
  if (!isObject(value) || Object.keys(value).length !== 1) return undefined;
  if (typeof value['$ref'] === 'string') return 'ref';
  if ('$file' in value || '$npy' in value) return 'file';
  return undefined;
}

function splitRef(ref: string): { uid: string; output: string } {
  const dot = ref.indexOf('.');
  return dot < 0 ? { uid: ref, output: '' } : { uid: ref.slice(0, dot), output: ref.slice(dot + 1) };
}

/**
 * The differences of `current` (a node of the graph) from `earlier` (an
 * existing store's record), at most MAX_DIFFERENCES of them; `omitted`
 * counts the rest. Upstream uid changes are traced through `context`,
 * unless `trace` is false (cheap enough to compare many candidates).
 */
export function diffRecords(
  given: NodeRecord,
  earlier: NodeRecord,
  context: DiffContext,
  depth = 0,
  trace = true,
): { differences: RecordDifference[]; omitted: number } {
  // A literal list kept as text is compared element by element, as the stored record's list is read.
  const current = withListsRead(given) as NodeRecord;
  const differences: RecordDifference[] = [];
  let omitted = 0;
  const push = (difference: RecordDifference): void => {
    if (differences.length < MAX_DIFFERENCES) differences.push(difference);
    else omitted++;
  };
  const [ns, name, version] = current.operation;
  const [ens, ename, eversion] = earlier.operation;
  if (ns !== ens || name !== ename)
    push({ kind: 'operation', from: earlier.operation.join('.'), to: current.operation.join('.') });
  else if (version !== eversion)
    push({
      kind: 'operation-version',
      operation: `${ns ?? ''}.${name ?? ''}`,
      from: eversion ?? null,
      to: version ?? null,
    });

  const explainedUids = new Set<string>();
  const visit = (now: JsonValue | undefined, before: JsonValue | undefined, field: string): void => {
    if (same(now, before)) return;
    if (now === undefined) return push({ kind: 'input-removed', field, value: before as JsonValue });
    if (before === undefined) return push({ kind: 'input-added', field, value: now });
    const kindNow = specialKind(now);
    const kindBefore = specialKind(before);
    if (kindNow === 'ref' && kindBefore === 'ref') {
      const to = splitRef((now as { $ref: string }).$ref);
      const from = splitRef((before as { $ref: string }).$ref);
      explainedUids.add(to.uid).add(from.uid);
      const upstream = isUid(to.uid) ? context.nodesByUid.get(to.uid) : undefined;
      const because =
        to.uid === from.uid || !trace
          ? ({ kind: 'not-traced' } as const)
          : traceUpstream(upstream, from.uid, context, depth);
      return push({
        kind: 'upstream-changed',
        field,
        from: (before as { $ref: string }).$ref,
        to: (now as { $ref: string }).$ref,
        upstreamLabel: upstream?.label,
        because,
      });
    }
    if (kindNow === 'file' && kindBefore === 'file')
      return push({ kind: 'file-changed', field, from: before, to: now });
    if (kindNow === undefined && kindBefore === undefined && isObject(now) && isObject(before)) {
      const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])].sort();
      for (const key of keys) visit(now[key], before[key], `${field}.${key}`);
      return;
    }
    if (Array.isArray(now) && Array.isArray(before) && now.length === before.length) {
      now.forEach((item, i) => visit(item, before[i], `${field}[${i}]`));
      return;
    }
    push({ kind: 'input-changed', field, from: before, to: now });
  };
  const fields = [...new Set([...Object.keys(earlier.input), ...Object.keys(current.input)])].sort();
  for (const field of fields) visit(current.input[field], earlier.input[field], `input.${field}`);

  const added = current.depends.filter((uid) => !earlier.depends.includes(uid) && !explainedUids.has(uid));
  const removed = earlier.depends.filter((uid) => !current.depends.includes(uid) && !explainedUids.has(uid));
  if (added.length > 0 || removed.length > 0) push({ kind: 'depends-changed', added, removed });
  return { differences, omitted };
}

function traceUpstream(
  upstream: GraphNode | undefined,
  earlierUid: string,
  context: DiffContext,
  depth: number,
): UpstreamCause {
  if (upstream === undefined || depth >= MAX_DEPTH || !isUid(earlierUid)) return { kind: 'not-traced' };
  const earlier = context.stores.get(earlierUid);
  if (!hasRecord(earlier)) return { kind: 'earlier-store-missing', store: earlierUid };
  const { differences, omitted } = diffRecords(upstream.record, earlier.record, context, depth + 1);
  return { kind: 'differences', store: earlierUid, differences, omitted };
}

/** A JSON value in at most `max` characters. */
export function shortJson(value: JsonValue, max = 60): string {
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function shortRef(ref: string): string {
  const { uid, output } = splitRef(ref);
  return isUid(uid) ? `${shortUid(uid)}${output === '' ? '' : `.${output}`}` : ref;
}

function describeFile(value: JsonValue): string {
  if (!isObject(value)) return shortJson(value);
  const digest = (value['$npy'] ?? value['$file']) as { sha256?: unknown } | undefined;
  const kind = '$npy' in value ? 'array data' : 'content';
  return typeof digest?.sha256 === 'string' ? `${kind} sha256 ${digest.sha256.slice(0, 12)}` : shortJson(value);
}

/** Plain-words lines for a list of differences, nested causes indented. */
export function describeDifferences(
  differences: readonly RecordDifference[],
  omitted: number,
  indent = '',
  shown: Set<string> = new Set(),
): string[] {
  const lines: string[] = [];
  for (const d of differences) {
    switch (d.kind) {
      case 'operation-version':
        lines.push(
          `${indent}- operation version changed: ${d.operation} ${d.from ?? '(unversioned)'} -> ${d.to ?? '(unversioned)'}`,
        );
        break;
      case 'operation':
        lines.push(`${indent}- operation changed: ${d.from} -> ${d.to}`);
        break;
      case 'input-changed':
        lines.push(`${indent}- ${d.field} changed: ${shortJson(d.from)} -> ${shortJson(d.to)}`);
        break;
      case 'input-added':
        lines.push(`${indent}- ${d.field} added: ${shortJson(d.value)}`);
        break;
      case 'input-removed':
        lines.push(`${indent}- ${d.field} removed (was ${shortJson(d.value)})`);
        break;
      case 'file-changed':
        lines.push(`${indent}- ${d.field}: the file changed (${describeFile(d.from)} -> ${describeFile(d.to)})`);
        break;
      case 'upstream-changed': {
        const who = d.upstreamLabel === undefined ? 'its upstream node' : `'${d.upstreamLabel}'`;
        const head = `${indent}- ${d.field}: upstream uid changed (${shortRef(d.from)} -> ${shortRef(d.to)})`;
        // An upstream change feeding several fields is traced once; later mentions point back to it.
        const traced = `${d.from}>${d.to}`;
        if (d.because.kind === 'differences' && shown.has(traced)) {
          lines.push(`${head} because ${who} changed (as above)`);
          break;
        }
        shown.add(traced);
        switch (d.because.kind) {
          case 'differences':
            lines.push(`${head} because ${who} changed:`);
            lines.push(...describeDifferences(d.because.differences, d.because.omitted, `${indent}    `, shown));
            break;
          case 'earlier-store-missing':
            lines.push(
              `${head} because ${who} changed; its earlier store ${shortUid(d.because.store)} is no longer in the working directory, so the change cannot be traced further`,
            );
            break;
          case 'not-traced':
            lines.push(
              `${head}${d.from.split('.')[0] === d.to.split('.')[0] ? ': another output of the same node' : ` because ${who} changed`}`,
            );
            break;
          default:
            assertNever(d.because, 'upstream cause');
        }
        break;
      }
      case 'depends-changed':
        lines.push(
          `${indent}- dependencies changed:${d.added.length > 0 ? ` added ${d.added.map(shortUid).join(', ')}` : ''}${d.removed.length > 0 ? ` removed ${d.removed.map(shortUid).join(', ')}` : ''}`,
        );
        break;
      default:
        assertNever(d, 'record difference');
    }
  }
  if (omitted > 0) lines.push(`${indent}- ... and ${omitted} more difference${omitted === 1 ? '' : 's'}`);
  return lines;
}

/** How many differences, weighing a traced upstream change as one. */
export function differenceCount(result: { differences: readonly RecordDifference[]; omitted: number }): number {
  return result.differences.length + result.omitted;
}
