/**
 * Build step (`npm run build` runs it after tsc): compile every schema in
 * `schemas/` into a standalone validator module under
 * `dist/workflow/precompiled/`, so that no run pays for compiling a schema
 * (see schema.ts). Each module records the sha256 of the schema text it was
 * compiled from; a module for another version of its schema is ignored.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standalone from 'ajv/dist/standalone/index.js';
import { AJV_OPTIONS, precompiledPath, schemaDigest, schemaPath } from './schema.js';

const names = readdirSync(dirname(schemaPath('x'))).filter((name) => name.endsWith('.schema.json'));
for (const name of names) {
  const text = readFileSync(schemaPath(name), 'utf8');
  const ajv = new Ajv2020({ ...AJV_OPTIONS, code: { source: true } });
  const code = standalone.default(ajv, ajv.compile(JSON.parse(text) as object));
  const target = precompiledPath(name);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, `${code}\nmodule.exports.schemaSha256 = ${JSON.stringify(schemaDigest(text))};\n`);
}
console.log(`compiled ${names.length} schema${names.length === 1 ? '' : 's'} into ${dirname(precompiledPath('x'))}`);
