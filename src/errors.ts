// One error hierarchy for the whole library. Codes are stable strings that tests and callers match
// on; messages are for people and may change. docs/errors.md has the table.

import { constants as osConstants } from 'node:os';

export type NdshmErrorCode =
  | 'EEXIST' // a segment, region or store of that name already exists
  | 'ENOENT' // no segment, region or store of that name
  | 'ENOSPC' // /dev/shm has no room for the requested size
  | 'EACCES' // the permissions of the segment forbid this
  | 'EINVAL' // an argument is not acceptable (name, size, dtype, shape, option)
  | 'ERANGE' // an offset, index or size falls outside the memory it refers to
  | 'EROFS' // a write through a read-only attach
  | 'ECLOSED' // use of a closed segment, region or array
  | 'ETRUNCATED' // the segment became smaller than its mapping (another process truncated it)
  | 'EBADHEADER' // a header or manifest read from shared memory is corrupt, foreign or hostile
  | 'ETOOBIG' // larger than one mapping can be on this Node version
  | 'ENOTSUP' // the runtime or platform lacks what this needs
  | 'EIO' // the kernel could not back a page of a mapping (reported after a SIGBUS was caught)
  | 'EABORTED' // the caller's AbortSignal stopped the operation (nothing it made is left)
  | 'ESYSTEM'; // any other operating-system error (errno name in .errnoName)

const brand = Symbol.for('ndshm.error');

export interface NdshmErrorOptions {
  syscall?: string;
  segment?: string;
  errno?: number;
  cause?: unknown;
}

export class NdshmError extends Error {
  readonly code: NdshmErrorCode;
  /** The failing system call, when one failed. */
  readonly syscall: string | undefined;
  /** The segment, region or store name the operation was about. */
  readonly segment: string | undefined;
  /** The positive errno value, when the operating system reported one. */
  readonly errno: number | undefined;

  constructor(code: NdshmErrorCode, message: string, options: NdshmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.syscall = options.syscall;
    this.segment = options.segment;
    this.errno = options.errno;
  }

  override get name(): string {
    return this.constructor.name;
  }

  /** The errno name (`EMFILE`, ...) behind an ESYSTEM error, or the code itself. */
  get errnoName(): string {
    return this.errno === undefined ? this.code : errnoName(this.errno);
  }

  // Branded so that the check works across copies of the package and across realms.
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== NdshmError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
Object.defineProperty(NdshmError.prototype, brand, { value: true });

/** True when `err` is an ndshm error, and (if given) has that code. */
export function isNdshmError(err: unknown, code?: NdshmErrorCode): err is NdshmError {
  return err instanceof NdshmError && (code === undefined || err.code === code);
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

const passThrough = new Set<string>(['EEXIST', 'ENOENT', 'ENOSPC', 'EACCES', 'EINVAL', 'ENOTSUP']);

/** The ndshm code for an errno: the same name for the common ones, ESYSTEM for the rest. */
export function codeForErrno(errno: number): NdshmErrorCode {
  const name = errnoName(errno);
  if (name === 'EPERM') return 'EACCES';
  if (name === 'EOPNOTSUPP') return 'ENOTSUP';
  if (name === 'EFBIG') return 'ETOOBIG';
  return passThrough.has(name) ? (name as NdshmErrorCode) : 'ESYSTEM';
}

export function invalid(message: string, segment?: string): NdshmError {
  return new NdshmError('EINVAL', message, { segment });
}

export function closedError(what: string, name: string): NdshmError {
  return new NdshmError('ECLOSED', `${what} "${name}" is closed`, { segment: name });
}
