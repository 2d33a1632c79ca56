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
  rename(from: string, to: string, flags: number): boolean;
  ownerPipe(): [number, number] | undefined;
  closeOwnerPipe(writeFd: number): void;
  closeFd(fd: number): void;
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

/** Closes the read end of an ownerPipe (fs.closeSync would warn in a worker thread). */
export function closeFd(fd: number): void {
  addon.closeFd(fd);
}

// ----- sync (native/sync.cc) -----
// Robust mutexes, futex waits and the per-thread waiter of src/sync. Every operation is a method of an
// ops object bound to one mapping of a sync segment; results are numbers (errno values), and the hot
// lock operations return undefined for success.

/** The operations on one mapping of a sync segment (native/sync.cc documents each). */
export interface SyncOps {
  /**
   * undefined acquired, -1 acquired after the owner died (made consistent), else an errno; blocks this
   * thread (success returns no value: making a number would cost a few ns of a ~25 ns call).
   */
  lock(timeoutMs: number): number | undefined;
  /** lock(-1) without an argument. */
  lockNow(): number | undefined;
  tryLock(): number | undefined;
  /** tryLock after an asynchronous wait (keeps FUTEX_WAITERS set, as glibc does after waiting). */
  tryLockWaited(): number | undefined;
  /** undefined unlocked, else an errno. */
  unlock(): number | undefined;
  initMutex(): number;
  checkMutex(): boolean;
  heldHere(): boolean;
  /** 0 woken, or EAGAIN, ETIMEDOUT, EINTR; blocks this thread. */
  wait(offset: number, expected: number, timeoutMs: number): number;
  /** Waiters woken, or -errno. */
  wake(offset: number, count: number): number;
  waitAsync(offset: number, expected: number, mode: SyncWaitMode, timeoutMs: number, id: number): number;
  initSlots(offset: number, count: number): number;
  /** The slot taken, -1 when all are taken, -2 when a slot is corrupt. */
  join(offset: number, count: number, pid: number): number;
  leave(offset: number, index: number): number;
  /** The slot of a dead member, -1 if none, -2 when a slot is corrupt. */
  scan(offset: number, count: number): number;
}

export const enum SyncWaitMode {
  Value = 0,
  Mutex = 1,
}

export const enum SyncWaitResult {
  Changed = 0,
  TimedOut = 1,
}

/** How the sync page reaches JavaScript: 1 V8 SharedArrayBuffer, 2 Node-API one, 3 plain ArrayBuffer. */
export const enum SyncRoute {
  Auto = 0,
  V8 = 1,
  NodeApi = 2,
  ArrayBuffer = 3,
}

export interface SyncMapping {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly ops: SyncOps;
  readonly route: SyncRoute;
}

interface SyncAddon {
  syncMap(segmentBuffer: ArrayBuffer, route: SyncRoute, mutexOffset: number): SyncMapping | number;
  syncCallback(fn: (id: number, reason: SyncWaitResult) => void): void;
  syncCancel(id: number): void;
  syncRef(on: boolean): void;
  syncInfo(): { routes: number; mutexSize: number; mutexKind: number; waitv: boolean };
}

const syncAddon = addon as unknown as SyncAddon;

/** Which route maps sync pages: NDSHM_SYNC_BUFFER=v8|napi|arraybuffer forces one (tests of fallbacks). */
const syncRoute: SyncRoute = (() => {
  const forced = process.env['NDSHM_SYNC_BUFFER'];
  if (forced === 'v8') return SyncRoute.V8;
  if (forced === 'napi') return SyncRoute.NodeApi;
  if (forced === 'arraybuffer') return SyncRoute.ArrayBuffer;
  return sandboxed ? SyncRoute.NodeApi : SyncRoute.Auto;
})();

/** Maps a sync segment's pages a second time, as a SharedArrayBuffer where the runtime allows. */
export function syncMap(segmentBuffer: ArrayBuffer, mutexOffset: number): SyncMapping | SystemFailure {
  const r = syncAddon.syncMap(segmentBuffer, syncRoute, mutexOffset);
  return typeof r === 'number' ? { errno: r, syscall: r === 22 || r === 95 ? 'syncMap' : 'mremap' } : r;
}

export const syncCallback = (fn: (id: number, reason: SyncWaitResult) => void): void => syncAddon.syncCallback(fn);
export const syncCancel = (id: number): void => syncAddon.syncCancel(id);
export const syncRef = (on: boolean): void => syncAddon.syncRef(on);
export const syncInfo = (): { routes: number; mutexSize: number; mutexKind: number; waitv: boolean } => syncAddon.syncInfo();

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
