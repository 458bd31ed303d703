/**
 * The operations a WorkerContext can build, by `namespace.name`. A registry
 * is checked as operations are added, so a name defined twice is an error at
 * start-up rather than a surprise mid-run.
 */
import { RunGraphError } from '../errors.js';
import { float64, integer64, npyFile } from './data.js';
import { qualifiedName, type OperationDefinition } from './operation.js';
import { subprocess } from './subprocess.js';
import { all, compare, index, stack } from './ensemble-ops.js';
import { max, mean, min, sum } from './reductions.js';
import { add, concatenate, multiply } from './transforms.js';

const NAME_PART = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export class OperationRegistry {
  readonly #operations = new Map<string, OperationDefinition>();

  constructor(operations: Iterable<OperationDefinition> = []) {
    for (const op of operations) this.register(op);
  }

  /** Add an operation; throws if its name is malformed or already taken. */
  register(op: OperationDefinition): this {
    for (const [field, part] of [
      ['namespace', op.namespace],
      ['name', op.name],
    ] as const) {
      if (!NAME_PART.test(part)) {
        throw new RunGraphError(
          'E_USAGE',
          `operation ${field} ${JSON.stringify(part)} must start with a letter or '_' and hold only letters, digits, '_' and '-'`,
          { value: part },
        );
      }
    }
    if (op.version !== undefined && (typeof op.version !== 'string' || op.version.length === 0)) {
      throw new RunGraphError(
        'E_USAGE',
        `operation ${qualifiedName(op)}: version must be a non-empty string, got ${JSON.stringify(op.version)}`,
        { value: op.version },
      );
    }
    const key = qualifiedName(op);
    if (this.#operations.has(key))
      throw new RunGraphError('E_USAGE', `operation ${key} is defined twice`, { value: key });
    this.#operations.set(key, op);
    return this;
  }

  /** The operation named `namespace.name`, or undefined. */
  get(name: string): OperationDefinition | undefined {
    return this.#operations.get(name);
  }

  names(): string[] {
    return [...this.#operations.keys()].sort();
  }
}

/** Every operation run-graph ships. */
export const BUILTIN_OPERATIONS: readonly OperationDefinition[] = [
  integer64,
  float64,
  npyFile,
  add,
  multiply,
  concatenate,
  sum,
  mean,
  max,
  min,
  index,
  stack,
  compare,
  all,
  subprocess,
];

/** A registry holding the built-in operations. */
export function builtinRegistry(): OperationRegistry {
  return new OperationRegistry(BUILTIN_OPERATIONS);
}
