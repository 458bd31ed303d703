/**
 * Typed ports: the inputs and outputs an operation made with
 * `defineOperation` declares, each with a dtype and a shape. One declaration
 * serves three purposes:
 *
 * - the TypeScript types of `run`'s argument and result (`InputValues`,
 *   `OutputValues`), so a wrong type is a compile error;
 * - the static check of a workflow before anything runs (a literal of the
 *   wrong shape, a reference to an output of another dtype);
 * - the conversions at run time, from stored artifacts to plain values and
 *   back.
 *
 * | dtype     | shape `[]` (scalar)          | other shapes                   |
 * |-----------|------------------------------|--------------------------------|
 * | `int64`   | `bigint` (returns: or number)| `ArrayValue<'int64'>`          |
 * | `float64` | `number`                     | `ArrayValue<'float64'>`        |
 * | `bool`    | `boolean`                    | `ArrayValue<'bool'>`           |
 * | `string`  | `string` (the default shape) | nested `string[]` by rank      |
 * | `json`    | any plain JSON value (no shape)                               |
 * | `file`    | `InputFile` in, `OutputFile` out (no shape)                   |
 *
 * Outputs may also be returned as nested lists, which are checked against
 * the declared shape.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { assertPlainJson, type JsonValue } from '../identity/canonical-json.js';
import { fitsInt64, type JsonFloat } from '../identity/json-numbers.js';
import { RunGraphError, assertNever, describeValue } from '../errors.js';
import { allocArray, type ArrayValue, type Dtype } from '../values/npy.js';
import { describeRaggedItem, describeType, findNestedShape, toFloat64, type ValueType } from '../values/values.js';
import { inputError } from './check.js';
import {
  isFileInput,
  isInputRef,
  type CheckSite,
  type InputTree,
  type OperationOutputs,
  type OutputValue,
  type TypedRef,
} from './operation.js';

/** Every dtype a port can declare. */
export const PORT_DTYPES = ['int64', 'float64', 'bool', 'string', 'json', 'file'] as const;

/** The dtype of a port: how its values are stored and what type `run` sees. */
export type PortDtype = (typeof PORT_DTYPES)[number];

/** Dtypes stored as NumPy arrays. */
export type NumericDtype = 'int64' | 'float64' | 'bool';

/** A declared shape: `[]` is a scalar; `null` is a dimension of any length. */
export type Dims = readonly (number | null)[];

/** One input or output of an operation. */
export interface PortDeclaration {
  readonly dtype: PortDtype;
  /**
   * Shape, outer dimension first. Default: any shape for `int64`, `float64`
   * and `bool`; `[]` (one string) for `string`. Not allowed for `json` and
   * `file`.
   */
  readonly shape?: Dims;
  /** Inputs only: the input may be left out, and `run` then gets `undefined`. Default: false. */
  readonly optional?: boolean;
  /** What the port holds, for people. Default: none. */
  readonly description?: string;
}

/** The inputs or the outputs of an operation, by name. */
export type PortDeclarations = { readonly [name: string]: PortDeclaration };

/** A file given to `run`: the absolute path of an upstream artifact or of a `$file` beside the workflow. */
export interface InputFile {
  readonly kind: 'file';
  readonly path: string;
}

/** A file `run` wrote into its store directory (`context.storeDir`), by its path relative to it. */
export interface OutputFile {
  readonly file: string;
}

/** A scalar or a list of lists of any depth. */
export type NestedList<T> = T | NestedList<T>[];

type ShapeOf<P> = P extends { readonly shape: infer S extends Dims } ? S : undefined;

/** `T` nested once per dimension of `S`; any depth when `S` is not a literal tuple. */
export type Nest<T, S> = S extends readonly []
  ? T
  : S extends readonly [unknown, ...infer Rest]
    ? Nest<T, Rest>[]
    : NestedList<T>;

type ScalarIn<D> = D extends 'int64' ? bigint : D extends 'float64' ? number : D extends 'bool' ? boolean : never;
type ScalarOut<D> = D extends 'int64' ? bigint | number : ScalarIn<D>;
// An int64 literal past 2^53 is a bigint (a number would have lost digits already); a float64 one may be a JsonFloat.
type ScalarLiteral<D> = D extends 'bool' ? boolean : D extends 'int64' ? number | bigint : number | JsonFloat;
type StringShape<P> = ShapeOf<P> extends undefined ? readonly [] : ShapeOf<P>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** What `run` receives for a port. */
export type InputValue<P extends PortDeclaration> = P['dtype'] extends 'json'
  ? JsonValue
  : P['dtype'] extends 'file'
    ? InputFile
    : P['dtype'] extends 'string'
      ? Nest<string, StringShape<P>>
      : P['dtype'] extends NumericDtype
        ? ShapeOf<P> extends readonly []
          ? ScalarIn<P['dtype']>
          : ArrayValue<P['dtype']>
        : never;

/** What `run` may return for a port. */
export type OutputValueOf<P extends PortDeclaration> = P['dtype'] extends 'json'
  ? JsonValue
  : P['dtype'] extends 'file'
    ? OutputFile
    : P['dtype'] extends 'string'
      ? Nest<string, StringShape<P>>
      : P['dtype'] extends NumericDtype
        ? ShapeOf<P> extends readonly []
          ? ScalarOut<P['dtype']>
          : ArrayValue<P['dtype']> | Nest<ScalarOut<P['dtype']>, ShapeOf<P>>
        : never;

/** The literal a workflow (or a graph builder) may give for an input port. */
export type LiteralInput<P extends PortDeclaration> = P['dtype'] extends 'json'
  ? JsonValue
  : P['dtype'] extends 'file'
    ? FileLiteral
    : P['dtype'] extends 'string'
      ? Nest<string, StringShape<P>>
      : P['dtype'] extends NumericDtype
        ? Nest<ScalarLiteral<P['dtype']>, ShapeOf<P>>
        : never;

/** A file beside the workflow, hashed by content: what `{"$file": path}` is in a workflow file. */
export interface FileLiteral {
  readonly $file: string;
}

/** Dtypes of upstream outputs an input of dtype `D` accepts. */
export type AcceptedDtype<D extends PortDtype> = D extends 'int64'
  ? 'int64'
  : D extends 'float64'
    ? 'float64' | 'int64'
    : D extends 'bool'
      ? 'bool'
      : D extends 'string'
        ? 'string'
        : D extends 'json'
          ? 'json' | 'string'
          : PortDtype;

type OptionalKeys<T extends PortDeclarations> = {
  [K in keyof T]: T[K] extends { readonly optional: true } ? K : never;
}[keyof T];
type RequiredKeys<T extends PortDeclarations> = Exclude<keyof T, OptionalKeys<T>>;

/** The argument of `run`: one value per declared input; optional ones may be undefined. */
export type InputValues<I extends PortDeclarations> = Simplify<
  { -readonly [K in RequiredKeys<I>]: InputValue<I[K]> } & {
    -readonly [K in OptionalKeys<I>]?: InputValue<I[K]> | undefined;
  }
>;

/** The result of `run`: one value per declared output. */
export type OutputValues<O extends PortDeclarations> = { -readonly [K in keyof O]: OutputValueOf<O[K]> };

const PORT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Output names whose artifact file would clobber a file run-graph keeps in every store. */
const RESERVED_OUTPUT_NAMES: ReadonlySet<string> = new Set(['metadata', 'owner', 'lock', 'checkpoint']);
const PORT_KEYS: ReadonlySet<string> = new Set(['dtype', 'shape', 'optional', 'description']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Where a declaration is, for errors: the operation's name and the field inside the definition. */
export interface DeclarationSite {
  readonly operation: string;
}

function declarationError(
  site: DeclarationSite,
  field: string,
  message: string,
  value: unknown,
  hint?: string,
): RunGraphError {
  return new RunGraphError('E_OPERATION_DEFINITION', `operation ${site.operation}: ${message}`, {
    field,
    value,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Check the `inputs` or `outputs` of a definition; throws E_OPERATION_DEFINITION naming the field and showing the value. */
export function validatePortDeclarations(
  kind: 'inputs' | 'outputs',
  declarations: unknown,
  site: DeclarationSite,
): PortDeclarations {
  if (!isPlainObject(declarations)) {
    throw declarationError(
      site,
      kind,
      `expected an object of port declarations, got ${describeValue(declarations)}`,
      declarations,
      `e.g. { x: { dtype: 'float64', shape: [3] } }`,
    );
  }
  const names = Object.keys(declarations);
  if (kind === 'outputs' && names.length === 0) {
    throw declarationError(
      site,
      kind,
      'expected at least one output, got none',
      declarations,
      'every node is a store of at least one artifact',
    );
  }
  for (const name of names) {
    const field = `${kind}.${name}`;
    if (!PORT_NAME.test(name)) {
      throw declarationError(
        site,
        field,
        `port name must start with a letter or '_' and hold only letters, digits and '_', got ${describeValue(name)}`,
        name,
      );
    }
    if (kind === 'outputs' && RESERVED_OUTPUT_NAMES.has(name)) {
      throw declarationError(
        site,
        field,
        `output name ${describeValue(name)} is reserved: its artifact would overwrite a file run-graph keeps in every store`,
        name,
        `reserved: ${[...RESERVED_OUTPUT_NAMES].join(', ')}`,
      );
    }
    validatePort(kind, declarations[name], site, field);
  }
  return declarations as PortDeclarations;
}

function validatePort(kind: 'inputs' | 'outputs', port: unknown, site: DeclarationSite, field: string): void {
  if (!isPlainObject(port)) {
    throw declarationError(
      site,
      field,
      `expected a port declaration like { dtype: 'int64', shape: [2, 2] }, got ${describeValue(port)}`,
      port,
    );
  }
  for (const key of Object.keys(port)) {
    if (!PORT_KEYS.has(key))
      throw declarationError(
        site,
        `${field}.${key}`,
        `unknown property '${key}'; a port declares ${[...PORT_KEYS].join(', ')}`,
        key,
      );
  }
  const dtype = port['dtype'];
  if (typeof dtype !== 'string' || !(PORT_DTYPES as readonly string[]).includes(dtype)) {
    throw declarationError(
      site,
      `${field}.dtype`,
      `expected one of ${PORT_DTYPES.join(', ')}, got ${describeValue(dtype)}`,
      dtype,
    );
  }
  const shape = port['shape'];
  if (shape !== undefined) {
    if (dtype === 'json' || dtype === 'file') {
      throw declarationError(
        site,
        `${field}.shape`,
        `a ${dtype} port has no shape, got ${describeValue(shape)}`,
        shape,
      );
    }
    if (!Array.isArray(shape))
      throw declarationError(
        site,
        `${field}.shape`,
        `expected a list of dimensions (non-negative integers or null), got ${describeValue(shape)}`,
        shape,
      );
    shape.forEach((dim: unknown, i) => {
      if (dim !== null && !(typeof dim === 'number' && Number.isSafeInteger(dim) && dim >= 0)) {
        throw declarationError(
          site,
          `${field}.shape[${i}]`,
          `expected a non-negative integer or null, got ${describeValue(dim)}`,
          dim,
        );
      }
    });
  }
  const optional = port['optional'];
  if (optional !== undefined && typeof optional !== 'boolean') {
    throw declarationError(site, `${field}.optional`, `expected a boolean, got ${describeValue(optional)}`, optional);
  }
  if (optional === true && kind === 'outputs') {
    throw declarationError(
      site,
      `${field}.optional`,
      'outputs cannot be optional: a committed store holds every declared output',
      optional,
    );
  }
  const description = port['description'];
  if (description !== undefined && typeof description !== 'string') {
    throw declarationError(
      site,
      `${field}.description`,
      `expected a string, got ${describeValue(description)}`,
      description,
    );
  }
}

function isNumeric(dtype: PortDtype): dtype is NumericDtype {
  return dtype === 'int64' || dtype === 'float64' || dtype === 'bool';
}

/** The declared shape, with the string default applied; undefined means any shape. */
function declaredShape(port: PortDeclaration): Dims | undefined {
  return port.dtype === 'string' ? (port.shape ?? []) : port.shape;
}

/** `int64 [2, 2]`, `float64 [any]`, `string`, `json`, `file`. */
export function describePort(port: PortDeclaration): string {
  const shape = declaredShape(port);
  if (shape === undefined || (port.dtype === 'string' && shape.length === 0)) return port.dtype;
  return `${port.dtype} [${shape.map((d) => (d === null ? 'any' : String(d))).join(', ')}]`;
}

/** The engine's type of a value a port produces, for the static check of downstream nodes. */
export function portValueType(port: PortDeclaration): ValueType {
  if (isNumeric(port.dtype)) {
    const shape = port.shape;
    const known = shape !== undefined && shape.every((d): d is number => d !== null);
    return { kind: 'array', dtype: port.dtype, shape: known ? [...(shape as number[])] : null };
  }
  return port.dtype === 'file' ? { kind: 'file' } : { kind: 'json' };
}

function shapeMatches(actual: readonly number[], declared: Dims | undefined): boolean {
  if (declared === undefined) return true;
  return actual.length === declared.length && declared.every((d, i) => d === null || d === actual[i]);
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

type ElementCheck = (value: unknown) => boolean;

const ELEMENT_CHECKS: { [D in NumericDtype | 'string']: { test: ElementCheck; what: string } } = {
  int64: {
    test: (v) => (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'bigint' && fitsInt64(v)),
    what: 'an integer within int64 (a bigint past 2^53)',
  },
  float64: {
    test: (v) => (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint',
    what: 'a finite number',
  },
  bool: { test: (v) => typeof v === 'boolean', what: 'a boolean' },
  string: { test: (v) => typeof v === 'string', what: 'a string' },
};

/** Shape of a rectangular nested list whose every element passes `test`, or a message saying where it is not. */
function nestedShape(value: unknown, test: ElementCheck, what: string): { shape: number[] } | { problem: string } {
  const found = findNestedShape(value, test);
  if ('shape' in found) return found;
  const { problem } = found;
  const at = problem.path || 'the top';
  return problem.kind === 'element'
    ? { problem: `expected ${what} at ${at}, got ${describeValue(problem.value)}` }
    : {
        problem: `ragged nested list: expected a list of length ${problem.expected} at ${at}, got ${describeRaggedItem(problem.value)}`,
      };
}

function flatten(value: unknown, out: unknown[]): void {
  if (Array.isArray(value)) for (const item of value) flatten(item, out);
  else out.push(value);
}

/**
 * Static check of one input against its declaration: a literal of the right
 * dtype and shape, a reference to an output of an accepted type, or (for a
 * file) a `$file`. Throws E_INPUT_TYPE or E_INPUT_SHAPE naming node and field.
 */
export function checkInputPort(
  port: PortDeclaration,
  value: InputTree<TypedRef>,
  site: CheckSite,
  field: string,
): void {
  const expected = describePort(port);
  if (isInputRef(value)) {
    const type = value.type;
    const got = `'${value.label}.${value.output}' (${describeType(type)})`;
    const where = `${value.label}.${value.output}`;
    function mismatch(code: 'E_INPUT_TYPE' | 'E_INPUT_SHAPE', hint?: string): never {
      throw inputError(site, field, code, `expected ${expected}, got a reference to ${got}`, where, hint);
    }
    if (port.dtype === 'file') return;
    if (isNumeric(port.dtype)) {
      if (type.kind !== 'array') mismatch('E_INPUT_TYPE');
      if (type.dtype !== null && !refDtypeAccepted(port.dtype, type.dtype))
        mismatch(
          'E_INPUT_TYPE',
          port.dtype === 'float64' ? undefined : `an ${port.dtype} input takes ${port.dtype} arrays only`,
        );
      if (type.shape !== null && !shapeMatches(type.shape, port.shape)) mismatch('E_INPUT_SHAPE');
      return;
    }
    if (type.kind !== 'json') mismatch('E_INPUT_TYPE');
    return;
  }
  if (port.dtype === 'file') {
    if (!isFileInput(value)) {
      throw inputError(
        site,
        field,
        'E_INPUT_TYPE',
        `expected a file (a {"$file": ...} or a reference to an upstream output), got ${describeValue(value)}`,
        value,
        'paths enter a uid by content only through {"$file": "path"}',
      );
    }
    return;
  }
  if (isFileInput(value))
    throw inputError(site, field, 'E_INPUT_TYPE', `expected ${expected}, got the file '${value.given}'`, value.given);
  if (containsSpecial(value)) {
    throw inputError(
      site,
      field,
      'E_INPUT_TYPE',
      `expected ${expected}: a literal, or one reference; references or files inside a literal are not supported here`,
      undefined,
      'pass the whole input as one reference',
    );
  }
  if (port.dtype === 'json') return;
  const { test, what } = ELEMENT_CHECKS[port.dtype];
  const found = nestedShape(value, test, what);
  if ('problem' in found)
    throw inputError(site, field, 'E_INPUT_TYPE', `expected ${expected}: ${found.problem}`, value);
  if (!shapeMatches(found.shape, declaredShape(port))) {
    throw inputError(
      site,
      field,
      'E_INPUT_SHAPE',
      `expected ${expected}, got a literal of shape ${formatShape(found.shape)}`,
      value,
    );
  }
}

function refDtypeAccepted(declared: NumericDtype, actual: Dtype): boolean {
  switch (declared) {
    case 'int64':
      return actual === 'int64' || actual === 'int32' || actual === 'uint8';
    case 'float64':
      return actual !== 'bool';
    case 'bool':
      return actual === 'bool';
    default:
      return assertNever(declared, 'numeric dtype');
  }
}

function containsSpecial(value: InputTree<unknown>): boolean {
  if (Array.isArray(value)) return value.some(containsSpecial);
  if (typeof value !== 'object' || value === null) return false;
  if (isInputRef(value as InputTree<TypedRef>) || isFileInput(value as InputTree<TypedRef>)) return true;
  return Object.values(value as { [key: string]: InputTree<unknown> }).some(containsSpecial);
}

/** A committed artifact as a run-time input reads it. */
export interface ArtifactSource {
  /** Absolute path of the artifact. */
  readonly path: string;
  array(): Promise<ArrayValue>;
  json(): Promise<JsonValue>;
}

/** Where a value is converted, for errors at run time. */
export interface ValueSite {
  readonly node: string;
  readonly field: string;
}

function runError(site: ValueSite, message: string, value?: unknown): RunGraphError {
  return new RunGraphError('E_NODE_FAILED', message, {
    node: site.node,
    field: site.field,
    ...(value === undefined ? {} : { value }),
  });
}

function arrayFromLiteral(
  port: PortDeclaration & { dtype: NumericDtype },
  value: unknown,
  site: ValueSite,
): ArrayValue {
  const { test, what } = ELEMENT_CHECKS[port.dtype];
  const found = nestedShape(value, test, what);
  if ('problem' in found) throw runError(site, `expected ${describePort(port)}: ${found.problem}`, value);
  if (!shapeMatches(found.shape, port.shape))
    throw runError(site, `expected ${describePort(port)}, got shape ${formatShape(found.shape)}`, value);
  const flat: unknown[] = [];
  flatten(value, flat);
  const array = allocArray(port.dtype, found.shape);
  flat.forEach((item, i) => {
    if (port.dtype === 'int64') {
      (array.data as BigInt64Array)[i] = typeof item === 'bigint' ? item : BigInt(item as number);
    } else if (port.dtype === 'bool') {
      (array.data as Uint8Array)[i] = item === true ? 1 : 0;
    } else {
      (array.data as Float64Array)[i] = Number(item as number | bigint);
    }
  });
  return array;
}

/** An array read from upstream, converted to the declared dtype and checked against the declared shape. */
function conformArray(port: PortDeclaration & { dtype: NumericDtype }, array: ArrayValue, site: ValueSite): ArrayValue {
  if (!refDtypeAccepted(port.dtype, array.dtype))
    throw runError(site, `expected ${describePort(port)}, got a ${array.dtype} array`);
  if (!shapeMatches(array.shape, port.shape))
    throw runError(site, `expected ${describePort(port)}, got an array of shape ${formatShape(array.shape)}`);
  if (array.dtype === port.dtype) return array;
  if (port.dtype === 'float64') return toFloat64(array);
  const out = allocArray('int64', array.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = BigInt(array.data[i] as number);
  return out;
}

function scalarOf(array: ArrayValue): bigint | number | boolean {
  const first = array.data[0];
  if (array.dtype === 'bool') return first === 1;
  return first as bigint | number;
}

function checkNestedStrings(port: PortDeclaration, value: unknown, site: ValueSite): JsonValue {
  const found = nestedShape(value, ELEMENT_CHECKS.string.test, ELEMENT_CHECKS.string.what);
  if ('problem' in found) throw runError(site, `expected ${describePort(port)}: ${found.problem}`, value);
  if (!shapeMatches(found.shape, declaredShape(port)))
    throw runError(site, `expected ${describePort(port)}, got shape ${formatShape(found.shape)}`, value);
  return value as JsonValue;
}

/**
 * The run-time value of one input: a literal converted to the declared form,
 * or an upstream artifact loaded and converted. Errors fail the node, naming
 * the field.
 */
export async function inputPortValue(
  port: PortDeclaration,
  value: InputTree<ArtifactSource & TypedRef> | undefined,
  site: ValueSite,
): Promise<unknown> {
  if (value === undefined) return undefined;
  if (port.dtype === 'file') {
    if (isInputRef(value) || isFileInput(value)) return { kind: 'file', path: value.path } satisfies InputFile;
    throw runError(site, `expected a file, got ${describeValue(value)}`);
  }
  const ref = isInputRef(value) ? value : undefined;
  if (isNumeric(port.dtype)) {
    const numeric = port as PortDeclaration & { dtype: NumericDtype };
    const array =
      ref === undefined ? arrayFromLiteral(numeric, value, site) : conformArray(numeric, await ref.array(), site);
    return port.shape !== undefined && port.shape.length === 0 ? scalarOf(array) : array;
  }
  const json = ref === undefined ? (value as JsonValue) : await ref.json();
  return port.dtype === 'string' ? checkNestedStrings(port, json, site) : json;
}

/** The names a store reserves for run-graph, relative to the store directory. */
const RESERVED_STORE_FILES: ReadonlySet<string> = new Set([
  'metadata.json',
  'owner',
  'lock',
  'checkpoint',
  'lock.reclaim',
]);

/** One value `run` returned, checked against its declaration and turned into what the store commits. */
export async function outputPortValue(
  port: PortDeclaration,
  value: unknown,
  site: ValueSite,
  storeDir: string,
): Promise<OutputValue> {
  if (value === undefined)
    throw runError(site, `run did not return output '${site.field.replace(/^outputs\./, '')}' (${describePort(port)})`);
  if (isNumeric(port.dtype)) {
    const numeric = port as PortDeclaration & { dtype: NumericDtype };
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const array = value as Partial<ArrayValue>;
      if (typeof array.dtype !== 'string' || !Array.isArray(array.shape) || !ArrayBuffer.isView(array.data)) {
        throw runError(
          site,
          `expected ${describePort(port)} (an ArrayValue or a nested list), got ${describeValue(value)}`,
        );
      }
      if (array.dtype !== port.dtype)
        throw runError(site, `expected ${describePort(port)}, got a ${array.dtype} array`);
      if (!shapeMatches(array.shape, port.shape))
        throw runError(site, `expected ${describePort(port)}, got an array of shape ${formatShape(array.shape)}`);
      return { kind: 'array', value: value as ArrayValue };
    }
    return { kind: 'array', value: arrayFromLiteral(numeric, value, site) };
  }
  if (port.dtype === 'file') {
    const file = (value as Partial<OutputFile> | null)?.file;
    if (typeof file !== 'string' || file === '' || isAbsolute(file) || normalize(file).startsWith('..')) {
      throw runError(
        site,
        `expected { file: 'name' }, a path relative to the store directory, got ${describeValue(file ?? value)}`,
        file,
      );
    }
    const top = normalize(file).split('/')[0] ?? '';
    if (RESERVED_STORE_FILES.has(top) || top.startsWith('.rg-'))
      throw runError(site, `'${file}' is a name run-graph keeps for itself in a store`, file);
    const found = await stat(join(storeDir, file)).catch(() => undefined);
    if (found === undefined || !found.isFile())
      throw runError(site, `output file '${file}' was not written to the store directory`, file);
    return { kind: 'file', path: normalize(file) };
  }
  if (port.dtype === 'string') return { kind: 'json', value: checkNestedStrings(port, value, site) };
  try {
    assertPlainJson(value, site.field);
  } catch (error) {
    throw runError(site, error instanceof RunGraphError ? error.message : String(error), undefined);
  }
  return { kind: 'json', value };
}

/** Convert everything `run` returned; an output missing or not declared fails the node. */
export async function outputPortValues(
  outputs: PortDeclarations,
  returned: unknown,
  node: string,
  storeDir: string,
): Promise<OperationOutputs> {
  if (!isPlainObject(returned)) {
    throw new RunGraphError(
      'E_NODE_FAILED',
      `run must return an object with the outputs ${Object.keys(outputs).join(', ')}, got ${describeValue(returned)}`,
      { node },
    );
  }
  const extra = Object.keys(returned).filter((name) => !(name in outputs));
  if (extra.length > 0) {
    throw new RunGraphError(
      'E_NODE_FAILED',
      `run returned outputs that are not declared: ${extra.join(', ')} (declared: ${Object.keys(outputs).join(', ')})`,
      { node, field: `outputs.${extra[0] ?? ''}` },
    );
  }
  const result: OperationOutputs = {};
  for (const [name, port] of Object.entries(outputs)) {
    result[name] = await outputPortValue(port, returned[name], { node, field: `outputs.${name}` }, storeDir);
  }
  return result;
}
