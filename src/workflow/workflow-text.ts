/**
 * Reading the bytes of a workflow file into its document, with each long
 * list of plain numbers given to a node's input (`nodes[i].input.<field>`:
 * a literal array) kept as a NumberList, its text, instead of millions of
 * JavaScript values. A 5-million-element literal is then the file's bytes
 * and, when it runs, one typed array, rather than a decoded copy of the
 * text, the parsed values and what is derived from them.
 *
 * The long lists are cut out of the text and each replaced by a string no
 * file holds (it carries a random nonce); the rest, a few kilobytes, is
 * parsed as every JSON text is (parseJsonExactly), and the placeholders are
 * then put back: as NumberLists where a node's input field is the list, as
 * the values parseJsonExactly reads from the list's text anywhere else. So
 * every value is what reading the whole text would give. A text the cut
 * version of which does not parse is read whole, so its syntax error is
 * reported where it is in the file.
 */
import { randomBytes } from 'node:crypto';
import { parseJsonExactly } from '../identity/json-text.js';
import { NumberList, scanNumberList } from '../identity/number-list.js';
import { isScalemsDocument } from './scalems.js';

/** Lists of more numbers than this are kept as text; shorter ones are read as values, as before. */
export const KEPT_LIST_MIN = 4096;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x5b;

/** Where the string opening at `open` closes, or -1. */
function closingQuote(bytes: Uint8Array, open: number): number {
  let close = bytes.indexOf(QUOTE, open + 1);
  for (;;) {
    if (close < 0) return -1;
    let backslashes = 0;
    while (bytes[close - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close;
    close = bytes.indexOf(QUOTE, close + 1);
  }
}

/** An object as parsed JSON makes (not a JsonFloat, not a NumberList). */
function isPlainObject(value: unknown): value is { [key: string]: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Parse a workflow file's bytes (UTF-8), every number exact, long number
 * lists of node inputs kept as NumberLists. Invalid text throws the error
 * parseJsonExactly throws for the whole text.
 */
export function parseWorkflowBytes(bytes: Buffer): unknown {
  const lists: NumberList[] = [];
  const pieces: string[] = [];
  const marker = `\u0000run-graph-list-${randomBytes(12).toString('hex')}-`;
  let copied = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      i = closingQuote(bytes, i);
      if (i < 0) break;
    } else if (c === OPEN) {
      const list = scanNumberList(bytes, i);
      if (list === undefined) continue;
      if (list.length > KEPT_LIST_MIN) {
        pieces.push(bytes.toString('utf8', copied, i), JSON.stringify(`${marker}${lists.length}`));
        lists.push(new NumberList(bytes.subarray(i, list.close + 1), list.length, list.spelling));
        copied = list.close + 1;
      }
      i = list.close;
    }
  }
  if (lists.length === 0) return parseJsonExactly(bytes.toString('utf8'));
  pieces.push(bytes.toString('utf8', copied));
  let document: unknown;
  try {
    document = parseJsonExactly(pieces.join(''));
  } catch {
    return parseJsonExactly(bytes.toString('utf8'));
  }
  const listAt = (value: unknown): NumberList | undefined => {
    if (typeof value !== 'string' || !value.startsWith(marker)) return undefined;
    return lists[Number(value.slice(marker.length))];
  };
  // A node's input field keeps its list (not in a SCALE-MS document, converted first); every other place gets the values.
  if (isPlainObject(document) && Array.isArray(document['nodes']) && !isScalemsDocument(document)) {
    for (const node of document['nodes'] as unknown[]) {
      if (!isPlainObject(node) || !isPlainObject(node['input'])) continue;
      const input = node['input'];
      for (const [field, value] of Object.entries(input)) {
        const list = listAt(value);
        if (list !== undefined) input[field] = list;
      }
    }
  }
  const restore = (value: unknown): unknown => {
    const list = listAt(value);
    if (list !== undefined) return list.values();
    if (Array.isArray(value)) for (let i = 0; i < value.length; i++) value[i] = restore(value[i]);
    else if (isPlainObject(value)) for (const [key, child] of Object.entries(value)) value[key] = restore(child);
    return value;
  };
  return restore(document);
}
