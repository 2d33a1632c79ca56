// Bytes of a file into a store's shared memory, the way that touches the least: sendfile(2) from the
// file into the segment's own descriptor, so the kernel copies page-cache pages into the segment's
// pages and this process takes no page faults (faster than writing the memory through the mapping,
// see docs/benchmarks.md); pread(2) straight into the mapping where the kernel refuses sendfile (a
// file system without splice support, a descriptor the addon does not hold). In chunks: progress after
// each, the caller's AbortSignal checked before each, the asynchronous loaders yielding between them.

import { crc32 } from 'node:zlib';
import { constants as osConstants } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { NdshmError, codeForErrno, errnoName, invalid } from '../errors.js';
import { CopyHow, type SystemFailure, copyFromFile } from '../native.js';

/** Internal knobs, for tests and benchmarks only (not part of the public API). */
export const copyTuning: {
  /** Bytes per native call: one progress tick and one abort check each. */
  chunkBytes: number;
  /** 'auto': sendfile, falling back to read() where refused; 'read': read() only. */
  method: 'auto' | 'read';
  /** Tests: act as if the kernel refused sendfile (EINVAL) once this many bytes of a copy are done. */
  refuseSendfileAfter: number | undefined;
  /** HDF5: false sends every dataset through h5wasm's slabs (benchmarks compare the two). */
  hdf5Direct: boolean;
} = { chunkBytes: 16 << 20, method: 'auto', refuseSendfileAfter: undefined, hdf5Direct: true };

/**
 * Bytes copied each way by this thread so far, sendfile refusals, and HDF5 datasets copied from the
 * file directly or through h5wasm's slabs (tests check which path ran).
 */
export const copyStats = { sendfile: 0, read: 0, refused: 0, hdf5Direct: 0, hdf5Slabs: 0 };

export interface CopySource {
  readonly fd: number;
  readonly path: string;
}

export interface CopyOptions {
  /** Called after each chunk with the bytes it copied. */
  report(bytes: number): void;
  signal?: AbortSignal | undefined;
  /** Continue this CRC-32 over the bytes copied (zip members); the result is then returned. */
  crc?: number | undefined;
  /** The error for a file that ends early: at byte `at`, `short` bytes short of what it should hold. */
  truncated(at: number, short: number): NdshmError;
}

const errno = osConstants.errno;
/** What sendfile answers when it cannot copy between these two files at all: use read() instead. */
const refusals = new Set<number>([errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.ESPIPE, errno.EBADF]);

/** The signal option of a loader: undefined or an AbortSignal. */
export function checkSignal(signal: unknown, where: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalid(`${where}: signal must be an AbortSignal, got ${signal === null ? 'null' : typeof signal}`);
  return signal;
}

/** EABORTED if `signal` has fired; its reason is the cause. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new NdshmError('EABORTED', `${what}: aborted by the caller's signal`, { cause: signal.reason });
}

function readError(f: SystemFailure, path: string): NdshmError {
  return new NdshmError(codeForErrno(f.errno), `${f.syscall} from "${path}" into shared memory failed: ${errnoName(f.errno)}`, {
    syscall: f.syscall,
    errno: f.errno,
  });
}

/**
 * The copy, one chunk per step: `target` (a view of a mapped segment's buffer) gets the file's bytes
 * from `position` on. Returns the CRC-32 when one was asked for.
 */
function* steps(file: CopySource, position: number, target: Uint8Array, opts: CopyOptions): Generator<void, number | undefined> {
  const buffer = target.buffer as ArrayBuffer;
  let how = copyTuning.method === 'read' ? CopyHow.Read : CopyHow.Sendfile;
  let crc = opts.crc;
  for (let done = 0; done < target.length; ) {
    throwIfAborted(opts.signal, `loading "${file.path}"`);
    const want = Math.min(copyTuning.chunkBytes, target.length - done);
    let r: { copied: number; failure: SystemFailure | undefined };
    const refuseAt = copyTuning.refuseSendfileAfter;
    if (how === CopyHow.Sendfile && refuseAt !== undefined && done >= refuseAt) {
      r = { copied: 0, failure: { errno: errno.EINVAL, syscall: 'sendfile' } };
    } else {
      r = copyFromFile(buffer, target.byteOffset + done, file.fd, position + done, want, how);
    }
    if (how === CopyHow.Sendfile) copyStats.sendfile += r.copied;
    else copyStats.read += r.copied;
    if (r.failure !== undefined && how === CopyHow.Sendfile && refusals.has(r.failure.errno)) {
      copyStats.refused++;
      how = CopyHow.Read; // for the rest of this copy, from where sendfile stopped
    } else if (r.failure !== undefined) {
      throw readError(r.failure, file.path);
    } else if (r.copied < want) {
      throw opts.truncated(position + done + r.copied, target.length - done - r.copied);
    }
    if (r.copied === 0) continue;
    if (crc !== undefined) crc = crc32(target.subarray(done, done + r.copied), crc);
    done += r.copied;
    opts.report(r.copied);
    yield;
  }
  return crc;
}

/** Copies synchronously (npyToShm); returns the CRC-32 when `opts.crc` was given. */
export function copyFileInto(file: CopySource, position: number, target: Uint8Array, opts: CopyOptions): number | undefined {
  const it = steps(file, position, target, opts);
  for (;;) {
    const s = it.next();
    if (s.done === true) return s.value;
  }
}

/** The same, letting timers and I/O (and so an AbortSignal.timeout) run between chunks. */
export async function copyFileIntoAsync(file: CopySource, position: number, target: Uint8Array, opts: CopyOptions): Promise<number | undefined> {
  const it = steps(file, position, target, opts);
  for (;;) {
    const s = it.next();
    if (s.done === true) return s.value;
    await nextTurn();
  }
}
