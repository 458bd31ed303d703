/**
 * Where a JSON text stops being JSON. `JSON.parse` says so for most errors,
 * but Node 20's V8 reports an unexpected token (a trailing comma in a list,
 * `tru`) and an early end without any position, quoting the raw text
 * instead; this small scanner finds the offset so every syntax error can
 * name its line and column.
 */

/** Offset of the first syntax error in `text`, or undefined if it is valid JSON (or too deep to scan). */
export function jsonSyntaxErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxAt(i);
  };
  const skipWhitespace = (): void => {
    while (/[ \t\n\r]/.test(text.charAt(i))) i++;
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text.charAt(i) !== ch) fail();
      i++;
    }
  };
  const string = (): void => {
    literal('"');
    for (;;) {
      const ch = text.charAt(i);
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === '' || ch < ' ') fail();
      if (ch === '\\') {
        i++;
        const escape = text.charAt(i);
        if (escape === 'u') {
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/[0-9a-fA-F]/.test(text.charAt(i))) fail();
          }
        } else if (escape === '' || !'"\\/bfnrt'.includes(escape)) {
          fail();
        }
      }
      i++;
    }
  };
  const value = (): void => {
    skipWhitespace();
    const ch = text.charAt(i);
    if (ch === '{' || ch === '[') {
      const close = ch === '{' ? '}' : ']';
      i++;
      skipWhitespace();
      if (text.charAt(i) === close) {
        i++;
        return;
      }
      for (;;) {
        if (close === '}') {
          skipWhitespace();
          string();
          skipWhitespace();
          literal(':');
        }
        value();
        skipWhitespace();
        if (text.charAt(i) !== ',') break;
        i++;
      }
      literal(close);
    } else if (ch === '"') {
      string();
    } else if (ch === 't' || ch === 'f' || ch === 'n') {
      literal(ch === 't' ? 'true' : ch === 'f' ? 'false' : 'null');
    } else {
      const number = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
      if (number === null) fail();
      i += number?.[0].length ?? 0;
    }
  };
  try {
    value();
    skipWhitespace();
    if (i < text.length) fail();
    return undefined;
  } catch (error) {
    if (error instanceof SyntaxAt) return error.offset;
    return undefined;
  }
}

class SyntaxAt {
  constructor(readonly offset: number) {}
}
