/** Assertions on MlstoreError codes: tests match the stable code, never the message text. */
import { expect } from 'vitest';
import { isMlstoreError, type ErrorCode } from '../../src/errors.js';

/** Runs `fn` and asserts it throws an MlstoreError with `code`; returns the error. */
export function expectCode(fn: () => unknown, code: ErrorCode): Error {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (!isMlstoreError(thrown)) throw new Error(`expected MlstoreError ${code}, got ${thrown === undefined ? 'no error' : String((thrown as Error)?.stack ?? thrown)}`);
  expect(thrown.code, thrown.message).toBe(code);
  return thrown;
}

export async function expectCodeAsync(p: Promise<unknown> | (() => Promise<unknown>), code: ErrorCode): Promise<Error> {
  let thrown: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    thrown = e;
  }
  if (!isMlstoreError(thrown)) throw new Error(`expected MlstoreError ${code}, got ${thrown === undefined ? 'no error' : String((thrown as Error)?.stack ?? thrown)}`);
  expect(thrown.code, thrown.message).toBe(code);
  return thrown;
}
