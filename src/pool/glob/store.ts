// The global store (PyNitride's glob_store family) without fork(): a key names a small "anchor"
// array in shared memory that points at the current value, serialized (v8) into an array of its own.
// Arrays inside a value stay where they are, by handle: readers get zero-copy views. Keys are segment
// names (random, created exclusively), so they mean the same thing in every process.
//
// Anchor: an ndshm uint8 array named by the key; its data holds
//    0  8  magic "NDSHMGLB"
//    8  4  version (1)
//   12  4  state: 0 live, 1 removed
//   16  4  generation: slot (generation & 1) describes the current value
//   64 64  slot 0: data array name (32 bytes ASCII, NUL-padded), its byte length (u64 at +32), its id (u64 at +40)
//  128 64  slot 1
// Only the storing thread writes: it writes the other slot, then bumps the generation (one atomic
// store), then removes the previous data array. A reader reads the generation, the slot, and the
// generation again; a data array removed under it means a newer generation: it reads again. Data
// arrays are never written after publication, so a reader never sees half a value. Both arrays belong
// to the storing thread (scope 'local'): they go when it removes the key or ends, however it ends.

import { randomBytes } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';

import { NdshmError, invalid, isNdshmError, show } from '../../errors.js';
import { SharedNDArray } from '../../ndarray/array.js';
import { validateName } from '../../segment/names.js';
import { attachCache } from '../attach-cache.js';
import { cannotSend, packStored, unpackArgs } from '../codec.js';

const magic = 'NDSHMGLB';
const anchorBytes = 256;
const slotAt = (slot: number): number => 64 + 64 * slot;
const keyPrefix = 'ndg-';
const maxReaders = 1024;

interface Anchor {
  readonly array: SharedNDArray;
  readonly bytes: Uint8Array;
  readonly words: Int32Array; // [magic lo, magic hi, version, state, generation]
  readonly view: DataView;
}

interface Owned {
  readonly anchor: Anchor;
  data: SharedNDArray;
  value: unknown;
}

interface Reading {
  readonly anchor: Anchor;
  generation: number;
  has: boolean;
  value: unknown;
}

// Per thread: the keys this thread stored, and the keys it read (their anchors stay mapped).
const owned = new Map<string, Owned>();
const reading = new Map<string, Reading>();
let exitHook = false;

// When this thread ends normally (or on an uncaught exception), readers that hold an anchor learn at
// their next read that the value is gone. (After a kill -9 the names go, by the watchdog, but a
// reader that read the value before keeps its copy.)
function markAllRemoved(): void {
  for (const o of owned.values()) {
    try {
      Atomics.store(o.anchor.words, 3, 1);
    } catch {
      // released meanwhile
    }
  }
}

function anchorOf(array: SharedNDArray): Anchor {
  const bytes = array.data as Uint8Array;
  return {
    array,
    bytes,
    words: new Int32Array(bytes.buffer, bytes.byteOffset, 8),
    view: new DataView(bytes.buffer, bytes.byteOffset, anchorBytes),
  };
}

function checkKey(key: unknown, where: string): string {
  if (typeof key !== 'string' || !key.startsWith(keyPrefix)) {
    throw invalid(`${where}: ${show(key)} is not a glob key (globStore returns them; they start with "${keyPrefix}")`);
  }
  validateName(key, 'glob key');
  return key;
}

function encode(value: unknown, where: string): Uint8Array {
  try {
    return serialize(packStored(value));
  } catch (err) {
    throw cannotSend(`${where}: the value`, err);
  }
}

function writeSlot(a: Anchor, slot: number, data: SharedNDArray, length: number): void {
  const at = slotAt(slot);
  a.bytes.fill(0, at, at + 32);
  a.bytes.set(Buffer.from(data.name!, 'latin1'), at);
  a.view.setBigUint64(at + 32, BigInt(length), true);
  a.view.setBigUint64(at + 40, BigInt(`0x${data.handle.id}`), true);
}

function newData(bytes: Uint8Array): SharedNDArray {
  // A plain Uint8Array view (not the Buffer subclass): from() then copies it in one memcpy.
  return SharedNDArray.from(bytes.length === 0 ? new Uint8Array(1) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

/**
 * Puts `value` into the store and returns its key. Arrays in it (SharedNDArrays, at any depth) stay
 * where they are and are read by handle; everything else is serialized (v8) into shared memory, as
 * it is now (a later change needs globUpdate). The key and its memory belong to this thread.
 */
export function globStore(value: unknown): string {
  const bytes = encode(value, 'globStore');
  let anchorArray: SharedNDArray | undefined;
  for (let attempt = 0; anchorArray === undefined; attempt++) {
    const key = `${keyPrefix}${randomBytes(9).toString('base64url')}`;
    try {
      anchorArray = SharedNDArray.zeros([anchorBytes], 'uint8', { name: key });
    } catch (err) {
      if (attempt > 3 || !isNdshmError(err, 'EEXIST')) throw err;
    }
  }
  let data: SharedNDArray | undefined;
  try {
    data = newData(bytes);
    const a = anchorOf(anchorArray);
    writeSlot(a, 0, data, bytes.length);
    a.view.setUint32(8, 1, true);
    a.bytes.set(Buffer.from(magic, 'latin1'), 0);
    owned.set(anchorArray.name!, { anchor: a, data, value });
    if (!exitHook) {
      exitHook = true;
      process.on('exit', markAllRemoved);
    }
    return anchorArray.name!;
  } catch (err) {
    data?.release();
    anchorArray.release();
    throw err;
  }
}

/**
 * The value stored under `key`, from any thread or process of this user. In the storing thread it is
 * the value given to globStore/globUpdate; elsewhere a copy, read once per update (later reads return
 * the same object until the next globUpdate), with its arrays as zero-copy views.
 */
export function globRead<T = unknown>(key: string): T {
  const k = checkKey(key, 'globRead');
  const mine = owned.get(k);
  if (mine !== undefined) return mine.value as T;
  let r = reading.get(k);
  if (r === undefined) {
    r = { anchor: openAnchor(k, 'globRead'), generation: 0, has: false, value: undefined };
    reading.set(k, r);
    if (reading.size > maxReaders) {
      for (const [old, e] of reading) {
        if (reading.size <= maxReaders) break;
        reading.delete(old);
        e.anchor.array.release();
      }
    }
  }
  return read(k, r) as T;
}

function openAnchor(key: string, where: string): Anchor {
  let array: SharedNDArray;
  try {
    array = SharedNDArray.open(key);
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) throw new NdshmError('ENOENT', `${where}: no value under glob key "${key}" (removed, or its owner ended)`, { segment: key, cause: err });
    throw err;
  }
  const bytes = array.dtype.name === 'uint8' && array.size >= anchorBytes && array.order === 'C' ? (array.data as Uint8Array) : undefined;
  if (bytes === undefined || Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') !== magic || new DataView(bytes.buffer, bytes.byteOffset, 16).getUint32(8, true) !== 1) {
    array.release();
    throw new NdshmError('EBADHEADER', `${where}: segment "${key}" is not a glob-store value`, { segment: key });
  }
  return anchorOf(array);
}

function removedError(key: string, where: string): NdshmError {
  return new NdshmError('ENOENT', `${where}: the value under glob key "${key}" was removed`, { segment: key });
}

function read(key: string, r: Reading): unknown {
  const { words, view, bytes } = r.anchor;
  for (let attempt = 0; attempt < 1000; attempt++) {
    if (Atomics.load(words, 3) !== 0) {
      reading.delete(key);
      r.anchor.array.release();
      throw removedError(key, 'globRead');
    }
    const generation = Atomics.load(words, 4);
    if (r.has && r.generation === generation) return r.value;
    const at = slotAt(generation & 1);
    const end = bytes.indexOf(0, at);
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(end < 0 ? 32 : end - at, 32)).toString('latin1');
    const length = Number(view.getBigUint64(at + 32, true));
    const id = view.getBigUint64(at + 40, true);
    if (Atomics.load(words, 4) !== generation) continue; // updated meanwhile
    let data: SharedNDArray;
    try {
      data = SharedNDArray.open(name);
    } catch (err) {
      if (isNdshmError(err, 'ENOENT') && Atomics.load(words, 4) !== generation) continue; // replaced meanwhile
      if (isNdshmError(err, 'ENOENT') || isNdshmError(err, 'EINVAL')) {
        throw new NdshmError('ENOENT', `globRead: the value under glob key "${key}" is gone (its owner ended or removed it)`, { segment: key, cause: err });
      }
      throw err;
    }
    try {
      if (data.handle.id !== id.toString(16) || data.dtype.name !== 'uint8' || data.size < length) {
        if (Atomics.load(words, 4) !== generation) continue;
        throw new NdshmError('EBADHEADER', `globRead: the data of glob key "${key}" does not match its anchor`, { segment: key });
      }
      const d = data.data as Uint8Array;
      let decoded: unknown;
      try {
        decoded = deserialize(Buffer.from(d.buffer, d.byteOffset, length));
      } catch (err) {
        throw new NdshmError('EBADHEADER', `globRead: the value under glob key "${key}" cannot be read: ${err instanceof Error ? err.message : show(err)}`, { segment: key, cause: err });
      }
      const value = unpackArgs(decoded, attachCache);
      r.generation = generation;
      r.value = value;
      r.has = true;
      return value;
    } finally {
      data.release();
    }
  }
  throw new NdshmError('EBADHEADER', `globRead: the value under glob key "${key}" kept changing while it was read`, { segment: key });
}

function notOwner(key: string, where: string): NdshmError {
  const a = openAnchor(key, where); // ENOENT if there is none
  a.array.release();
  return new NdshmError('ENOTOWNER', `${where}: glob key "${key}" belongs to the thread that stored it; only that thread can change or remove it`, { segment: key });
}

/**
 * Replaces the value under `key` (only in the thread that stored it: ENOTOWNER elsewhere). Workers see
 * the new value at their next globRead, without a restart.
 */
export function globUpdate(key: string, value: unknown): void {
  const k = checkKey(key, 'globUpdate');
  const mine = owned.get(k);
  if (mine === undefined) throw notOwner(k, 'globUpdate');
  const bytes = encode(value, 'globUpdate');
  const a = mine.anchor;
  const generation = Atomics.load(a.words, 4);
  const data = newData(bytes);
  writeSlot(a, (generation + 1) & 1, data, bytes.length);
  Atomics.store(a.words, 4, (generation + 1) | 0);
  const old = mine.data;
  mine.data = data;
  mine.value = value;
  old.release(); // removes it; a reader that was about to open it reads the new slot instead
}

/**
 * Removes the value under `key` and its memory (only in the thread that stored it: ENOTOWNER
 * elsewhere; ENOENT when there is no such key). Arrays the value held are not released: they are the
 * caller's. Readers get ENOENT from then on.
 */
export function globRemove(key: string): void {
  const k = checkKey(key, 'globRemove');
  const mine = owned.get(k);
  if (mine === undefined) throw notOwner(k, 'globRemove');
  owned.delete(k);
  Atomics.store(mine.anchor.words, 3, 1);
  try {
    mine.data.release();
  } finally {
    mine.anchor.array.release();
  }
}

/** Inside ndshm: this thread stored `key` and has not removed it. */
export function ownsGlobKey(key: string): boolean {
  return owned.has(key);
}
