/**
 * `defineOperation`: a user's own operation from a plain function and typed
 * port declarations. The declarations give `run` its argument and result
 * types, give the engine the static check of every node that uses the
 * operation, and are validated here, when the operation is defined, so a
 * mistake is an error at start-up rather than hours into a run.
 *
 *     export const scale = defineOperation({
 *       namespace: 'demo',
 *       name: 'Scale',
 *       version: '1',
 *       inputs: { x: { dtype: 'float64', shape: [null] }, factor: { dtype: 'float64', shape: [] } },
 *       outputs: { y: { dtype: 'float64', shape: [null] } },
 *       run: ({ x, factor }) => ({ y: Array.from(x.data, (v) => v * factor) }),
 *     });
 */
import { RunGraphError, describeValue } from '../errors.js';
import type { ArtifactRef, InputTree, OperationContext, OperationDefinition } from './operation.js';
import { inputError } from './check.js';
import { checkRetrySettings, type BackoffSpec } from './retry-policy.js';
import { parseResources, type ResourceLayer, type ResourcesSpec } from './resources.js';
import {
  checkInputPort,
  inputPortValue,
  outputPortValues,
  portValueType,
  validatePortDeclarations,
  type InputValues,
  type OutputValues,
  type PortDeclarations,
} from './ports.js';

/** Namespaces and names: what the workflow schema accepts in `"operation": "namespace.name"`. */
const NAME_PART = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** What `defineOperation` takes. */
export interface OperationSpec<I extends PortDeclarations, O extends PortDeclarations, D extends keyof O & string> {
  /** First part of the operation's name in a workflow (`"demo.Scale"`): letters, digits, '_' and '-'. */
  readonly namespace: string;
  /** Second part of the name. */
  readonly name: string;
  /**
   * Implementation version, part of the uid of every node that uses the
   * operation: bump it when the results of `run` change, and those nodes and
   * everything downstream run again. A non-empty string.
   */
  readonly version: string;
  /** One line for people (validate, inspect). Default: `namespace.name version`. */
  readonly description?: string;
  readonly inputs: I;
  /** At least one. */
  readonly outputs: O;
  /** The output a bare reference to a node means. Default: the only output; required when there are several. */
  readonly defaultOutput?: D;
  /**
   * URL of the module that exports this operation: pass `import.meta.url`.
   * Then `run` executes in a worker thread, and the main thread stays free
   * for lock heartbeats and I/O. Not part of the uid. Default: the main thread.
   */
  readonly module?: string;
  /**
   * Extra attempts a failed node of this operation gets (a non-negative
   * integer). A node, or the subgraph use around it, may set its own. Not
   * part of the uid. Default: the workflow's `defaults`, else 0.
   */
  readonly retries?: number;
  /**
   * The wait before each retry: a duration (`'10s'`, `'1h30m'`, `'01:30:00'`,
   * seconds) or `{ delay, factor, max }`, a delay multiplied by `factor`
   * before each further retry, at most `max`. Not part of the uid. Default:
   * the workflow's `defaults`, else 1 s doubling up to 1 minute.
   */
  readonly backoff?: BackoffSpec;
  /**
   * What one execution needs, unless a workflow says otherwise: `{cpus: 4,
   * memory: '8G', time: '2h'}` (see `ResourcesSpec`). Checked here. Not part
   * of the uid. Default: 1 cpu, no memory or time limit.
   */
  readonly resources?: ResourcesSpec;
  /**
   * The computation. Runs in the node's own store directory context: files it
   * writes belong in `context.storeDir`; it should stop at a safe point when
   * `context.signal` aborts. May be synchronous or async.
   */
  run(input: InputValues<I>, context: OperationContext): OutputValues<O> | Promise<OutputValues<O>>;
}

/** An operation made by `defineOperation`: an engine operation that also carries its port declarations as types. */
export interface TypedOperationDefinition<
  I extends PortDeclarations = PortDeclarations,
  O extends PortDeclarations = PortDeclarations,
  D extends keyof O & string = keyof O & string,
> extends OperationDefinition {
  readonly version: string;
  readonly inputs: I;
  readonly outputs: O;
  readonly defaultOutput: D;
}

const SPEC_KEYS: ReadonlySet<string> = new Set([
  'namespace',
  'name',
  'version',
  'description',
  'inputs',
  'outputs',
  'defaultOutput',
  'module',
  'retries',
  'backoff',
  'resources',
  'run',
]);

function definitionError(
  operation: string,
  field: string,
  message: string,
  value: unknown,
  hint?: string,
): RunGraphError {
  return new RunGraphError('E_OPERATION_DEFINITION', `operation ${operation}: ${message}`, {
    field,
    value,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Whether a value is an operation the engine can run (what an operation module may export). */
export function isOperationDefinition(value: unknown): value is OperationDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const op = value as Partial<OperationDefinition>;
  return (
    typeof op.namespace === 'string' &&
    typeof op.name === 'string' &&
    typeof op.check === 'function' &&
    typeof op.run === 'function'
  );
}

/**
 * Define an operation. Every declaration is checked now: a bad name,
 * version, port or default output throws E_OPERATION_DEFINITION naming the
 * field and showing the value it got.
 */
export function defineOperation<
  const I extends PortDeclarations,
  const O extends PortDeclarations,
  const D extends keyof O & string = keyof O & string,
>(spec: OperationSpec<I, O, D>): TypedOperationDefinition<I, O, D> {
  const given: unknown = spec;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new RunGraphError(
      'E_OPERATION_DEFINITION',
      `defineOperation expects an object, got ${describeValue(given)}`,
      { value: given },
    );
  }
  const raw = given as Record<string, unknown>;
  const shownName = `${typeof raw['namespace'] === 'string' ? raw['namespace'] : '?'}.${typeof raw['name'] === 'string' ? raw['name'] : '?'}`;
  for (const key of Object.keys(raw)) {
    if (!SPEC_KEYS.has(key))
      throw definitionError(
        shownName,
        key,
        `unknown property '${key}'`,
        key,
        `a definition has ${[...SPEC_KEYS].join(', ')}`,
      );
  }
  for (const field of ['namespace', 'name'] as const) {
    const part = raw[field];
    if (typeof part !== 'string' || !NAME_PART.test(part)) {
      throw definitionError(
        shownName,
        field,
        `${field} must be a string that starts with a letter or '_' and holds only letters, digits, '_' and '-', got ${describeValue(part)}`,
        part,
      );
    }
  }
  const version = raw['version'];
  if (typeof version !== 'string' || version.trim() === '') {
    throw definitionError(
      shownName,
      'version',
      `version: expected a non-empty string, got ${describeValue(version)}`,
      version,
      "write it as a string, e.g. version: '1.2'",
    );
  }
  if (raw['description'] !== undefined && typeof raw['description'] !== 'string') {
    throw definitionError(
      shownName,
      'description',
      `description: expected a string, got ${describeValue(raw['description'])}`,
      raw['description'],
    );
  }
  if (raw['module'] !== undefined && (typeof raw['module'] !== 'string' || !/^(file|data):/.test(raw['module']))) {
    throw definitionError(
      shownName,
      'module',
      `module: expected the module's URL (import.meta.url), got ${describeValue(raw['module'])}`,
      raw['module'],
    );
  }
  const retryDefaults = {
    ...(spec.retries === undefined ? {} : { retries: spec.retries }),
    ...(spec.backoff === undefined ? {} : { backoff: spec.backoff }),
  };
  checkRetrySettings(retryDefaults, '', (field, message, value) => definitionError(shownName, field, message, value));
  let resources: ResourceLayer | undefined;
  if (raw['resources'] !== undefined) {
    try {
      resources = parseResources(raw['resources'], {}, 'resources');
    } catch (error) {
      if (!(error instanceof RunGraphError)) throw error;
      throw definitionError(shownName, error.location.field ?? 'resources', error.message, error.value, error.hint);
    }
  }
  if (typeof raw['run'] !== 'function')
    throw definitionError(shownName, 'run', `run: expected a function, got ${describeValue(raw['run'])}`, raw['run']);
  const site = { operation: shownName };
  const inputs = validatePortDeclarations('inputs', raw['inputs'], site) as I;
  const outputs = validatePortDeclarations('outputs', raw['outputs'], site) as O;
  const outputNames = Object.keys(outputs);
  const defaultOutput = raw['defaultOutput'] ?? (outputNames.length === 1 ? outputNames[0] : undefined);
  if (defaultOutput === undefined) {
    throw definitionError(
      shownName,
      'defaultOutput',
      `defaultOutput: required with several outputs (${outputNames.join(', ')}), got undefined`,
      undefined,
      'name the output a bare reference to the node means',
    );
  }
  if (typeof defaultOutput !== 'string' || !(defaultOutput in outputs)) {
    throw definitionError(
      shownName,
      'defaultOutput',
      `defaultOutput: expected one of the outputs (${outputNames.join(', ')}), got ${describeValue(defaultOutput)}`,
      defaultOutput,
    );
  }
  const outputTypes = Object.fromEntries(Object.entries(outputs).map(([name, port]) => [name, portValueType(port)]));
  const literalDtypes = Object.fromEntries(
    Object.entries(inputs).flatMap(([name, port]) =>
      port.dtype === 'int64' || port.dtype === 'float64' ? [[name, port.dtype]] : [],
    ),
  );
  const userRun = spec.run;

  return {
    namespace: spec.namespace,
    name: spec.name,
    version,
    summary: spec.description ?? `${shownName} ${version}`,
    defaultOutput: defaultOutput as D,
    ...(spec.module === undefined ? {} : { module: spec.module }),
    ...(Object.keys(retryDefaults).length === 0 ? {} : { retryDefaults }),
    ...(resources === undefined ? {} : { resources }),
    inputs,
    outputs,
    literalDtypes,
    check(input, checkSite) {
      for (const field of Object.keys(input)) {
        if (!(field in inputs)) {
          const known =
            Object.keys(inputs)
              .map((k) => `'${k}'`)
              .join(', ') || 'none';
          throw inputError(
            checkSite,
            `input.${field}`,
            'E_INPUT_TYPE',
            `unknown input '${field}'; ${shownName} takes ${known}`,
            field,
          );
        }
      }
      for (const [field, port] of Object.entries(inputs)) {
        const value = input[field];
        if (value === undefined) {
          if (port.optional === true) continue;
          throw inputError(checkSite, `input.${field}`, 'E_INPUT_TYPE', `missing required input '${field}'`);
        }
        checkInputPort(port, value, checkSite, `input.${field}`);
      }
      return { ...outputTypes };
    },
    async run(input, context) {
      const values: Record<string, unknown> = {};
      for (const [field, port] of Object.entries(inputs)) {
        const value = input[field] as InputTree<ArtifactRef> | undefined;
        values[field] = await inputPortValue(port, value, { node: context.label, field: `input.${field}` });
      }
      const returned: unknown = await userRun(values as InputValues<I>, context);
      return outputPortValues(outputs, returned, context.label, context.storeDir);
    },
  };
}
