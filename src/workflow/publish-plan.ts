/**
 * The `"publish"` section of a workflow: results copied (hard-linked where
 * the file system allows) to paths people and scripts look at, as
 * `{"results/total.npy": {"$ref": "total"}}`. A reference with `[*]`
 * stands for every member of an ensemble, and its path says where each goes
 * with `{i}` (the member's index) or `{i:3}` (zero-padded to 3 digits):
 * `{"results/member-{i:2}/msd.npy": {"$ref": "ens[*].msd"}}`. References
 * are those of a node's input, plus the label of any concrete node
 * (`ens[*]/analyse.msd`).
 *
 * Here the section becomes a list of (path, node, output), checked before
 * anything runs: a path must be relative, stay inside its root, and be
 * claimed by one output only. Where the root is, and what already lies
 * there, is checked when a run or `publish` knows it (published-files.ts).
 */
import { posix } from 'node:path';
import { RunGraphError } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import type { JsonValue } from '../identity/canonical-json.js';
import { isInputRef } from '../operations/operation.js';
import type { GraphNode, PublishedOutput, ResolvedValue } from './concrete-graph.js';

export type { PublishedOutput } from './concrete-graph.js';

/** What resolves a reference written at the top level of the workflow: the GraphAssembler. */
export interface TopLevelResolver {
  resolveTopLevelReference(text: string, field: string): ResolvedValue;
}

const INDEX_FIELD = /\{i(?::0?(\d+))?\}/g;

function publishError(
  code: 'E_PUBLISH_PATH' | 'E_PUBLISH_CONFLICT' | 'E_WORKFLOW_SCHEMA',
  message: string,
  file: string | undefined,
  key: string,
  hint?: string,
): RunGraphError {
  return new RunGraphError(code, message, {
    ...(file === undefined ? {} : { file }),
    field: `publish.${key}`,
    value: key,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** The member indices `[*]` stands for in `ref`: every k for which some node's label starts with the part before it and `[k]`. */
function memberIndices(ref: string, labels: Iterable<string>): number[] {
  const star = ref.indexOf('[*]');
  const prefix = ref.slice(0, star);
  const found = new Set<number>();
  for (const label of labels) {
    if (!label.startsWith(`${prefix}[`)) continue;
    const match = /^\[(\d+)\](?:$|[/.])/.exec(label.slice(prefix.length));
    if (match?.[1] !== undefined) found.add(Number(match[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/** A published path with `{i}` filled in, normalized, or E_PUBLISH_PATH when it is absolute or climbs out of its root. */
function checkedPath(template: string, index: number | undefined, file: string | undefined): string {
  const filled = template.replace(INDEX_FIELD, (_, width: string | undefined) =>
    String(index).padStart(width === undefined ? 0 : Number(width), '0'),
  );
  if (filled === '' || posix.isAbsolute(filled) || /^[A-Za-z]:[\\/]/.test(filled))
    throw publishError(
      'E_PUBLISH_PATH',
      `published path '${filled}' must be relative`,
      file,
      template,
      'paths are relative to the workflow file, or to --publish-dir',
    );
  const normal = posix.normalize(filled.replace(/\\/g, '/'));
  if (normal === '..' || normal.startsWith('../') || normal === '.' || normal.endsWith('/'))
    throw publishError(
      'E_PUBLISH_PATH',
      `published path '${filled}' ${normal.endsWith('/') || normal === '.' ? 'names a directory, not a file' : 'leaves the directory it is relative to'}`,
      file,
      template,
      'name a file inside the publish root',
    );
  return normal;
}

/** The node and output a reference names: as a node's input would resolve it, or a concrete node by its label. */
function resolveOutput(
  ref: string,
  key: string,
  assembler: TopLevelResolver,
  byLabel: ReadonlyMap<string, GraphNode>,
  file: string | undefined,
): { label: string; uid: Uid; output: string } {
  let value: ResolvedValue;
  try {
    value = assembler.resolveTopLevelReference(ref, `publish.${key}`);
  } catch (error) {
    // Labels have no dots; output names may (`positions.npy`): the output starts at the first dot of the last segment.
    const dot = ref.indexOf('.', ref.lastIndexOf('/') + 1);
    const node = byLabel.get(ref) ?? (dot < 0 ? undefined : byLabel.get(ref.slice(0, dot)));
    if (node === undefined) throw error;
    const output = node === byLabel.get(ref) ? node.operation.defaultOutput : ref.slice(dot + 1);
    if (node.outputs[output] === undefined)
      throw publishError(
        'E_WORKFLOW_SCHEMA',
        `node '${node.label}' has no output '${output}'`,
        file,
        key,
        `its outputs are: ${Object.keys(node.outputs).join(', ')}`,
      );
    return { label: node.label, uid: node.uid, output };
  }
  if (!isInputRef(value))
    throw publishError(
      'E_WORKFLOW_SCHEMA',
      `'${ref}' is not the output of a node, so it has no file to publish`,
      file,
      key,
    );
  return { label: value.label, uid: value.uid, output: value.output };
}

/**
 * The published outputs of a workflow's `"publish"` section, each path
 * checked: relative, inside its root, one output per path, no path inside
 * another's. Gathers it references join `nodes` (see resolveTopLevelReference).
 */
export function planPublished(
  publish: { readonly [path: string]: JsonValue } | undefined,
  assembler: TopLevelResolver,
  nodes: readonly GraphNode[],
  file: string | undefined,
): PublishedOutput[] {
  if (publish === undefined) return [];
  const planned: PublishedOutput[] = [];
  for (const [key, target] of Object.entries(publish)) {
    const ref = (target as { $ref?: unknown } | null)?.$ref;
    if (typeof ref !== 'string')
      throw publishError('E_WORKFLOW_SCHEMA', 'a published path needs {"$ref": "label.output"}', file, key);
    const starred = ref.includes('[*]');
    const indexed = new RegExp(INDEX_FIELD.source).test(key);
    if (starred !== indexed)
      throw publishError(
        starred ? 'E_PUBLISH_CONFLICT' : 'E_PUBLISH_PATH',
        starred
          ? `'${ref}' names every member of an ensemble, and the path has no {i} to put each member at its own path`
          : `the path has {i}, and '${ref}' has no [*] to give it members`,
        file,
        key,
        'write the path as "results/member-{i}/out.npy" and the reference as "ens[*].out"',
      );
    const byLabel = new Map(nodes.map((n) => [n.label, n]));
    const indices = starred ? memberIndices(ref, byLabel.keys()) : [undefined];
    if (indices.length === 0)
      throw publishError('E_WORKFLOW_SCHEMA', `'${ref}': no ensemble has members by that name`, file, key);
    for (const index of indices) {
      const concrete = index === undefined ? ref : ref.replace('[*]', `[${index}]`);
      const output = resolveOutput(concrete, key, assembler, byLabel, file);
      planned.push({ path: checkedPath(key, index, file), ...output, from: key });
    }
  }
  const claimed = new Map<string, PublishedOutput>();
  for (const entry of planned) {
    const other = claimed.get(entry.path);
    if (other !== undefined)
      throw publishError(
        'E_PUBLISH_CONFLICT',
        `'${entry.path}' is claimed by two outputs: ${other.label}.${other.output} and ${entry.label}.${entry.output}`,
        file,
        entry.from,
        'give each output a path of its own',
      );
    claimed.set(entry.path, entry);
  }
  for (const entry of planned) {
    const parts = entry.path.split('/');
    for (let n = 1; n < parts.length; n++) {
      const other = claimed.get(parts.slice(0, n).join('/'));
      if (other !== undefined)
        throw publishError(
          'E_PUBLISH_CONFLICT',
          `'${entry.path}' would be inside '${other.path}', which is the file of ${other.label}.${other.output}`,
          file,
          entry.from,
        );
    }
  }
  return planned;
}
