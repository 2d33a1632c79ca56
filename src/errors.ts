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
  | 'EFTYPE' // a FIFO, socket, directory, device or symbolic link where a segment or file should be
  | 'ESYSTEM' // any other operating-system error (errno name in .errnoName)
  | 'ETIMEDOUT' // a lock, barrier, counter or group wait, or a cluster open or waitReplicated, reached its timeout
  | 'EABORTED' // a wait, or a file load, was given up because its AbortSignal fired (nothing it made is left)
  | 'EBROKEN' // a barrier is broken: a member died, a wait timed out or was aborted, or abort() was called
  | 'ELOCKED' // this thread holds the mutex: close() would break owner-death detection, lockSync() would deadlock
  | 'ENOTOWNER' // unlock() by a thread (or Mutex object) that does not hold the mutex
  | 'ENOTRECOVERABLE' // the mutex was left inconsistent by a non-ndshm user and can never be locked again
  | 'ETOOMANY' // every member slot of a barrier is taken
  | 'EPEERDIED' // a member of a host group ended without closing it: the group's collectives cannot complete
  | 'ENOMEM' // tracked memory would pass a ResourceAllocation's memLimit (pyGSTi's MemoryError)
  | 'ETASK' // a pool task threw or rejected, or its module or export could not be loaded (cause: the worker's error)
  | 'EWORKERDIED' // the pool worker running the task ended (crash, kill -9, process.exit, uncaught exception)
  | 'EPOOLCLOSED' // a task was given to a closed or terminated pool, or terminate() ended it
  | 'EREMOTE' // the distributed engine (NATS JetStream) is unreachable or refused a request (ndshm/cluster)
  | 'EDIGEST'; // bytes fetched from the engine do not match the digest their manifest or object gives

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

// The one errno table: errno names that keep their name as an ndshm code, and those that map to another.
const errnoCodes: Record<string, NdshmErrorCode> = {
  EEXIST: 'EEXIST',
  ENOENT: 'ENOENT',
  ENOTDIR: 'ENOENT', // a path through a file: there is no such file
  ENOSPC: 'ENOSPC',
  EDQUOT: 'ENOSPC',
  EACCES: 'EACCES',
  EPERM: 'EACCES',
  EROFS: 'EROFS',
  EINVAL: 'EINVAL',
  ENAMETOOLONG: 'EINVAL',
  ENOTSUP: 'ENOTSUP',
  EOPNOTSUPP: 'ENOTSUP',
  EFBIG: 'ETOOBIG',
  ENODEV: 'EFTYPE', // not an object that can be mapped (the addon reports non-regular files so)
  EISDIR: 'EFTYPE',
  ELOOP: 'EFTYPE', // O_NOFOLLOW met a symbolic link
  ENXIO: 'EFTYPE', // a socket, or a FIFO without a reader
  EIO: 'EIO',
};

/** The ndshm code for an errno (a number or its name): the table above, ESYSTEM for the rest. */
export function codeForErrno(errno: number | string): NdshmErrorCode {
  const name = typeof errno === 'number' ? errnoName(errno) : errno;
  return Object.hasOwn(errnoCodes, name) ? errnoCodes[name]! : 'ESYSTEM';
}

/**
 * A value the caller (or a file, a manifest, a message) gave, for an error message: never throws,
 * whatever it is (a symbol, a bigint, an object without a prototype, a hostile proxy), and short.
 */
export function show(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return value.toString();
      case 'function':
        return 'a function';
      case 'undefined':
        return 'undefined';
      case 'number':
      case 'boolean':
        return String(value);
      default: {
        if (value === null) return 'null';
        const json = JSON.stringify(value, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
        if (json !== undefined) return json.length > 80 ? `${json.slice(0, 80)}…` : json;
      }
    }
  } catch {
    // a throwing getter or proxy trap: say what it is instead
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return 'an object'; // a revoked proxy, or one whose get trap throws
  }
}

export function invalid(message: string, segment?: string): NdshmError {
  return new NdshmError('EINVAL', message, { segment });
}

export function closedError(what: string, name: string): NdshmError {
  return new NdshmError('ECLOSED', `${what} "${name}" is closed`, { segment: name });
}
