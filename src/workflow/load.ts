/**
 * Reading a workflow file: parse it (every number exact: an integer keeps
 * all its digits, `1.0` stays a float), check it against the workflow
 * schema, and reject duplicate labels. Every error names the file and, where there is
 * one, the node and field.
 */
import { readFile, stat } from 'node:fs/promises';
import { checkTextSize } from '../values/memory-limit.js';
import { dirname, resolve } from 'node:path';
import { RunGraphError, isErrnoException } from '../errors.js';
import { NumberList } from '../identity/number-list.js';
import { parseWorkflowBytes } from './workflow-text.js';
import { jsonSyntaxErrorOffset } from './json-syntax.js';
import { isScalemsDocument, scalemsToWorkflow, type DeclaredReferent } from './scalems.js';
import { findSchemaProblem, instancePathToField } from './schema.js';
import { checkRetrySettings, type PolicyProblem } from '../operations/retry-policy.js';

export const WORKFLOW_SCHEMA = 'workflow.schema.json';

export type { MapSpec, SubgraphSpec, WhileSpec, WorkflowNodeSpec, WorkflowSpec } from './spec.js';
import type { WorkflowSpec } from './spec.js';

export interface LoadedWorkflow {
  spec: WorkflowSpec;
  /** The path as the user gave it, for messages. */
  file: string;
  /** Absolute directory `$file` inputs are relative to. */
  baseDir: string;
  /** Set when the file is a SCALE-MS `scalems_workflow_1` document: the uid each node declares, by label. */
  scalems?: ReadonlyMap<string, DeclaredReferent>;
}

/** Line and column of a character offset, for JSON syntax errors. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return parseWorkflowBytes(bytes);
  } catch (error) {
    const text = bytes.toString('utf8');
    const message = error instanceof Error ? error.message : String(error);
    // Node 20 gives no position for an unexpected token and quotes the raw text instead: find it, drop the quote.
    const given = /at position (\d+)/.exec(message)?.[1];
    const position = given === undefined ? jsonSyntaxErrorOffset(text) : Number(given);
    const where = position === undefined ? '' : ` at ${lineAndColumn(text, position)}`;
    const reason = message
      .replace(/( in JSON)? at position \d+.*$/s, '')
      .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
      .replace(/\s+/g, ' ');
    throw new RunGraphError('E_WORKFLOW_JSON', `not valid JSON${where}: ${reason}`, {
      file,
      cause: error,
      hint: 'check for a missing comma or quote, or a trailing comma',
    });
  }
}

/** Longer lists of plain values in a node's input are not walked by the schema check (see schemaView). */
const SCHEMA_WALKED_LIST = 4096;

const isPlainObject = (value: unknown): value is { [key: string]: unknown } =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The document as the schema check is given it: where a node's input field
 * is a long list of plain values (a literal's numbers, none an object, or a
 * NumberList, such a list kept as text), an empty list instead. The schema accepts every such list there (an input
 * value constrains only objects), so its verdict and the place of any
 * problem are the same, without a walk of millions of elements. Only the
 * nodes and inputs that hold one are copied.
 */
function schemaView(document: unknown): unknown {
  if (!isPlainObject(document) || !Array.isArray(document['nodes'])) return document;
  let nodes: unknown[] | undefined;
  document['nodes'].forEach((node: unknown, index) => {
    if (!isPlainObject(node) || !isPlainObject(node['input'])) return;
    let input: { [key: string]: unknown } | undefined;
    for (const [field, value] of Object.entries(node['input'])) {
      const long = Array.isArray(value) && value.length > SCHEMA_WALKED_LIST;
      if (value instanceof NumberList || (long && value.every((item) => typeof item !== 'object' || item === null))) {
        input ??= { ...node['input'] };
        input[field] = [];
      }
    }
    if (input === undefined) return;
    nodes ??= [...(document['nodes'] as unknown[])];
    nodes[index] = { ...node, input };
  });
  return nodes === undefined ? document : { ...document, nodes };
}

/** Check a parsed document: schema first, then labels unique. */
export function checkWorkflowDocument(document: unknown, file?: string): WorkflowSpec {
  const problem = findSchemaProblem(WORKFLOW_SCHEMA, schemaView(document));
  if (problem !== undefined) {
    const field = instancePathToField(problem.instancePath);
    // `nodes[3].input.data` -> node label of nodes[3], field `input.data`.
    const nodeMatch = /^nodes\[(\d+)\]\.?(.*)$/.exec(field);
    const nodes = (document as { nodes?: unknown } | null)?.nodes;
    const node =
      nodeMatch === null || !Array.isArray(nodes)
        ? undefined
        : (nodes[Number(nodeMatch[1])] as { label?: unknown } | undefined);
    const label = typeof node?.label === 'string' ? node.label : undefined;
    const subject = label === undefined ? field : (nodeMatch?.[2] ?? '');
    throw new RunGraphError(
      'E_WORKFLOW_SCHEMA',
      `${subject === '' ? (label === undefined ? 'the workflow' : 'the node') : subject} ${problem.message}`,
      {
        ...(file === undefined ? {} : { file }),
        ...(label === undefined ? {} : { node: label }),
        ...(subject === '' ? {} : { field: subject }),
        hint: `see schemas/${WORKFLOW_SCHEMA}`,
      },
    );
  }
  const spec = document as WorkflowSpec;
  checkRetryPolicies(spec, file);
  const seen = new Set<string>();
  spec.nodes.forEach((node, index) => {
    if (seen.has(node.label)) {
      throw new RunGraphError(
        'E_DUPLICATE_LABEL',
        `label '${node.label}' is used by more than one node (again at nodes[${index}])`,
        {
          ...(file === undefined ? {} : { file }),
          node: node.label,
          field: `nodes[${index}].label`,
          value: node.label,
        },
      );
    }
    seen.add(node.label);
  });
  return spec;
}

/**
 * Check every retry setting where it is written (the defaults, each node,
 * the nodes of each subgraph), so a bad duration is an error naming its
 * place before anything runs, even in a subgraph no node uses yet.
 */
function checkRetryPolicies(spec: WorkflowSpec, file: string | undefined): void {
  const problemAt =
    (node: string | undefined): PolicyProblem =>
    (field, message, value) =>
      new RunGraphError('E_WORKFLOW_SCHEMA', message, {
        ...(file === undefined ? {} : { file }),
        ...(node === undefined ? {} : { node }),
        field,
        value,
        hint: `see schemas/${WORKFLOW_SCHEMA}`,
      });
  if (spec.defaults !== undefined) checkRetrySettings(spec.defaults, 'defaults.', problemAt(undefined));
  for (const node of spec.nodes) checkRetrySettings(node, '', problemAt(node.label));
  for (const [name, subgraph] of Object.entries(spec.subgraphs ?? {}))
    for (const node of subgraph.nodes) checkRetrySettings(node, '', problemAt(`${name}/${node.label}`));
}

/** Read, parse and check a workflow file. */
export async function loadWorkflowFile(path: string): Promise<LoadedWorkflow> {
  let bytes: Buffer;
  try {
    // Before the text is read: a file too large to parse here is an error naming it, not an out-of-memory crash.
    checkTextSize((await stat(path)).size, path);
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof RunGraphError) throw error;
    const reason =
      isErrnoException(error) && error.code === 'ENOENT'
        ? 'no such file'
        : isErrnoException(error) && error.code === 'EISDIR'
          ? 'is a directory'
          : String(error);
    throw new RunGraphError('E_WORKFLOW_READ', `cannot read workflow: ${reason}`, { file: path, cause: error });
  }
  const document = parseJson(bytes, path);
  const baseDir = dirname(resolve(path));
  if (isScalemsDocument(document)) {
    const { spec, declared } = scalemsToWorkflow(document, path);
    return { spec: checkWorkflowDocument(spec, path), file: path, baseDir, scalems: declared };
  }
  const spec = checkWorkflowDocument(document, path);
  return { spec, file: path, baseDir };
}
