/**
 * Operation modules: JavaScript modules a workflow file names in
 * `"operations": ["./my-ops.js"]`, resolved relative to the workflow file.
 * Every export that is an operation is registered (a default export may also
 * be an array of operations). A module that cannot be loaded, exports no
 * operation, or defines a name that is already taken is an error naming the
 * workflow file, the module and the operation.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RunGraphError, describeValue } from '../errors.js';
import { isOperationDefinition } from './define.js';
import { qualifiedName, type OperationDefinition } from './operation.js';
import type { OperationRegistry } from './registry.js';

/** Where an operation came from, for "defined twice" errors. */
interface Origin {
  module: string;
  exportName: string;
}

/** Operations a module exports, with the export each came from; the same object exported twice counts once. */
function exportedOperations(namespace: Record<string, unknown>): { op: OperationDefinition; exportName: string }[] {
  const found: { op: OperationDefinition; exportName: string }[] = [];
  const seen = new Set<OperationDefinition>();
  const take = (value: unknown, exportName: string): void => {
    if (isOperationDefinition(value) && !seen.has(value)) {
      seen.add(value);
      found.push({ op: value, exportName });
    }
  };
  for (const [name, value] of Object.entries(namespace)) {
    if (name === 'default' && Array.isArray(value)) value.forEach((item, i) => take(item, `default[${i}]`));
    else take(value, name);
  }
  return found;
}

/**
 * A RunGraphError, possibly of another copy of run-graph (the module may
 * import its own), recognised by its name and code rather than its class.
 */
function isRunGraphErrorLike(error: unknown): error is RunGraphError {
  return (
    error instanceof RunGraphError ||
    (error instanceof Error &&
      error.name === 'RunGraphError' &&
      typeof (error as Partial<RunGraphError>).code === 'string' &&
      typeof (error as Partial<RunGraphError>).location === 'object')
  );
}

function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * Import each module and register its operations in `registry`. `modules`
 * are as written in the workflow (`operations[i]`); `baseDir` is the
 * workflow file's directory; `file` names the workflow in errors.
 */
export async function loadOperationModules(
  modules: readonly string[],
  registry: OperationRegistry,
  baseDir: string,
  file: string | undefined,
): Promise<void> {
  const where = file === undefined ? {} : { file };
  const origins = new Map<string, Origin>();
  for (const [index, given] of modules.entries()) {
    const field = `operations[${index}]`;
    if (!given.startsWith('./') && !given.startsWith('../') && !isAbsolute(given)) {
      throw new RunGraphError(
        'E_OPERATION_MODULE',
        `operation module ${describeValue(given)} must be a path: start it with './' or '../' (relative to the workflow file) or '/'`,
        {
          ...where,
          field,
          value: given,
        },
      );
    }
    const path = resolve(baseDir, given);
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (error) {
      if (isRunGraphErrorLike(error)) {
        // An operation defined wrongly: keep its code and field, and say which module defines it.
        throw new RunGraphError(error.code, `${error.message} (in operation module ${shownPath(path)})`, {
          ...where,
          field: error.location.field === undefined ? field : `${field}: ${error.location.field}`,
          value: error.value,
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          cause: error,
        });
      }
      const notFound =
        (error as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND' &&
        String((error as Error).message).includes(path);
      const reason = notFound ? 'no such file' : error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new RunGraphError(
        'E_OPERATION_MODULE',
        `cannot load operation module '${given}' (${shownPath(path)}): ${reason}`,
        {
          ...where,
          field,
          value: given,
          hint: notFound
            ? 'paths in "operations" are relative to the workflow file; a TypeScript module must be compiled to .js first'
            : 'run the module with node to see the full error',
          cause: error,
        },
      );
    }
    const operations = exportedOperations(namespace);
    if (operations.length === 0) {
      throw new RunGraphError('E_OPERATION_MODULE', `operation module '${given}' exports no operations`, {
        ...where,
        field,
        value: given,
        hint: 'export each operation made with defineOperation, or a default array of them',
      });
    }
    for (const { op, exportName } of operations) {
      const key = qualifiedName(op);
      const earlier = origins.get(key);
      const existing = registry.get(key);
      if (existing === op) continue;
      if (earlier !== undefined || existing !== undefined) {
        const first =
          earlier === undefined
            ? 'run-graph itself (a built-in operation)'
            : `'${earlier.module}' (export '${earlier.exportName}')`;
        throw new RunGraphError(
          'E_DUPLICATE_OPERATION',
          `operation ${key} is defined twice: by ${first} and by '${given}' (export '${exportName}')`,
          {
            ...where,
            field,
            value: key,
            hint:
              earlier === undefined
                ? 'give your operation its own namespace'
                : 'keep one definition, or give one of them another namespace or name',
          },
        );
      }
      try {
        registry.register(op);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new RunGraphError(
          'E_OPERATION_DEFINITION',
          `operation module '${given}', export '${exportName}': ${message}`,
          { ...where, field, value: key, cause: error },
        );
      }
      origins.set(key, { module: given, exportName });
    }
  }
}
