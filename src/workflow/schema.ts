/**
 * Validation of workflow files against `schemas/workflow.schema.json`, the
 * same schema an editor uses through `"$schema"`. The schema is compiled
 * once per process, on first use.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { RunGraphError } from '../errors.js';

/** Absolute path of a schema shipped in the package's `schemas/` folder. */
export function schemaPath(name: string): string {
  // dist/workflow/schema.js and src/workflow/schema.ts both sit two levels below the package root.
  return fileURLToPath(new URL(`../../schemas/${name}`, import.meta.url));
}

const compiled = new Map<string, ValidateFunction>();

function validatorFor(name: string): ValidateFunction {
  let validate = compiled.get(name);
  if (validate === undefined) {
    // validateSchema off: checking our own shipped schema against the 2020-12
    // meta-schema means compiling the meta-schema, ~100 ms of every start.
    // Strict mode still rejects unknown keywords and malformed rules.
    const ajv = new Ajv2020({ allErrors: false, strict: true, strictRequired: false, strictTypes: false, validateSchema: false });
    validate = ajv.compile(JSON.parse(readFileSync(schemaPath(name), 'utf8')) as object);
    compiled.set(name, validate);
  }
  return validate;
}

/** `/nodes/3/input/data/1` -> `nodes[3].input.data[1]`. */
export function instancePathToField(instancePath: string): string {
  let out = '';
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out === '' ? key : `.${key}`;
  }
  return out;
}

function describeSchemaError(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return `unknown property '${String(params['additionalProperty'])}'`;
    case 'required':
      return `missing required property '${String(params['missingProperty'])}'`;
    case 'pattern':
      return `does not match the pattern ${String(params['pattern'])}`;
    default:
      return error.message ?? `fails the schema's '${error.keyword}' rule`;
  }
}

/** Where a schema error points: the path inside the document, and the value found there. */
export interface SchemaProblem {
  instancePath: string;
  message: string;
}

/** Validate a parsed document against a shipped schema; returns the first problem, or undefined. */
export function findSchemaProblem(schemaName: string, document: unknown): SchemaProblem | undefined {
  const validate = validatorFor(schemaName);
  if (validate(document)) return undefined;
  const errors = validate.errors ?? [];
  // The deepest error is the most specific one; if/then/else wrappers come after the cause.
  const error = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length).find((e) => e.keyword !== 'if') ?? errors[0];
  if (error === undefined) return { instancePath: '', message: 'does not match the schema' };
  return { instancePath: error.instancePath, message: describeSchemaError(error) };
}

/** Throw E_WORKFLOW_SCHEMA for the first schema problem of a document. */
export function assertMatchesSchema(schemaName: string, document: unknown, file: string | undefined): void {
  const problem = findSchemaProblem(schemaName, document);
  if (problem === undefined) return;
  const field = instancePathToField(problem.instancePath);
  throw new RunGraphError('E_WORKFLOW_SCHEMA', `${field === '' ? 'the document' : field} ${problem.message}`, {
    ...(file === undefined ? {} : { file }),
    ...(field === '' ? {} : { field }),
    hint: `see ${schemaName}`,
  });
}
