/**
 * Small checks built-in operations share: which fields an input may have,
 * and what a field that must be an array, a string or a list holds. Each
 * failure is a RunGraphError naming node and field.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { RunGraphError, describeValue, type ErrorCode } from '../errors.js';
import { describeType, literalArrayType, type ValueType } from '../values/values.js';
import {
  isFileInput,
  isInputRef,
  type CheckInput,
  type CheckSite,
  type InputTree,
  type TypedRef,
} from './operation.js';

export type ArrayType = ValueType & { kind: 'array' };

export function inputError(
  site: CheckSite,
  field: string,
  code: ErrorCode,
  message: string,
  value?: unknown,
  hint?: string,
): RunGraphError {
  return new RunGraphError(code, message, {
    ...(site.file === undefined ? {} : { file: site.file }),
    node: site.node,
    field,
    ...(value === undefined ? {} : { value }),
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Reject unknown fields and missing required ones. */
export function expectFields(
  input: CheckInput,
  site: CheckSite,
  required: readonly string[],
  optional: readonly string[] = [],
): void {
  for (const name of required) {
    if (!(name in input)) throw inputError(site, `input.${name}`, 'E_INPUT_TYPE', `missing required input '${name}'`);
  }
  const known = new Set([...required, ...optional]);
  for (const name of Object.keys(input)) {
    if (!known.has(name)) {
      const expected = [...known].map((k) => `'${k}'`).join(', ');
      throw inputError(
        site,
        `input.${name}`,
        'E_INPUT_TYPE',
        `unknown input '${name}'; this operation takes ${expected}`,
        name,
      );
    }
  }
}

function describeInput(value: InputTree<TypedRef>): string {
  if (isInputRef(value)) return `a reference to '${value.label}.${value.output}' (${describeType(value.type)})`;
  if (isFileInput(value)) return `the file '${value.given}'`;
  return describeValue(value);
}

/** An input that must be an array: a literal nested list of numbers or a reference to an array output. */
export function expectArray(value: InputTree<TypedRef> | undefined, site: CheckSite, field: string): ArrayType {
  if (value === undefined) throw inputError(site, field, 'E_INPUT_TYPE', 'missing array input');
  if (isInputRef(value)) {
    if (value.type.kind !== 'array') {
      throw inputError(
        site,
        field,
        'E_INPUT_TYPE',
        `expected an array, got ${describeInput(value)}`,
        `${value.label}.${value.output}`,
      );
    }
    return value.type;
  }
  if (isFileInput(value) || (typeof value !== 'number' && !Array.isArray(value))) {
    throw inputError(
      site,
      field,
      'E_INPUT_TYPE',
      `expected an array (a nested list of numbers or a reference), got ${describeInput(value)}`,
      value,
    );
  }
  return literalArrayType(value as JsonValue, { file: site.file, node: site.node, field });
}

/** An input that must be a literal non-negative integer. */
export function expectInteger(value: InputTree<TypedRef> | undefined, site: CheckSite, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw inputError(site, field, 'E_INPUT_TYPE', `expected an integer, got ${describeInput(value ?? null)}`, value);
  }
  return value;
}

/** An input that must be a literal string. */
export function expectString(value: InputTree<TypedRef> | undefined, site: CheckSite, field: string): string {
  if (typeof value !== 'string')
    throw inputError(site, field, 'E_INPUT_TYPE', `expected a string, got ${describeInput(value ?? null)}`, value);
  return value;
}

/** An input that must be a literal list. */
export function expectList(
  value: InputTree<TypedRef> | undefined,
  site: CheckSite,
  field: string,
): InputTree<TypedRef>[] {
  if (!Array.isArray(value))
    throw inputError(site, field, 'E_INPUT_TYPE', `expected a list, got ${describeInput(value ?? null)}`, value);
  return value;
}

/** An input that must be a literal object (not a reference). */
export function expectObject(
  value: InputTree<TypedRef> | undefined,
  site: CheckSite,
  field: string,
): { [key: string]: InputTree<TypedRef> } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isInputRef(value) || isFileInput(value)) {
    throw inputError(site, field, 'E_INPUT_TYPE', `expected an object, got ${describeInput(value ?? null)}`, value);
  }
  return value as { [key: string]: InputTree<TypedRef> };
}

/** An input that must name a file: a reference to any upstream output, or a `$file`. */
export function expectFileLike(value: InputTree<TypedRef> | undefined, site: CheckSite, field: string): void {
  if (value === undefined || !(isInputRef(value) || isFileInput(value))) {
    throw inputError(
      site,
      field,
      'E_INPUT_TYPE',
      `expected a file (a {"$ref": ...} to an upstream output or a {"$file": ...}), got ${describeInput(value ?? null)}`,
      value,
    );
  }
}

/** Result dtype of arithmetic on two numeric dtypes; null when either is unknown until run time. */
export function promoteDtype(a: ArrayType, b: ArrayType): 'int64' | 'float64' | null {
  if (a.dtype === null || b.dtype === null) return null;
  return isIntegerDtype(a.dtype) && isIntegerDtype(b.dtype) ? 'int64' : 'float64';
}

export function isIntegerDtype(dtype: string): boolean {
  return dtype === 'int64' || dtype === 'int32' || dtype === 'uint8' || dtype === 'bool';
}
