// Files that other users or programs may have placed: opening without ever blocking, and checking
// type and owner before reading. No addon (the watchdog process uses this too); publish.ts makes
// files appear atomically.

import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';

import { NdshmError, codeForErrno, errnoName } from './errors.js';

export interface RegularFile {
  readonly fd: number;
  readonly path: string;
  readonly size: number;
  readonly uid: number;
  readonly mode: number;
  readonly ino: number;
  readonly dev: number;
}

export interface OpenRegularOptions {
  /** Refuse a symbolic link as the last component (ELOOP -> EFTYPE). Default true. */
  noFollow?: boolean;
  /** Require this owner (EACCES otherwise), e.g. the caller's uid for manifests. */
  uid?: number;
}

const fileKinds: [(mode: number) => boolean, string][] = [
  [(m) => (m & constants.S_IFMT) === constants.S_IFIFO, 'a FIFO'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFSOCK, 'a socket'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFDIR, 'a directory'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFCHR, 'a character device'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFBLK, 'a block device'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFLNK, 'a symbolic link'],
];

/** "a FIFO", "a directory", ... for a mode that is not a regular file's. */
export function fileKind(mode: number): string {
  return fileKinds.find(([is]) => is(mode))?.[1] ?? 'not a regular file';
}

/** An NdshmError for a failed file operation on `path`, from a Node fs error. */
export function fsError(err: unknown, syscall: string, path: string): NdshmError {
  const e = err as NodeJS.ErrnoException;
  const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : undefined;
  const name = e.code ?? (errno === undefined ? 'EIO' : errnoName(errno));
  const code = codeForErrno(name);
  const what =
    name === 'ENOENT'
      ? `no such file "${path}"`
      : name === 'ELOOP'
        ? `"${path}" is a symbolic link: refusing to follow it`
        : `${syscall} "${path}": ${name}`;
  return new NdshmError(code, what, { syscall, errno, cause: err });
}

/**
 * Opens `path` for reading without blocking (O_NONBLOCK: a FIFO would otherwise hang the open) and
 * checks that it is a regular file (EFTYPE otherwise) of the expected owner. The caller closes `fd`.
 */
export function openRegular(path: string, options: OpenRegularOptions = {}): RegularFile {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow === false ? 0 : constants.O_NOFOLLOW);
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    throw fsError(err, 'open', path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NdshmError('EFTYPE', `"${path}" is ${fileKind(st.mode)}, not a regular file`, { syscall: 'fstat' });
    if (options.uid !== undefined && st.uid !== options.uid) {
      throw new NdshmError('EACCES', `"${path}" belongs to user ${st.uid}, not to this user (${options.uid}): refusing to trust it`);
    }
    return { fd, path, size: st.size, uid: st.uid, mode: st.mode & 0o7777, ino: st.ino, dev: st.dev };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Fills `target` from `fd` at `position`; EBADHEADER if the file ends first. */
export function readExactly(file: Pick<RegularFile, 'fd' | 'path'>, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    let n: number;
    try {
      n = readSync(file.fd, target, done, target.length - done, position + done);
    } catch (err) {
      throw fsError(err, 'read', file.path);
    }
    if (n === 0) {
      throw new NdshmError('EBADHEADER', `"${file.path}" ended at byte ${position + done}, ${target.length - done} bytes short (was it truncated while being read?)`);
    }
    done += n;
  }
}

/**
 * The whole of a small regular file, read without blocking and only if it is of `uid` (when given)
 * and at most `maxBytes`; undefined when there is no such file.
 */
export function readRegular(path: string, options: OpenRegularOptions & { maxBytes: number }): Buffer | undefined {
  let file: RegularFile;
  try {
    file = openRegular(path, options);
  } catch (err) {
    if (err instanceof NdshmError && err.code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    if (file.size > options.maxBytes) throw new NdshmError('ETOOBIG', `"${path}" has ${file.size} bytes, more than the ${options.maxBytes} allowed here`);
    const bytes = Buffer.alloc(file.size);
    readExactly(file, bytes, 0);
    return bytes;
  } finally {
    closeSync(file.fd);
  }
}

/** Removes a file ndshm made under a temporary name (a failure left it, or it was published). */
export function removeTemporary(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // published under its real name, or never made
  }
}
