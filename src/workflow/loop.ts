/**
 * `while`: the control operation behind a loop node. Before each iteration
 * it assembles and runs the condition subgraph on the current state; when
 * the condition says stop, the loop's outputs are that state. Otherwise it
 * assembles and runs the body on the state, and the body's outputs become the
 * next state. Iteration k's nodes carry an iteration uid derived from the
 * loop's uid and k, so they are ordinary stores: a loop killed in iteration 7
 * finds iterations 0 to 6 committed, reuses them, and continues inside 7.
 * A condition true at once means zero iterations: the outputs are the
 * initial state.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { RunGraphError, describeValue } from '../errors.js';
import { fingerprint, type Uid } from '../identity/fingerprint.js';
import { decodeNpy } from '../values/npy.js';
import {
  INPUT_KIND,
  isInputRef,
  type ArtifactRef,
  type ControlContext,
  type InputTree,
  type OperationDefinition,
  type OperationOutputs,
  type ResolvedRef,
} from '../operations/operation.js';
import { readFile } from 'node:fs/promises';
import { arrayFromNestedList, literalArrayType } from '../values/values.js';
import { typeOfValue } from './value-type.js';

/** The uid every record of one part (`until` or `body`) of iteration k depends on. */
export function iterationUid(loop: Uid, iteration: number, part: 'until' | 'body'): Uid {
  return fingerprint({ depends: [loop], input: { iteration, part }, operation: ['run-graph', 'Iteration', '1'] });
}

function asResolved(value: InputTree<ArtifactRef>): InputTree<ResolvedRef> {
  // An ArtifactRef is a ResolvedRef with run-time extras; the assembler only reads the ResolvedRef part.
  if (isInputRef(value))
    return { [INPUT_KIND]: 'ref', label: value.label, output: value.output, type: value.type, uid: value.uid };
  return value as InputTree<ResolvedRef>;
}

async function readCondition(
  value: InputTree<ResolvedRef> | undefined,
  control: ControlContext,
  label: string,
): Promise<boolean> {
  let found: unknown = value;
  if (value !== undefined && isInputRef(value)) {
    const { path, entry } = control.artifact(value);
    if (entry.kind === 'json') found = JSON.parse(await readFile(path, 'utf8')) as JsonValue;
    else {
      const array = decodeNpy(await readFile(path), path);
      if (array.dtype === 'bool' && array.data.length === 1) return array.data[0] !== 0;
      found = `a ${array.dtype} array of shape [${array.shape.join(', ')}]`;
    }
  }
  if (typeof found === 'boolean') return found;
  throw new RunGraphError(
    'E_INPUT_TYPE',
    `the loop condition is not a boolean: ${typeof found === 'string' ? found : describeValue(found)}`,
    { node: label, field: 'while.stopWhen' },
  );
}

export const whileOperation: OperationDefinition = {
  namespace: 'run-graph',
  name: 'While',
  version: '1',
  summary: 'a loop: runs a subgraph on its own outputs until a condition subgraph says stop',
  defaultOutput: '',
  control: true,
  check() {
    // Loops are checked by the assembler, which knows the subgraphs.
    throw new RunGraphError('E_UNKNOWN_OPERATION', 'run-graph.While is written as a "while" node, not as an operation');
  },
  async run(input, context) {
    const control = context.control;
    if (control === undefined)
      throw new RunGraphError('E_NODE_FAILED', 'a loop ran without its control context', { node: context.label });
    const stateInput = input['state'] as { [name: string]: InputTree<ArtifactRef> };
    const subgraph = input['subgraph'] as string;
    const until = input['until'] as string;
    const stopWhen = input['stopWhen'] as string;
    const maxIterations = input['maxIterations'] as number;
    const accept = input['onMaxIterations'] === 'accept';

    let state = new Map(Object.entries(stateInput).map(([name, value]) => [name, asResolved(value)]));
    for (let k = 0; ; k++) {
      const condition = await control.runSubgraph(until, state, `${context.label}#${k}/until/`, [
        iterationUid(context.uid, k, 'until'),
      ]);
      const stop = await readCondition(condition.get(stopWhen), control, context.label);
      control.progress(k, stop);
      await context.checkpoint.write({ iteration: k, stop });
      if (stop) break;
      if (k >= maxIterations) {
        if (accept) break;
        throw new RunGraphError('E_NODE_FAILED', `the loop did not stop within maxIterations (${maxIterations})`, {
          node: context.label,
          field: 'while.maxIterations',
          hint: 'raise maxIterations, or set "onMaxIterations": "accept" to take the last state',
        });
      }
      const body = await control.runSubgraph(subgraph, state, `${context.label}#${k}/`, [
        iterationUid(context.uid, k, 'body'),
      ]);
      state = new Map([...state.keys()].map((name) => [name, body.get(name) as InputTree<ResolvedRef>]));
    }

    const outputs: OperationOutputs = {};
    for (const [name, value] of state) {
      if (isInputRef(value)) {
        const { path, entry } = control.artifact(value);
        outputs[name] = { kind: 'artifact', source: path, entry };
      } else if (typeOfValue(value, context.label, name).kind === 'array') {
        // Zero iterations over a literal state: the literal is the output.
        const site = { node: context.label, field: `while.state.${name}` };
        const { dtype } = literalArrayType(value as JsonValue, site);
        outputs[name] = {
          kind: 'array',
          value: arrayFromNestedList(value as JsonValue, dtype === 'int64' ? 'int64' : 'float64', site),
        };
      } else {
        outputs[name] = { kind: 'json', value: value as JsonValue };
      }
    }
    return outputs;
  },
};
