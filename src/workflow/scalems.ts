/**
 * SCALE-MS `scalems_workflow_1` documents, read as run-graph workflows.
 *
 *     {
 *       "version": "scalems_workflow_1",
 *       "types": {},
 *       "referents": [
 *         {"uid": "266bb4e3...", "label": "matrix", "type": ["scalems", "Integer64"], "data": [[1, 2], [3, 4]]},
 *         {"uid": "...", "label": "doubled", "type": ["run-graph", "Add", "1"], "a": "266bb4e3....data", "b": "266bb4e3..."}
 *       ]
 *     }
 *
 * SCALE-MS specifies the document's outline (docs/design/serialization.rst:
 * `version`, `types`, `referents` in topological order, each with `uid` and
 * `type`, an optional `label`, other members keyed by label whose value is a
 * reference string `uid[.label]` or raw data as a JSON array) but not how a
 * referent's members become a fingerprinted record. This module's reading:
 *
 * - `type` names the operation: `[namespace, name]`, or
 *   `[namespace, name, version]`, whose version must be the registered one.
 * - Every member other than `uid`, `type` and `label` is an input field. A
 *   string is a reference (`uid` for the default output, `uid.output` for a
 *   named one) to a referent listed earlier; an array is raw data (strings in
 *   it are plain strings, never references); numbers, booleans, null and
 *   objects, which SCALE-MS reserves, are taken as literal JSON.
 * - The record is run-graph's: `{"depends": [sorted upstream uids], "input":
 *   {field: value, references as {"$ref": "uid.output"}}, "operation": type
 *   with the registered version}`, so a data referent such as Integer64 keeps
 *   SCALE-MS's plain record, and the reference vector's uid, exactly.
 * - Every declared `uid` must equal the uid of the record run-graph computes:
 *   a mismatch is E_UID_MISMATCH naming the referent.
 * - `types` is accepted and ignored: operations come from run-graph's registry.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { isJsonFloat } from '../identity/json-numbers.js';
import { RunGraphError, describeValue } from '../errors.js';
import { recordText, type Uid } from '../identity/fingerprint.js';
import type { ConcreteGraph } from './concrete-graph.js';
import type { WorkflowNodeSpec, WorkflowSpec } from './spec.js';

/** The `version` a SCALE-MS workflow document carries. */
export const SCALEMS_WORKFLOW_VERSION = 'scalems_workflow_1';

/** A referent as a SCALE-MS document holds it. */
export type ScalemsReferent = { uid: string; type: string[]; label?: string } & { [member: string]: JsonValue };

/** A SCALE-MS workflow document. */
export interface ScalemsDocument {
  version: typeof SCALEMS_WORKFLOW_VERSION;
  types: { [typeIdentifier: string]: JsonValue };
  referents: ScalemsReferent[];
}

/** What a referent declared, to compare with the graph once it is built. */
export interface DeclaredReferent {
  index: number;
  uid: Uid;
  /** The third element of `type`, when given. */
  version: string | undefined;
}

const UID_TEXT = /^[0-9a-fA-F]{64}$/;
const REFERENCE = /^([0-9a-fA-F]{64})(?:\.(.+))?$/;
const LABEL = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const NAME_PART = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const RESERVED_MEMBERS: ReadonlySet<string> = new Set(['uid', 'type', 'label']);

/** Whether a parsed document claims to be a SCALE-MS workflow. */
export function isScalemsDocument(document: unknown): boolean {
  return (
    typeof document === 'object' &&
    document !== null &&
    (document as { version?: unknown }).version === SCALEMS_WORKFLOW_VERSION
  );
}

function isObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isJsonFloat(value);
}

function hasSpecialKey(value: JsonValue): boolean {
  if (Array.isArray(value)) return value.some(hasSpecialKey);
  if (!isObject(value)) return false;
  return '$ref' in value || '$file' in value || '$npy' in value || Object.values(value).some(hasSpecialKey);
}

/**
 * Turn a SCALE-MS document into a run-graph workflow, and say what each node
 * declared. Throws E_WORKFLOW_SCHEMA naming the referent and member.
 */
export function scalemsToWorkflow(
  document: unknown,
  file?: string,
): { spec: WorkflowSpec; declared: Map<string, DeclaredReferent> } {
  const where = file === undefined ? {} : { file };
  const fail = (field: string, message: string, value?: unknown, hint?: string, node?: string): never => {
    throw new RunGraphError('E_WORKFLOW_SCHEMA', message, {
      ...where,
      field,
      ...(node === undefined ? {} : { node }),
      ...(value === undefined ? {} : { value }),
      ...(hint === undefined ? {} : { hint }),
    });
  };
  if (!isObject(document))
    return fail('', `a ${SCALEMS_WORKFLOW_VERSION} document must be an object, got ${describeValue(document)}`);
  for (const key of Object.keys(document)) {
    if (!['version', 'types', 'referents', '$schema'].includes(key))
      fail(
        key,
        `unknown property '${key}' in a ${SCALEMS_WORKFLOW_VERSION} document`,
        key,
        'it has version, types and referents',
      );
  }
  if (document['types'] !== undefined && !isObject(document['types']))
    fail('types', `types must be an object, got ${describeValue(document['types'])}`);
  const referents = document['referents'];
  if (!Array.isArray(referents))
    return fail(
      'referents',
      `referents must be a list, got ${describeValue(referents)}`,
      undefined,
      'a SCALE-MS workflow lists its nodes in "referents"',
    );

  const labelOf = new Map<string, string>();
  const nodes: WorkflowNodeSpec[] = [];
  const declared = new Map<string, DeclaredReferent>();
  const labels = new Set<string>();
  referents.forEach((referent: JsonValue, index) => {
    const at = `referents[${index}]`;
    if (!isObject(referent)) return fail(at, `expected a referent object, got ${describeValue(referent)}`);
    const uidText = referent['uid'];
    if (typeof uidText !== 'string' || !UID_TEXT.test(uidText))
      return fail(`${at}.uid`, `expected a uid (64 hexadecimal digits), got ${describeValue(uidText)}`, uidText);
    const uid = uidText.toLowerCase() as Uid;
    if (labelOf.has(uid)) return fail(`${at}.uid`, `uid ${uid} is declared by two referents (again at ${at})`, uid);
    const type = referent['type'];
    if (!Array.isArray(type) || type.length < 2 || type.length > 3 || !type.every((part) => typeof part === 'string')) {
      return fail(
        `${at}.type`,
        `expected a type identifier [namespace, name] or [namespace, name, version], got ${JSON.stringify(type)}`,
        type,
      );
    }
    const [namespace, name, version] = type as string[];
    if (!NAME_PART.test(namespace ?? '') || !NAME_PART.test(name ?? '')) {
      return fail(
        `${at}.type`,
        `operation ${JSON.stringify(type)}: namespace and name must start with a letter or '_' and hold only letters, digits, '_' and '-'`,
        type,
      );
    }
    const given = referent['label'];
    if (given !== undefined && typeof given !== 'string')
      return fail(`${at}.label`, `expected a string, got ${describeValue(given)}`, given);
    // SCALE-MS labels may start with a digit or '-'; run-graph's may not, so those get a leading '_'.
    const label = given === undefined ? `node_${uid.slice(0, 12)}` : LABEL.test(given) ? given : `_${given}`;
    if (!LABEL.test(label))
      return fail(
        `${at}.label`,
        `label ${describeValue(given)} holds characters other than letters, digits, '_' and '-'`,
        given,
      );
    if (labels.has(label))
      return fail(`${at}.label`, `label '${label}' is used by more than one referent (again at ${at})`, label);
    labels.add(label);

    const input: { [field: string]: JsonValue } = {};
    for (const [member, value] of Object.entries(referent)) {
      if (RESERVED_MEMBERS.has(member)) continue;
      const field = `${at}.${member}`;
      if (typeof value === 'string') {
        const match = REFERENCE.exec(value);
        if (match === null) {
          return fail(
            field,
            `a string member is a reference ('uid' or 'uid.output'), got ${describeValue(value)}`,
            value,
            'literal strings go inside arrays (raw data)',
            label,
          );
        }
        const target = (match[1] ?? '').toLowerCase();
        const targetLabel = labelOf.get(target);
        if (targetLabel === undefined) {
          return fail(
            field,
            `reference to ${target}, which no earlier referent declares`,
            value,
            'referents must come in topological order: every referent after those it references',
            label,
          );
        }
        input[member] = { $ref: match[2] === undefined ? targetLabel : `${targetLabel}.${match[2]}` };
      } else {
        if (hasSpecialKey(value))
          return fail(
            field,
            'raw data may not hold objects with "$ref", "$file" or "$npy" keys',
            undefined,
            'reference other referents by uid string',
            label,
          );
        input[member] = value;
      }
    }
    labelOf.set(uid, label);
    nodes.push({ label, operation: `${namespace}.${name}`, input });
    declared.set(label, { index, uid, version });
  });
  return { spec: { nodes }, declared };
}

/** Every declared uid (and version) must be what run-graph computes; E_UID_MISMATCH names the first that is not. */
export function checkDeclaredUids(
  graph: ConcreteGraph,
  declared: ReadonlyMap<string, DeclaredReferent>,
  file?: string,
): void {
  const where = file === undefined ? {} : { file };
  for (const node of graph.nodes) {
    const expected = declared.get(node.label);
    if (expected === undefined) continue;
    const at = `referents[${expected.index}]`;
    if (expected.version !== undefined && expected.version !== node.operation.version) {
      throw new RunGraphError(
        'E_UID_MISMATCH',
        `type names version ${JSON.stringify(expected.version)} of ${node.operation.namespace}.${node.operation.name}, but the registered one is ${JSON.stringify(node.operation.version ?? null)}`,
        {
          ...where,
          node: node.label,
          field: `${at}.type`,
          value: expected.version,
          hint: 'load the operation module of that version, or export the document again',
        },
      );
    }
    if (expected.uid !== node.uid) {
      const text = recordText(node.record);
      throw new RunGraphError('E_UID_MISMATCH', `declares uid ${expected.uid}, but its record hashes to ${node.uid}`, {
        ...where,
        node: node.label,
        field: `${at}.uid`,
        value: expected.uid,
        hint: `the record run-graph hashed is ${text.length > 240 ? `${text.slice(0, 237)}...` : text}`,
      });
    }
  }
}

/**
 * A concrete graph as a SCALE-MS document, in topological order. Only
 * graphs SCALE-MS can express: every reference a whole input field, no
 * `$file` inputs, no literal strings as whole fields. E_USAGE otherwise.
 */
export function toScalemsDocument(graph: ConcreteGraph): ScalemsDocument {
  const referents = graph.nodes.map((node): ScalemsReferent => {
    const members: { [member: string]: JsonValue } = {};
    for (const [field, value] of Object.entries(node.record.input)) {
      const cannot = (why: string): never => {
        throw new RunGraphError(
          'E_USAGE',
          `cannot express input '${field}' in a ${SCALEMS_WORKFLOW_VERSION} document: ${why}`,
          { node: node.label, field: `input.${field}` },
        );
      };
      if (RESERVED_MEMBERS.has(field)) cannot(`'${field}' is a reserved member name`);
      if (isObject(value) && typeof value['$ref'] === 'string' && Object.keys(value).length === 1)
        members[field] = value['$ref'];
      else if (typeof value === 'string') cannot('a literal string would read as a reference');
      else if (hasSpecialKey(value)) cannot('references or files inside raw data');
      else members[field] = value;
    }
    return { ...members, uid: node.uid, label: node.label, type: [...node.record.operation] };
  });
  return { version: SCALEMS_WORKFLOW_VERSION, types: {}, referents };
}
