/**
 * Validation of workflow files against `schemas/workflow.schema.json`, the
 * same schema an editor uses through `"$schema"`.
 *
 * Compiling the schema takes ajv some 30-50 ms, a large share of a no-op
 * resume of a thousand nodes. So `npm run build` compiles every shipped
 * schema ahead of time into a standalone validator (`compile-schemas.ts`),
 * tagged with the sha256 of the schema it was made from; a process loads it
 * in about a millisecond. Where there is none, or it was made from another
 * version of the schema (the library run from its TypeScript sources, or a
 * schema edited since the build), the schema is compiled on first use, as
 * before. Either way, once per process.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv2020 as Ajv2020Class, ErrorObject, Options, ValidateFunction } from 'ajv/dist/2020.js';
import { RunGraphError } from '../errors.js';

/** Absolute path of a schema shipped in the package's `schemas/` folder. */
export function schemaPath(name: string): string {
  // dist/workflow/schema.js and src/workflow/schema.ts both sit two levels below the package root.
  return fileURLToPath(new URL(`../../schemas/${name}`, import.meta.url));
}

/**
 * How every schema is compiled, ahead of time or not. validateSchema off:
 * checking our own shipped schema against the 2020-12 meta-schema means
 * compiling the meta-schema, ~100 ms of every start. Strict mode still
 * rejects unknown keywords and malformed rules.
 */
export const AJV_OPTIONS: Options = {
  allErrors: false,
  strict: true,
  strictRequired: false,
  strictTypes: false,
  validateSchema: false,
};

/** Where the build puts the precompiled validator of a schema, beside this module. */
export function precompiledPath(name: string): string {
  return fileURLToPath(new URL(`./precompiled/${name.replace(/\.schema\.json$/, '')}.validate.cjs`, import.meta.url));
}

export function schemaDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const compiled = new Map<string, ValidateFunction>();

/** The precompiled validator of schema `name`, if the build made one from a schema with this sha256. */
export function precompiledValidator(name: string, digest: string): ValidateFunction | undefined {
  const path = precompiledPath(name);
  if (!existsSync(path)) return undefined;
  const loaded = createRequire(import.meta.url)(path) as ValidateFunction & { schemaSha256?: string };
  return loaded.schemaSha256 === digest ? loaded : undefined;
}

/**
 * Compile a schema with ajv, loaded here and only here: ajv is some 80
 * modules, and loading them took about a third of what a no-op resume spends
 * starting up, where the precompiled validator needs none of it.
 */
function compileSchema(schema: object): ValidateFunction {
  const { Ajv2020 } = createRequire(import.meta.url)('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Class };
  return new Ajv2020(AJV_OPTIONS).compile(schema);
}

function validatorFor(name: string): ValidateFunction {
  let validate = compiled.get(name);
  if (validate === undefined) {
    const text = readFileSync(schemaPath(name), 'utf8');
    validate = precompiledValidator(name, schemaDigest(text)) ?? compileSchema(JSON.parse(text) as object);
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
  const error =
    [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length).find((e) => e.keyword !== 'if') ??
    errors[0];
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
