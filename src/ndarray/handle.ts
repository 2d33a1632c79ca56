// The reference that crosses thread and process boundaries: a small plain object whose size does
// not depend on the array's (it names the memory and says how to view it).

import { invalid, NdshmError, show } from '../errors.js';
import { maxForeignNameLength, validateName } from '../segment/names.js';
import { elementCount } from '../shape.js';
import type { Scope } from './block.js';

export interface SharedNDArrayHandle {
  /** Format marker and version. */
  readonly ndshm: 1;
  readonly name: string;
  /** The array's id (hex): a handle never opens a later array that took the same name. */
  readonly id: string;
  /** numpy typestr, e.g. "<f8". */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte strides. */
  readonly strides: readonly number[];
  /** Byte offset of element [0, ..., 0] from the start of the data. */
  readonly offset: number;
  readonly scope: Scope;
  /** For scope 'remote': the creator's adoption offer (decimal), which the first opener takes. */
  readonly offer?: string;
  /** A segment without an ndshm header (a cute-shm array): the handle alone describes it. */
  readonly raw?: true;
}

export function isHandle(value: unknown): value is SharedNDArrayHandle {
  return typeof value === 'object' && value !== null && (value as { ndshm?: unknown }).ndshm === 1;
}

// Character checks rather than regular expressions: they run on every open (see dtype.ts).
function isDigits(s: string, max: number, hex: boolean): boolean {
  if (s.length === 0 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (hex && c >= 97 && c <= 102))) return false;
  }
  return true;
}

function checkInts(value: unknown, what: string, allowNegative: boolean): number[] {
  if (!Array.isArray(value) || value.length > 32) throw invalid(`handle.${what} must be an array of at most 32 integers`);
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || (!allowNegative && v < 0)) throw invalid(`handle.${what}[${i}] is not valid: ${show(v)}`);
  }
  return value as number[];
}

/** Checks a handle's fields (it may come from anywhere: a message, a file, a command line). */
export function checkHandle(h: unknown): SharedNDArrayHandle {
  if (!isHandle(h)) throw invalid('not a SharedNDArray handle (expected an object with ndshm: 1)');
  if (h.raw !== undefined && h.raw !== true) throw invalid('handle.raw must be true when present');
  validateName(h.name, 'handle.name', h.raw ? maxForeignNameLength : undefined);
  if (typeof h.id !== 'string' || !isDigits(h.id, 16, true)) throw invalid('handle.id must be a hex string');
  if (typeof h.dtype !== 'string') throw invalid('handle.dtype must be a typestr');
  const shape = checkInts(h.shape, 'shape', false);
  if (!Number.isSafeInteger(elementCount(shape) * 16)) throw invalid(`handle.shape ${show(shape)} has too many elements`);
  const strides = checkInts(h.strides, 'strides', true);
  if (shape.length !== strides.length) throw invalid('handle.shape and handle.strides differ in length');
  if (typeof h.offset !== 'number' || !Number.isSafeInteger(h.offset) || h.offset < 0) throw invalid('handle.offset must be a non-negative integer');
  if (h.scope !== 'local' && h.scope !== 'remote' && h.scope !== null) throw invalid('handle.scope must be "local", "remote" or null');
  if (h.offer !== undefined && (typeof h.offer !== 'string' || !isDigits(h.offer, 20, false) || BigInt(h.offer) >= 2n ** 64n)) {
    throw invalid('handle.offer must be a decimal string of a 64-bit number');
  }
  return h;
}

export function staleHandle(name: string): NdshmError {
  return new NdshmError('ENOENT', `the array this handle refers to no longer exists ("${name}" now names another array)`, { segment: name });
}
