// The sync segment format (docs/format.md, "Sync segments", is the spec). One segment holds one
// object: a 128-byte header, then the object's body at offset 128. Everything read from a segment is
// checked before it is used; the native side checks every offset again against its mapping.
//
//  off size  field
//    0    8  magic "NDSHMSYN" (written last)
//    8    2  format version (1)
//   10    2  header length (128)
//   12    4  kind: 1 mutex, 2 counter, 3 barrier, 4 host group (its body: src/group/layout.ts)
//   16    4  flags: bit 0 persistent
//   20    4  lock flavour: 1 = glibc pthread_mutex_t (40 bytes), robust, process-shared, error-checking
//   24    4  body offset (128)
//   28    4  body length
//   32    8  owner pid (the creator)
//   40    8  owner start time (clock ticks since boot, /proc/PID/stat field 22)
//   48    8  object id: random, non-zero; a handle names it
//   56    8  creation time, f64 milliseconds since the epoch
//   64   64  reserved, 0
//
// Bodies (offsets from the start of the segment):
//   mutex    128: pthread_mutex_t (40 bytes)                                    body 64
//   counter  128: i64 value (a cache line of its own) · 192: u32 seq (futex) · 196: u32 waiters
//            200: i64 printEvery (0 = no messages) · 208: u32 message length
//            256: message, UTF-8                                               body 128 + length
//   barrier  128: u32 state (bit 31 broken, bits 16-30 generation, bits 0-15 arrived; futex)
//            132: u32 parties · 136: u32 member slots · 140: u32 broken reason · 144: u32 pid
//            192: member slots, 64 bytes each: 0 pthread_mutex_t ("alive" lock) · 40 u32 state
//            (0 free, 1 member, 2 dead) · 44 u32 pid · 48 u32 thread id          body 64 + 64 * slots

import { NdshmError } from '../errors.js';

export const magic = 'NDSHMSYN';
export const magicValue: bigint = [...magic].reduce((v, c, i) => v | (BigInt(c.charCodeAt(0)) << BigInt(8 * i)), 0n);
export const formatVersion = 1;
export const headerLength = 128;
export const bodyOffset = 128;
export const lockFlavourGlibc = 1;
export const flagPersistent = 1;

export const enum Kind {
  Mutex = 1,
  Counter = 2,
  Barrier = 3,
  /** A host group's rendezvous segment (src/group; docs/host-groups.md has its body). */
  Group = 4,
}

export type KindName = 'mutex' | 'counter' | 'barrier' | 'group';
export const kindNames: Record<Kind, KindName> = { 1: 'mutex', 2: 'counter', 3: 'barrier', 4: 'group' };

export const header = {
  version: 8,
  headerLength: 10,
  kind: 12,
  flags: 16,
  lockFlavour: 20,
  bodyOffset: 24,
  bodyLength: 28,
  ownerPid: 32,
  ownerStart: 40,
  objectId: 48,
  created: 56,
} as const;

export const mutex = { lock: 128, bodyLength: 64 } as const;

// The value has a cache line to itself: incrementers read the waiters word after every add, and it
// must not be the line the other core just took away.
export const counter = {
  value: 128,
  seq: 192,
  waiters: 196,
  printEvery: 200,
  messageLength: 208,
  message: 256,
  maxMessageBytes: 1024,
  baseBodyLength: 128,
} as const;

export const barrier = {
  state: 128,
  parties: 132,
  slotCount: 136,
  reason: 140,
  pid: 144,
  slots: 192,
  slotSize: 64,
  slotState: 40,
  slotPid: 44,
  maxParties: 0xffff,
  maxSlots: 0xffff,
  baseBodyLength: 64,
} as const;

export const enum BrokenReason {
  None = 0,
  TimedOut = 1,
  Aborted = 2,
  MemberDied = 3,
  AbortCalled = 4,
  ClosedWhileWaiting = 5,
}

export interface HeaderFields {
  readonly kind: Kind;
  readonly persistent: boolean;
  readonly bodyLength: number;
  readonly ownerPid: number;
  readonly ownerStart: number;
  readonly objectId: bigint;
  readonly created: number;
}

/** Writes every header field except the magic (`publish` writes that once the body is ready). */
export function writeHeader(buffer: ArrayBufferLike, h: HeaderFields): void {
  const v = new DataView(buffer, 0, headerLength);
  v.setUint16(header.version, formatVersion, true);
  v.setUint16(header.headerLength, headerLength, true);
  v.setUint32(header.kind, h.kind, true);
  v.setUint32(header.flags, h.persistent ? flagPersistent : 0, true);
  v.setUint32(header.lockFlavour, lockFlavourGlibc, true);
  v.setUint32(header.bodyOffset, bodyOffset, true);
  v.setUint32(header.bodyLength, h.bodyLength, true);
  v.setBigUint64(header.ownerPid, BigInt(h.ownerPid), true);
  v.setBigUint64(header.ownerStart, BigInt(h.ownerStart), true);
  v.setBigUint64(header.objectId, h.objectId, true);
  v.setFloat64(header.created, h.created, true);
}

/** The magic, stored last with a sequentially consistent 8-byte store. */
export function publish(buffer: ArrayBufferLike): void {
  Atomics.store(new BigUint64Array(buffer, 0, 1), 0, magicValue);
}

export function badHeader(name: string, why: string): NdshmError {
  return new NdshmError('EBADHEADER', `segment "${name}" is not a usable ndshm sync object: ${why}`, { segment: name });
}

/**
 * Reads and checks the header of a sync segment of `size` bytes (its real size, from fstat) that
 * should hold a `kind`. Body-specific fields are checked by the kind's own reader.
 */
export function readHeader(bytes: Uint8Array, size: number, name: string, kind: Kind): HeaderFields {
  if (size < headerLength || bytes.byteLength < headerLength) throw badHeader(name, `${size} bytes, smaller than a header`);
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== magic.charCodeAt(i)) {
      throw badHeader(name, bytes.subarray(0, 8).every((b) => b === 0) ? 'no header (being created, or not a sync object)' : 'no NDSHMSYN magic');
    }
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, headerLength);
  const version = v.getUint16(header.version, true);
  if (version !== formatVersion) throw badHeader(name, `format version ${version} (this ndshm reads version ${formatVersion})`);
  if (v.getUint16(header.headerLength, true) !== headerLength) throw badHeader(name, 'header length is not 128');
  const k = v.getUint32(header.kind, true);
  if (k !== Kind.Mutex && k !== Kind.Counter && k !== Kind.Barrier && k !== Kind.Group) throw badHeader(name, `unknown kind ${k}`);
  if (k !== kind) throw badHeader(name, `it holds a ${kindNames[k as Kind]}, not a ${kindNames[kind]}`);
  const flavour = v.getUint32(header.lockFlavour, true);
  if (flavour !== lockFlavourGlibc) throw badHeader(name, `lock flavour ${flavour} (this ndshm uses glibc robust mutexes, flavour 1)`);
  if (v.getUint32(header.bodyOffset, true) !== bodyOffset) throw badHeader(name, 'body offset is not 128');
  const bodyLength = v.getUint32(header.bodyLength, true);
  if (bodyOffset + bodyLength > size) throw badHeader(name, `body (${bodyLength} bytes at ${bodyOffset}) runs past the end of the segment (${size} bytes)`);
  const id = v.getBigUint64(header.objectId, true);
  if (id === 0n) throw badHeader(name, 'object id is 0');
  const pid = v.getBigUint64(header.ownerPid, true);
  const start = v.getBigUint64(header.ownerStart, true);
  return {
    kind: k,
    persistent: (v.getUint32(header.flags, true) & flagPersistent) !== 0,
    bodyLength,
    ownerPid: pid > 0xffffffffn ? 0 : Number(pid),
    ownerStart: start > BigInt(Number.MAX_SAFE_INTEGER) ? 0 : Number(start),
    objectId: id,
    created: v.getFloat64(header.created, true),
  };
}
