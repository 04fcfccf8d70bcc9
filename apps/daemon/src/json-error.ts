import { DaemonError } from './errors.js';

/**
 * Where a JSON text goes wrong: the offset of its first syntax error (RFC 8259), or, for
 * a well-formed text, nothing. `JSON.parse`'s messages do not always say where (`Unexpected
 * end of JSON input`, `Unexpected token 'x', "x{"events""... is not valid JSON` for a text that starts with a byte order mark); this
 * scanner does, without recursion, so a text nested 100 000 levels deep is scanned too.
 */

/** The first syntax error of a JSON text. */
export interface JsonSyntaxError {
  /** UTF-16 offset into the text (the text's length when it ends too early). */
  readonly offset: number;
  /** 1-based line and column of `offset`. */
  readonly line: number;
  readonly column: number;
  readonly reason: string;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX = /^[0-9a-fA-F]{4}$/;

function at(text: string, offset: number, reason: string): JsonSyntaxError {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line += 1;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1, reason };
}

function describeChar(text: string, offset: number): string {
  if (offset >= text.length) return 'the end of the text';
  const code = text.codePointAt(offset)!;
  return code < 0x20 || code === 0xfeff || code > 0x7e
    ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
    : JSON.stringify(text[offset]);
}

/**
 * The first syntax error of `text` as JSON, or `undefined` if it is well-formed.
 *
 * @example
 * ```ts
 * jsonSyntaxError('{"events": [1,]}'); // { offset: 14, line: 1, column: 15, reason: 'unexpected "]" where a value should be' }
 * ```
 */
export function jsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const stack: ('{' | '[')[] = [];
  let i = 0;
  const skip = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  /** Reads a string at `i`; returns an error or advances past it. */
  const string = (): JsonSyntaxError | undefined => {
    i++; // the opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c < 0x20)
        return at(text, i, `control character ${describeChar(text, i)} inside a string`);
      if (c === 0x5c) {
        const next = text[i + 1];
        if (next === 'u') {
          if (!HEX.test(text.slice(i + 2, i + 6)))
            return at(text, i, 'a \\u escape needs four hex digits');
          i += 6;
        } else if (next !== undefined && ESCAPES.has(next)) i += 2;
        else return at(text, i, `invalid escape \\${next ?? ''}`);
        continue;
      }
      i++;
    }
    return at(text, text.length, 'the text ends inside a string');
  };
  /** Reads a value at `i`: a scalar is consumed, a container is opened. */
  const value = (): JsonSyntaxError | 'opened' | undefined => {
    skip();
    const c = text[i];
    if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      return 'opened';
    }
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return undefined;
      }
    }
    NUMBER.lastIndex = i;
    if (c !== undefined && NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return undefined;
    }
    return at(text, i, `unexpected ${describeChar(text, i)} where a value should be`);
  };

  let opened = value();
  if (opened !== undefined && opened !== 'opened') return opened;
  for (;;) {
    const top = stack.at(-1);
    if (top === undefined) break;
    skip();
    if (opened === 'opened') {
      // Just after `{` or `[`: the first member, or the end.
      opened = undefined;
      if (text[i] === (top === '{' ? '}' : ']')) {
        stack.pop();
        i++;
        continue;
      }
    } else {
      // After a member: `,` or the end.
      const c = text[i];
      if (c === (top === '{' ? '}' : ']')) {
        stack.pop();
        i++;
        continue;
      }
      if (c !== ',')
        return at(
          text,
          i,
          `expected "," or "${top === '{' ? '}' : ']'}", found ${describeChar(text, i)}`,
        );
      i++;
      skip();
    }
    if (top === '{') {
      if (text[i] !== '"')
        return at(text, i, `expected a property name in quotes, found ${describeChar(text, i)}`);
      const key = string();
      if (key !== undefined) return key;
      skip();
      if (text[i] !== ':') return at(text, i, `expected ":", found ${describeChar(text, i)}`);
      i++;
    }
    const result = value();
    if (result === 'opened') opened = 'opened';
    else if (result !== undefined) return result;
  }
  skip();
  if (i < text.length)
    return at(text, i, `unexpected ${describeChar(text, i)} after the end of the document`);
  return undefined;
}

/** The deepest nesting of a well-formed JSON text (for the message of a text too deep to parse). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') max = Math.max(max, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return max;
}

/**
 * The `malformed_body` error of a text `JSON.parse` refused (`what`: `request body`,
 * `message`), naming where: line, column and offset of the first syntax error, or the
 * depth of a well-formed text nested too deep to parse. Its issue points at `/body`.
 */
export function malformedJson(text: string, error: unknown, what: string): DaemonError {
  const syntax = jsonSyntaxError(text);
  const parser = error instanceof Error ? error.message : String(error);
  if (syntax !== undefined) {
    return new DaemonError(
      'malformed_body',
      `${what} is not valid JSON: ${syntax.reason} at line ${syntax.line}, column ${syntax.column} (offset ${syntax.offset})`,
      {
        issues: [
          {
            path: '/body',
            keyword: 'json',
            message: `${syntax.reason} at offset ${syntax.offset}`,
          },
        ],
      },
    );
  }
  const depth = jsonDepth(text);
  return new DaemonError(
    'malformed_body',
    `${what} cannot be read: it is nested ${depth} levels deep (${parser})`,
    {
      issues: [{ path: '/body', keyword: 'depth', message: `nested ${depth} levels deep` }],
    },
  );
}
