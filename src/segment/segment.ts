// One POSIX shared-memory object, mapped into this thread.

import { closedError, invalid, NdshmError, show } from '../errors.js';
import * as native from '../native.js';
import { checkBoolean, checkOptions, checkSize, formatBytes } from '../options.js';
import * as lifetime from './lifetime.js';
import { maxForeignNameLength, validateName } from './names.js';
import { inspectSegment, listShm, shmDir } from './shm-files.js';
import { systemError, tooBig } from './system-error.js';

export interface SegmentCreateOptions {
  /** Permission bits, applied exactly (not filtered by the umask). Default 0o600. */
  mode?: number;
  /** Keep the segment after this process ends (until unlinked). Default false. */
  persistent?: boolean;
}

export interface SegmentOpenOptions {
  /**
   * Attach without write access to the shared object: the file is opened O_RDONLY and mapped
   * copy-on-write, so a stray write through a typed array stays private to this process.
   */
  readOnly?: boolean;
  /**
   * Attach to a segment that another user owns. Default false: EACCES, because whatever this process
   * writes there (or reads, trusting it) is shared with that user.
   */
  allowOtherUsers?: boolean;
}

export interface SegmentInfo {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly ino: number;
  readonly mtime: Date;
}

const myUid = process.getuid?.() ?? -1;
// Only this module can make a Segment: the constructor wants this value.
const maker = Symbol('Segment');

/** Inside ndshm: Segment.open for a name up to 255 characters (a segment another tool named). */
export let openForeignSegment: (name: string, readOnly: boolean, allowOtherUsers: boolean) => Segment;
/** Inside ndshm: Segment.create for a name up to 255 characters (cute-shm's naming scheme). */
export let createForeignSegment: (name: string, byteSize: number, options: SegmentCreateOptions) => Segment;

export class Segment {
  /** The name, without a leading slash. */
  readonly name: string;
  /** The size of the mapping in bytes. */
  readonly byteLength: number;
  readonly readOnly: boolean;
  /** The inode of the object this handle mapped: tells it apart from a later one of the same name. */
  readonly inode: number;
  /** True when this handle created the segment. */
  readonly created: boolean;
  #id: number;
  #buffer: ArrayBuffer | undefined;

  private constructor(key: symbol, name: string, m: native.Mapped, readOnly: boolean, created: boolean) {
    if (key !== maker) throw invalid('segments are made by Segment.create() and Segment.open(), not by new');
    this.name = name;
    this.byteLength = m.size;
    this.inode = m.ino;
    this.readOnly = readOnly;
    this.created = created;
    this.#id = m.id;
    this.#buffer = m.buffer;
  }

  /**
   * Creates a segment of exactly `byteSize` bytes (zero-filled) and maps it. Fails with EEXIST if the
   * name is taken. The space is reserved now: a full /dev/shm is ENOSPC here, never a SIGBUS later.
   */
  static create(name: string, byteSize: number, options?: SegmentCreateOptions): Segment {
    const opts = checkOptions(options, ['mode', 'persistent'], 'Segment.create');
    validateName(name);
    return Segment.#create(name, byteSize, opts);
  }

  static #create(name: string, byteSize: number, opts: SegmentCreateOptions): Segment {
    const size = checkSize(byteSize, 'byteSize');
    const mode = opts.mode ?? 0o600;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw invalid(`mode must be an integer from 0 to 0o777, got ${show(opts.mode)}`, name);
    }
    const persistent = checkBoolean(opts.persistent, 'persistent', false);
    if (size > native.maxMappingLength) throw tooBig(size, name);
    const m = native.create(name, size, mode);
    if (native.isFailure(m)) throw systemError(m, name, size);
    if (!persistent) lifetime.own(name, m.ino);
    return new Segment(maker, name, m, false, true);
  }

  /**
   * Maps an existing segment; its size comes from the object itself (fstat). The open never blocks:
   * a FIFO or any other special file under the name is EFTYPE. Another user's segment is EACCES
   * unless `allowOtherUsers`.
   */
  static open(name: string, options?: SegmentOpenOptions): Segment {
    const opts = checkOptions(options, ['readOnly', 'allowOtherUsers'], 'Segment.open');
    validateName(name);
    return Segment.#open(name, checkBoolean(opts.readOnly, 'readOnly', false), checkBoolean(opts.allowOtherUsers, 'allowOtherUsers', false));
  }

  static {
    openForeignSegment = (name, readOnly, allowOtherUsers) => {
      validateName(name, 'segment name', maxForeignNameLength);
      return Segment.#open(name, readOnly, allowOtherUsers);
    };
    createForeignSegment = (name, byteSize, options) => {
      validateName(name, 'segment name', maxForeignNameLength);
      return Segment.#create(name, byteSize, options);
    };
  }

  static #open(name: string, readOnly: boolean, allowOtherUsers: boolean): Segment {
    const m = native.open(name, readOnly);
    if (native.isFailure(m)) throw systemError(m, name, m.size);
    const segment = new Segment(maker, name, m, readOnly, false);
    if (!allowOtherUsers && myUid !== -1 && m.uid !== myUid) {
      segment.close();
      throw new NdshmError(
        'EACCES',
        `segment "${name}" belongs to user ${m.uid}, not to this user (${myUid}): pass allowOtherUsers to share memory with that user`,
        { segment: name },
      );
    }
    return segment;
  }

  /**
   * Removes the name, whoever made it (as `rm` would: the caller says so by name). Existing mappings,
   * here and elsewhere, stay valid. ENOENT if there is none.
   */
  static unlink(name: string): void {
    validateName(name);
    lifetime.removeByName(name);
  }

  /** The segments of this user in /dev/shm (regular files; a FIFO or link under a name is not one). */
  static list(): SegmentInfo[] {
    return listShm(myUid === -1 ? undefined : myUid)
      .filter((e) => e.regular)
      .map(({ name, size, mode, uid, ino, mtime }) => ({ name, size, mode, uid, ino, mtime }));
  }

  /**
   * The mapped bytes. Throws ECLOSED after close(), and ETRUNCATED or EIO once a fault in the
   * mapping was caught (another process truncated the segment, or the kernel could not back a page).
   */
  get buffer(): ArrayBuffer {
    const buffer = this.#buffer;
    if (buffer === undefined) throw closedError('segment', this.name);
    if (this.byteLength > 0 && native.fault(this.#id) !== native.Fault.None) throw this.#faultError();
    return buffer;
  }

  get closed(): boolean {
    return this.#buffer === undefined;
  }

  /**
   * Checks the object against the mapping before bulk access: ECLOSED after close(), ETRUNCATED when
   * another process made it smaller than this mapping (a touch past its end would be a fault).
   */
  check(): void {
    void this.buffer;
    const st = native.stat(this.#id);
    if (native.isFailure(st)) throw systemError(st, this.name);
    if (st.size < this.byteLength) {
      throw new NdshmError(
        'ETRUNCATED',
        `segment "${this.name}" was truncated to ${formatBytes(st.size)} by another process; this mapping is ${formatBytes(this.byteLength)}`,
        { segment: this.name },
      );
    }
  }

  /**
   * Ends this mapping: every typed array over it becomes length 0, and later use through this
   * handle throws ECLOSED. The name stays (see unlink). Calling it again does nothing.
   */
  close(): void {
    if (this.#buffer === undefined) return;
    this.#buffer = undefined;
    const f = native.close(this.#id);
    if (f !== undefined) throw systemError(f, this.name);
  }

  /** Removes the name, if it still names the object this handle mapped; ENOENT otherwise. */
  unlink(): void {
    if (inspectSegment(this.name)?.ino !== this.inode || !lifetime.removeExpected(this.name, { ino: this.inode })) {
      throw new NdshmError('ENOENT', `segment "${this.name}" was already removed`, { segment: this.name, syscall: 'shm_unlink' });
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #faultError(): NdshmError {
    const truncated = native.fault(this.#id) === native.Fault.Truncated;
    return truncated
      ? new NdshmError(
          'ETRUNCATED',
          `segment "${this.name}" was truncated by another process while mapped here; bytes past its new end read as zero`,
          { segment: this.name },
        )
      : new NdshmError('EIO', `the kernel could not back a page of segment "${this.name}" (is ${shmDir} full?)`, {
          segment: this.name,
        });
  }
}
