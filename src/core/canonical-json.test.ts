/** RFC 8785 canonical JSON: exact encodings, and strict decoding that accepts only those bytes. */
import { describe, expect, it } from 'vitest';
import { expectCode } from '../../test/helpers/expect-code.js';
import { canonicalize, decodeCanonical, encodeCanonical } from './canonical-json.js';

const enc = new TextEncoder();

describe('canonicalize', () => {
  it('sorts keys by UTF-16 code units, escapes like JCS, keeps integers minimal', () => {
    expect(canonicalize({ b: 1, a: [true, false, null], 'é': 'x', Z: -0 })).toBe('{"Z":0,"a":[true,false,null],"b":1,"é":"x"}');
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FFFF in UTF-16 order
    expect(canonicalize({ '\uffff': 1, '\u{1f600}': 2 })).toBe('{"\u{1f600}":2,"\uffff":1}');
    expect(canonicalize('a"b\\c\n\u001f/\u2028')).toBe('"a\\"b\\\\c\\n\\u001f/\u2028"');
    expect(canonicalize([])).toBe('[]');
    expect(canonicalize({})).toBe('{}');
    expect(canonicalize({ gone: undefined, kept: 1 })).toBe('{"kept":1}');
    expect(Buffer.from(encodeCanonical({ s: 'ü' })).toString('hex')).toBe(Buffer.from('{"s":"ü"}').toString('hex'));
  });

  it('refuses what has no canonical form: floats, unsafe integers, lone surrogates, holes, functions, deep nesting', () => {
    expectCode(() => canonicalize(1.5), 'CORRUPT_OBJECT');
    expectCode(() => canonicalize(2 ** 53), 'CORRUPT_OBJECT');
    expectCode(() => canonicalize(Number.NaN), 'CORRUPT_OBJECT');
    expectCode(() => canonicalize('\ud800'), 'CORRUPT_OBJECT');
    expectCode(() => canonicalize({ ['\udc00']: 1 }), 'CORRUPT_OBJECT');
    // eslint-disable-next-line no-sparse-arrays
    expectCode(() => canonicalize([1, , 3]), 'CORRUPT_OBJECT');
    expectCode(() => canonicalize([undefined]), 'CORRUPT_OBJECT');
    expectCode(() => canonicalize({ f: () => 1 }), 'CORRUPT_OBJECT');
    let deep: unknown = 1;
    for (let i = 0; i < 64; i++) deep = [deep];
    canonicalize(deep); // 64 levels are fine
    expectCode(() => canonicalize([deep]), 'CORRUPT_OBJECT');
  });
});

describe('decodeCanonical', () => {
  it('round-trips canonical bytes', () => {
    const v = { entries: [{ name: 'a b', size: 3 }], type: 'tree' };
    expect(decodeCanonical(encodeCanonical(v))).toEqual(v);
  });

  it('rejects every other spelling of the same value as CORRUPT_OBJECT', () => {
    for (const text of [
      '{"a":1, "b":2}', // whitespace
      '{"b":2,"a":1}', // unsorted keys
      '{"a":1,"a":1}', // duplicate key
      '{"a":"\\u0041"}', // non-minimal escape
      '{"a":1.0}', // float spelling
      '{"a":1e2}',
      '\ufeff{"a":1}', // BOM
      '{"a":1}\n', // trailing newline
      '{"a":-0}',
      '{"a":1', // truncated
    ]) {
      expectCode(() => decodeCanonical(enc.encode(text)), 'CORRUPT_OBJECT');
    }
    expectCode(() => decodeCanonical(new Uint8Array([0x22, 0xc3, 0x28, 0x22])), 'CORRUPT_OBJECT'); // invalid UTF-8
  });
});
