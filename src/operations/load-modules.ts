/**
 * Operation modules: JavaScript modules a workflow file names in
 * `"operations": ["./my-ops.js"]`, resolved relative to the workflow file.
 * Every export that is an operation is registered (a default export may also
 * be an array of operations). A module that cannot be loaded, exports no
 * operation, or defines a name that is already taken is an error naming the
 * workflow file, the module and the operation.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
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
 * Why a module did not load, in words that lead to the fix. A module that
 * exists but imports a package Node cannot find (most often `run-graph`
 * itself, for a module beside a workflow with no `node_modules`) says which
 * package and where Node looked, not "no such file": ERR_MODULE_NOT_FOUND
 * is the code of both, and its message names the importing module too.
 */
function loadFailure(
  error: unknown,
  given: string,
  path: string,
  where: { file?: string; field: string },
): RunGraphError {
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  const notFound = (error as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND';
  const fail = (reason: string, hint: string): RunGraphError =>
    new RunGraphError('E_OPERATION_MODULE', `cannot load operation module '${given}' (${shownPath(path)}): ${reason}`, {
      ...where,
      value: given,
      hint,
      cause: error,
    });
  if (notFound && !existsSync(path))
    return fail(
      'no such file',
      'paths in "operations" are relative to the workflow file; a TypeScript module must be compiled to .js first',
    );
  const missingPackage = notFound ? /Cannot find package '([^']+)'/.exec(message)?.[1] : undefined;
  if (missingPackage !== undefined) {
    const folder = dirname(path);
    return fail(
      `it imports package '${missingPackage}', which Node cannot find: there is no node_modules/${missingPackage} in ${folder} or any folder above it`,
      missingPackage === 'run-graph'
        ? `install run-graph where the module is: \`npm install run-graph\` (or \`npm install <path of a run-graph checkout>\`, or \`npm link run-graph\`) in ${folder} or a folder above it; NODE_PATH does not help, ES module imports ignore it`
        : `install it where the module is: \`npm install ${missingPackage}\` in ${folder} or a folder above it; NODE_PATH does not help, ES module imports ignore it`,
    );
  }
  if (notFound) return fail(message, 'a module it imports is missing: check the paths of its imports');
  return fail(message, 'run the module with node to see the full error');
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
      throw loadFailure(error, given, path, { ...where, field });
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
