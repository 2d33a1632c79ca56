// The only module that loads the addon. Everything else calls these functions, which take and
// return plain values; failures come back as SystemFailure values, never as thrown native errors.

import { constants as bufferConstants } from 'node:buffer';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { NdshmError } from './errors.js';

interface Addon {
  configure(uncounted: boolean): { out: Float64Array; uncounted: boolean; pageSize: number };
  create(name: string, size: number, mode: number, maxLength: number): ArrayBuffer | undefined;
  open(name: string, readOnly: boolean, maxLength: number): ArrayBuffer | undefined;
  close(id: number): boolean;
  stat(id: number): boolean;
  fault(id: number): number;
  unlink(name: string): boolean;
  rename(from: string, to: string, flags: number): boolean;
  ownerPipe(): [number, number] | undefined;
  closeOwnerPipe(writeFd: number): void;
}

// Result slots shared with native/addon.cc.
const kErrno = 0;
const kSyscall = 1;
const kId = 2;
const kSize = 3;
const kIno = 4;
const kMode = 5;
const kUid = 6;
const kNlink = 7;
const syscalls = ['shm_open', 'fstat', 'fchmod', 'posix_fallocate', 'mmap', 'munmap', 'close', 'shm_unlink', 'pipe2', 'renameat2'];

/** Where the package keeps its prebuilt addon (prebuildify's layout; Node-API: one file for every Node). */
export const prebuiltAddon = `prebuilds/${process.platform}-${process.arch}/ndshm.napi.glibc.node`;

// A build from source (npm install with a compiler, or a developer's build) wins over the prebuilt
// binary that the package ships for installs that run no scripts.
function load(): Addon {
  const require = createRequire(import.meta.url);
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const candidates = [`${root}build/Release/ndshm.node`, `${root}build/Debug/ndshm.node`, `${root}${prebuiltAddon}`];
  const errors: string[] = [];
  for (const path of candidates) {
    try {
      return require(path) as Addon;
    } catch (err) {
      errors.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new NdshmError(
    'ENOTSUP',
    `ndshm: no native addon loads on ${process.platform}-${process.arch} (Linux x64 with glibc has a prebuilt one; ` +
      `elsewhere run "npm rebuild ndshm" with a C++ compiler).\n  ${errors.join('\n  ')}`,
  );
}

const addon = load();
// V8 API buffers (uncounted by the GC) unless the runtime sandboxes buffers or the user opts out.
const sandboxed = Number((process.config.variables as Record<string, unknown>)['v8_enable_sandbox'] ?? 0) === 1;
const config = addon.configure(!sandboxed && process.env['NDSHM_COUNTED_BUFFERS'] !== '1');
const out = config.out;

/** The largest mapping one ArrayBuffer can hold on this Node version (4 GiB on Node 20). */
export const maxMappingLength: number = bufferConstants.MAX_LENGTH;
export const pageSize: number = config.pageSize;
/** False when attaches fall back to Node-API buffers that V8 counts as external memory. */
export const uncountedBuffers: boolean = config.uncounted;

export interface SystemFailure {
  readonly errno: number;
  readonly syscall: string;
}

export interface Mapped {
  readonly buffer: ArrayBuffer;
  readonly id: number;
  readonly size: number;
  readonly ino: number;
  /** The object's owner (fstat). */
  readonly uid: number;
}

export interface SegmentStat {
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly ino: number;
  readonly nlink: number;
}

function failure(): SystemFailure {
  return { errno: out[kErrno]!, syscall: syscalls[out[kSyscall]!] ?? 'napi_create_arraybuffer' };
}

/** A failed create or open; `size` is the object's size when it was too large to map (EFBIG). */
export interface MapFailure extends SystemFailure {
  readonly size: number;
}

function mapped(buffer: ArrayBuffer | undefined): Mapped | MapFailure {
  if (buffer === undefined) return { ...failure(), size: out[kSize]! };
  return { buffer, id: out[kId]!, size: out[kSize]!, ino: out[kIno]!, uid: out[kUid]! };
}

export function isFailure(value: object): value is SystemFailure {
  return 'errno' in value;
}

export function create(name: string, size: number, mode: number): Mapped | MapFailure {
  return mapped(addon.create(name, size, mode, maxMappingLength));
}

/** Never blocks; anything but a regular file fails with ENODEV from "fstat". */
export function open(name: string, readOnly: boolean): Mapped | MapFailure {
  return mapped(addon.open(name, readOnly, maxMappingLength));
}

/** Detaches the mapping's ArrayBuffer (its views become length 0), then unmaps. Idempotent. */
export function close(id: number): SystemFailure | undefined {
  return addon.close(id) ? undefined : failure();
}

export function stat(id: number): SegmentStat | SystemFailure {
  if (!addon.stat(id)) return failure();
  return { size: out[kSize]!, mode: out[kMode]!, uid: out[kUid]!, ino: out[kIno]!, nlink: out[kNlink]! };
}

export const enum Fault {
  None = 0,
  Truncated = 1,
  Unbacked = 2,
}

/** A SIGBUS the guard caught in this mapping since it was made. */
export function fault(id: number): Fault {
  return addon.fault(id) as Fault;
}

export function unlink(name: string): SystemFailure | undefined {
  return addon.unlink(name) ? undefined : failure();
}

export const enum RenameFlags {
  Replace = 0,
  NoReplace = 1,
  Exchange = 2,
}

/** renameat2(2) on two paths: Replace, NoReplace (EEXIST) or Exchange (ENOENT when `to` is missing). */
export function rename(from: string, to: string, flags: RenameFlags): SystemFailure | undefined {
  return addon.rename(from, to, flags) ? undefined : failure();
}

/**
 * A close-on-exec pipe whose write end is non-blocking and is closed by the addon when this thread's
 * environment ends (or by closeOwnerPipe).
 */
export function ownerPipe(): [number, number] | SystemFailure {
  return addon.ownerPipe() ?? failure();
}

export function closeOwnerPipe(writeFd: number): void {
  addon.closeOwnerPipe(writeFd);
}
