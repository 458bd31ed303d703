/** The static type of a value once references are resolved. */
import type { JsonValue } from '../identity/canonical-json.js';
import { isJsonNumber } from '../identity/json-numbers.js';
import { isFileInput, isInputRef, type InputTree, type ResolvedRef } from '../operations/operation.js';
import { literalArrayType, type ValueType } from '../values/values.js';

/** The type of a resolved value: a reference's type, a literal array's, or JSON. */
export function typeOfValue(value: InputTree<ResolvedRef>, node: string, field: string): ValueType {
  if (isInputRef(value)) return value.type;
  if (isFileInput(value)) return { kind: 'file' };
  if (
    isJsonNumber(value) ||
    (Array.isArray(value) && value.length > 0 && (isJsonNumber(value[0]) || Array.isArray(value[0])))
  ) {
    try {
      return literalArrayType(value as JsonValue, { node, field });
    } catch {
      return { kind: 'json' };
    }
  }
  return { kind: 'json' };
}
