// The only module that loads the addon. Everything else calls these functions, which take and
// return plain values; failures come back as SystemFailure values, never as thrown native errors.

import { constants as bufferConstants } from 'node:buffer';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface Addon {
  configure(uncounted: boolean): { out: Float64Array; uncounted: boolean; pageSize: number };
  create(name: string, size: number, mode: number, maxLength: number): ArrayBuffer | undefined;
  open(name: string, readOnly: boolean, maxLength: number): ArrayBuffer | undefined;
  close(id: number): boolean;
  stat(id: number): boolean;
  fault(id: number): number;
  unlink(name: string): boolean;
  ownerPipe(): [number, number] | undefined;
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
const syscalls = ['shm_open', 'fstat', 'fchmod', 'posix_fallocate', 'mmap', 'munmap', 'close', 'shm_unlink', 'pipe2'];

function load(): Addon {
  const require = createRequire(import.meta.url);
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const candidates = [`${root}build/Release/ndshm.node`, `${root}build/Debug/ndshm.node`];
  const errors: string[] = [];
  for (const path of candidates) {
    try {
      return require(path) as Addon;
    } catch (err) {
      errors.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `ndshm: the native addon is not built (run "npm install" or "npm run install" in ${root}).\n  ${errors.join('\n  ')}`,
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

function mapped(buffer: ArrayBuffer | undefined): Mapped | SystemFailure {
  if (buffer === undefined) return failure();
  return { buffer, id: out[kId]!, size: out[kSize]!, ino: out[kIno]! };
}

export function isFailure(value: object): value is SystemFailure {
  return 'errno' in value;
}

export function create(name: string, size: number, mode: number): Mapped | SystemFailure {
  return mapped(addon.create(name, size, mode, maxMappingLength));
}

export function open(name: string, readOnly: boolean): Mapped | SystemFailure {
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

/** A close-on-exec pipe whose write end the addon closes when this thread's environment ends. */
export function ownerPipe(): [number, number] | SystemFailure {
  return addon.ownerPipe() ?? failure();
}

// ----- file copies (native/copy.cc): the file loaders' bytes into mapped segments -----------------

interface CopyAddon {
  copyFromFile(buffer: ArrayBuffer, at: number, fd: number, position: number, length: number, how: number): [number, number, number];
}

const copySyscalls = ['', 'sendfile', 'lseek', 'pread', 'sendfile', 'copyFromFile'];

export const enum CopyHow {
  /** sendfile(2) from the file into the segment's descriptor: the kernel copies, no page faults here. */
  Sendfile = 0,
  /** pread(2) straight into the mapping. */
  Read = 1,
}

export interface FileCopied {
  /** Bytes copied; fewer than asked when the file ended first (and no failure). */
  readonly copied: number;
  readonly failure: SystemFailure | undefined;
}

/**
 * Copies `length` bytes of the file `fd` from `position` into the mapping whose ArrayBuffer is
 * `buffer` (a Segment's own buffer), at byte `at`. Sendfile needs the descriptor of that mapping,
 * which the addon looks up by the buffer's memory (EBADF when it holds none).
 */
export function copyFromFile(buffer: ArrayBuffer, at: number, fd: number, position: number, length: number, how: CopyHow): FileCopied {
  const [copied, errno, syscall] = (addon as unknown as CopyAddon).copyFromFile(buffer, at, fd, position, length, how);
  return { copied, failure: errno === 0 ? undefined : { errno, syscall: copySyscalls[syscall] ?? 'copyFromFile' } };
}
