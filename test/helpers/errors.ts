import assert from 'node:assert/strict';

import { NdshmError } from '../../src/index.js';

/** The code of the error `fn` throws ('no error' if none); the error must be an `expected`. */
export function errorCode(fn: () => unknown, expected: new (...args: never[]) => NdshmError = NdshmError): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof expected, `expected ${expected.name}, got ${String(err)}`);
    return err.code;
  }
  return 'no error';
}
