/** config.json: the format (1 or 2) is kept; a recorded cut rule is kept, a missing one means the legacy rule. */
import { describe, expect, it } from 'vitest';
import { expectCode } from '../../test/helpers/expect-code.js';
import { DEFAULT_CHUNK_PARAMS } from '../core/fastcdc.js';
import { validateConfig } from './config.js';

const sizes = { min: 262144, avg: 1048576, max: 4194304 };
const config = (chunking: Record<string, unknown>) => ({ format: 1, chunking, remotes: {} });

describe('validateConfig: chunking', () => {
  it('a config without a cut rule (made before rules were recorded) means level 2, normal size = avg', () => {
    expect(validateConfig(config(sizes), 'c').chunking).toEqual({ ...sizes, normalization: 2, normalSize: 1048576 });
  });
  it('a recorded rule is kept as written', () => {
    expect(validateConfig(config({ ...sizes, normalization: 1, normalSize: 655360 }), 'c').chunking).toEqual(DEFAULT_CHUNK_PARAMS);
    expect(validateConfig(config({ ...sizes, normalization: 3, normalSize: 300000 }), 'c').chunking).toMatchObject({ normalization: 3, normalSize: 300000 });
  });
  it('half a rule, or one that is not integers, is BAD_CONFIG', () => {
    expectCode(() => validateConfig(config({ ...sizes, normalization: 1 }), 'c'), 'BAD_CONFIG');
    expectCode(() => validateConfig(config({ ...sizes, normalSize: 655360 }), 'c'), 'BAD_CONFIG');
    expectCode(() => validateConfig(config({ ...sizes, normalization: '1', normalSize: 655360 }), 'c'), 'BAD_CONFIG');
    expectCode(() => validateConfig(config({ ...sizes, normalization: 1, normalSize: 0.5 }), 'c'), 'BAD_CONFIG');
  });
});

describe('validateConfig: format', () => {
  it('reads formats 1 (every object loose) and 2 (local packs) and keeps the one written', () => {
    expect(validateConfig({ ...config(sizes), format: 1 }, 'c').format).toBe(1);
    expect(validateConfig({ ...config(sizes), format: 2 }, 'c').format).toBe(2);
  });
  it('refuses a format it does not know, or none, with UNSUPPORTED_FORMAT', () => {
    for (const format of [3, 0, '2', undefined]) expectCode(() => validateConfig({ ...config(sizes), format }, 'c'), 'UNSUPPORTED_FORMAT');
  });
});
