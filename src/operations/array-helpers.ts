/**
 * Helpers the array operations share: turning an input (a reference or a
 * literal list) into an array at run time, and shape checks.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { allocArray, type ArrayValue } from '../values/npy.js';
import { arrayFromNestedList, literalArrayType } from '../values/values.js';
import { inputError, isIntegerDtype } from './check.js';
import { isInputRef, type ArtifactRef, type CheckSite, type InputTree } from './operation.js';

/** The array an input holds at run time: a loaded upstream artifact or a literal list. */
export async function resolveArray(
  value: InputTree<ArtifactRef> | undefined,
  field: string,
  label: string,
): Promise<ArrayValue> {
  if (value !== undefined && isInputRef(value)) return value.array();
  const site = { node: label, field };
  const literal = value as JsonValue;
  const { dtype } = literalArrayType(literal, site);
  return arrayFromNestedList(literal, dtype === 'int64' ? 'int64' : 'float64', site);
}

export function isIntegerArray(value: ArrayValue): boolean {
  return isIntegerDtype(value.dtype);
}

export function toInt64(value: ArrayValue): ArrayValue<'int64'> {
  if (value.dtype === 'int64') return value as ArrayValue<'int64'>;
  const out = allocArray('int64', value.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = BigInt(value.data[i] as number);
  return out;
}

export function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[] | null): string {
  return shape === null ? '[?]' : `[${shape.join(', ')}]`;
}

/** An axis must name a dimension of the array (a scalar counts as rank 1). */
export function checkAxis(axis: number, rank: number | null, site: CheckSite): void {
  if (axis < 0 || (rank !== null && axis >= Math.max(rank, 1))) {
    throw inputError(
      site,
      'input.axis',
      'E_INPUT_SHAPE',
      `axis ${axis} is out of range for an array of rank ${rank ?? '?'}`,
      axis,
    );
  }
}

/** Inputs read at once by a fan-in: enough to keep the disk busy, far below any open-file limit. */
const READS_IN_FLIGHT = 16;

/**
 * Every array a list input holds, read at most READS_IN_FLIGHT at a time: a
 * fan-in over 100,000 upstream nodes must not open 100,000 files at once.
 */
export async function resolveArrays(
  list: readonly InputTree<ArtifactRef>[],
  field: string,
  label: string,
): Promise<ArrayValue[]> {
  const arrays: ArrayValue[] = new Array<ArrayValue>(list.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const k = next++;
      arrays[k] = await resolveArray(list[k], `${field}[${k}]`, label);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, list.length) }, worker));
  return arrays;
}
