/**
 * Data operations: literal arrays written in the workflow (SCALE-MS's
 * Integer64 and Float64, whose records keep SCALE-MS's plain form so their
 * uids match it) and arrays read from an `.npy` file beside the workflow,
 * whose record holds the array's dtype, shape and data digest instead of the
 * numbers themselves.
 */
import { readFile } from 'node:fs/promises';
import type { JsonValue } from '../identity/canonical-json.js';
import { RunGraphError } from '../errors.js';
import { sha256Hex } from '../identity/fingerprint.js';
import { arrayBytes, decodeNpy } from '../values/npy.js';
import { NumberList } from '../identity/number-list.js';
import { arrayFromNestedList, arrayFromNumberList, checkNestedList, checkNumberList } from '../values/values.js';
import { expectFields, inputError } from './check.js';
import { isFileInput, isInputRef, type OperationDefinition } from './operation.js';

function literalArrayOperation(name: 'Integer64' | 'Float64', dtype: 'int64' | 'float64'): OperationDefinition {
  return {
    namespace: 'scalems',
    name,
    summary: `a literal ${dtype} array, written as a nested list in "data"`,
    defaultOutput: 'data',
    literalDtypes: { data: dtype },
    literalListsKept: true,
    check(input, site) {
      expectFields(input, site, ['data']);
      const data = input['data'];
      if (data === undefined || isInputRef(data) || isFileInput(data)) {
        throw inputError(
          site,
          'input.data',
          'E_INPUT_TYPE',
          `${name} data must be a literal nested list of numbers`,
          undefined,
          "to use another node's output, reference it where it is consumed",
        );
      }
      // Every element checked here, so a non-integer or inexact value is reported before the run.
      const where = { file: site.file, node: site.node, field: 'input.data' };
      const shape =
        data instanceof NumberList ? checkNumberList(data, where) : checkNestedList(data as JsonValue, dtype, where);
      return { data: { kind: 'array', dtype, shape } };
    },
    async run(input) {
      const data = input['data'];
      const value =
        data instanceof NumberList
          ? arrayFromNumberList(data)
          : arrayFromNestedList(data as JsonValue, dtype, { node: '', field: 'input.data' });
      return { data: { kind: 'array', value } };
    },
  };
}

export const integer64 = literalArrayOperation('Integer64', 'int64');
export const float64 = literalArrayOperation('Float64', 'float64');

/** An array from an `.npy` file of the workflow's directory: `{"file": {"$file": "data/x.npy"}}`. */
export const npyFile: OperationDefinition = {
  namespace: 'run-graph',
  name: 'NpyFile',
  version: '1',
  module: import.meta.url,
  inlineSmallInputs: true,
  summary: 'an array read from an .npy file, hashed by dtype, shape and data',
  defaultOutput: 'data',
  check(input, site) {
    expectFields(input, site, ['file']);
    const file = input['file'];
    if (file === undefined || !isFileInput(file)) {
      throw inputError(site, 'input.file', 'E_INPUT_TYPE', 'NpyFile needs {"file": {"$file": "path/to/array.npy"}}');
    }
    if (file.npy === undefined) {
      throw inputError(
        site,
        'input.file',
        'E_NPY_FORMAT',
        `'${file.given}' is not a readable .npy file`,
        file.given,
        'write it with numpy.save',
      );
    }
    return { data: { kind: 'array', dtype: file.npy.dtype, shape: file.npy.shape } };
  },
  async run(input) {
    const file = input['file'];
    if (file === undefined || !isFileInput(file))
      throw new RunGraphError('E_INPUT_TYPE', 'NpyFile lost its file input');
    const value = decodeNpy(await readFile(file.path), file.given);
    // The uid promises this content: refuse a file that changed since the graph was built.
    if (sha256Hex(arrayBytes(value)) !== file.npy?.dataSha256) {
      throw new RunGraphError('E_FILE_INPUT', `'${file.given}' changed after the graph was built`, {
        file: file.given,
        hint: 'run again to fingerprint the new content',
      });
    }
    return { data: { kind: 'array', value } };
  },
};
