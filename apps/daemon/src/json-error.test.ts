import { describe, expect, it } from 'vitest';
import { jsonDepth, jsonSyntaxError, malformedJson } from './json-error.js';

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('jsonSyntaxError', () => {
  it('finds nothing wrong in what JSON.parse reads', () => {
    for (const text of [
      '{}',
      '[]',
      ' {"events": [1, -0.5e+3, "a\\u00e9\\n", true, false, null, {"a": [[]]}]} ',
      '"x"',
      '0',
      '[{"a":{}},{"b":[{}]}]',
    ]) {
      expect(parses(text)).toBe(true);
      expect(jsonSyntaxError(text)).toBeUndefined();
    }
  });

  it('names the offset, line and column of the first error', () => {
    const cases: [string, number, string][] = [
      ['', 0, 'unexpected the end of the text where a value should be'],
      ['{"events": [1,]}', 14, 'unexpected "]" where a value should be'],
      ['\ufeff{"events": []}', 0, 'unexpected U+FEFF where a value should be'],
      ['{"events": [NaN]}', 12, 'unexpected "N" where a value should be'],
      ['{"events": [01]}', 13, 'expected "," or "]", found "1"'],
      ['{"a" 1}', 5, 'expected ":", found "1"'],
      ['{a: 1}', 1, 'expected a property name in quotes, found "a"'],
      ['{"a": "x\u0000"}', 8, 'control character U+0000 inside a string'],
      ['{"a": "\\x"}', 7, 'invalid escape \\x'],
      ['{"a": "\\u12"}', 7, 'a \\u escape needs four hex digits'],
      ['{"a": "open', 11, 'the text ends inside a string'],
      ['[1] [2]', 4, 'unexpected "[" after the end of the document'],
      ['{"events": [\n  {"a": 1}\n  {"b": 2}]}', 26, 'expected "," or "]", found "{"'],
    ];
    for (const [text, offset, reason] of cases) {
      expect(parses(text)).toBe(false);
      expect(jsonSyntaxError(text)).toMatchObject({ offset, reason });
    }
    expect(jsonSyntaxError('{"events": [\n  {"a": 1}\n  {"b": 2}]}')).toMatchObject({
      line: 3,
      column: 3,
    });
  });

  it('scans a text nested 200 000 levels deep without recursion', () => {
    const deep = `${'['.repeat(200_000)}1${']'.repeat(200_000)}`;
    expect(jsonSyntaxError(deep)).toBeUndefined();
    expect(jsonDepth(deep)).toBe(200_000);
    expect(jsonSyntaxError(`${'['.repeat(200_000)}1`)).toMatchObject({ offset: 200_001 });
  });
});

describe('malformedJson', () => {
  it('says where a request body goes wrong, with an issue at /body', () => {
    const text = '\ufeff{"events": []}';
    const error = malformedJson(text, new SyntaxError('Unexpected token'), 'request body');
    expect(error.code).toBe('malformed_body');
    expect(error.message).toBe(
      'request body is not valid JSON: unexpected U+FEFF where a value should be at line 1, column 1 (offset 0)',
    );
    expect(error.issues).toEqual([
      {
        path: '/body',
        keyword: 'json',
        message: 'unexpected U+FEFF where a value should be at offset 0',
      },
    ]);
  });

  it('names the depth of a well-formed text too deep to parse', () => {
    const text = `{"events":[${'['.repeat(5)}${']'.repeat(5)}]}`;
    const error = malformedJson(
      text,
      new RangeError('Maximum call stack size exceeded'),
      'message',
    );
    expect(error.message).toBe(
      'message cannot be read: it is nested 7 levels deep (Maximum call stack size exceeded)',
    );
    expect(error.issues[0]).toMatchObject({ path: '/body', keyword: 'depth' });
  });
});
