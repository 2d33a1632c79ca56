// One POSIX shared-memory object, mapped into this thread.

import { lstatSync, readdirSync, statSync } from 'node:fs';

import { NdshmError, closedError, invalid } from '../errors.js';
import * as native from '../native.js';
import { checkBoolean, checkOptions, checkSize, formatBytes } from '../options.js';
import { maxForeignNameLength, validateName } from './names.js';
import { envTag } from './owner.js';
import { removeIfOwnedBy, shmDir } from './reap.js';
import { systemError, tooBig } from './system-error.js';
import * as watchdog from './watchdog.js';

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
}

export interface SegmentInfo {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly ino: number;
  readonly mtime: Date;
}

// Non-persistent segments this thread created and has not unlinked: name -> inode.
const owned = new Map<string, number>();
// Those of them on their way to another process: the watchdog gives them time to be adopted.
const remote = new Set<string>();
let exitHookInstalled = false;

function removeOwnedAtExit(): void {
  for (const [name, ino] of owned) if (!remote.has(name)) removeIfOwnedBy(name, ino, envTag);
  owned.clear();
}

/** Registers `name` for removal when this thread ends, however it ends. */
export function own(name: string, ino: number): void {
  owned.set(name, ino);
  watchdog.track(name, ino);
  if (!exitHookInstalled) {
    process.on('exit', removeOwnedAtExit);
    exitHookInstalled = true;
  }
}

/** An owned segment that is passing to another process ('remote'): see watchdog.markRemote. */
export function markRemote(name: string): void {
  if (!owned.has(name)) return;
  remote.add(name);
  watchdog.markRemote(name);
}

/** This thread stops being responsible for removing `name`. */
export function disown(name: string): void {
  remote.delete(name);
  if (owned.delete(name)) watchdog.untrack(name);
}

export function isOwned(name: string): boolean {
  return owned.has(name);
}

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

  private constructor(name: string, m: native.Mapped, readOnly: boolean, created: boolean) {
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
      throw invalid(`mode must be an integer from 0 to 0o777, got ${String(opts.mode)}`, name);
    }
    const persistent = checkBoolean(opts.persistent, 'persistent', false);
    if (size > native.maxMappingLength) throw tooBig(size, name);
    const m = native.create(name, size, mode);
    if (native.isFailure(m)) throw systemError(m, name, size);
    const segment = new Segment(name, m, false, true);
    if (!persistent) {
      try {
        own(name, m.ino);
      } catch (err) {
        // Leave nothing behind when the segment cannot be made safe.
        segment.close();
        native.unlink(name);
        throw err;
      }
    }
    return segment;
  }

  /** Maps an existing segment; its size comes from the object itself (fstat). */
  static open(name: string, options?: SegmentOpenOptions): Segment {
    const opts = checkOptions(options, ['readOnly'], 'Segment.open');
    validateName(name);
    return Segment.#open(name, checkBoolean(opts.readOnly, 'readOnly', false));
  }

  /** @internal Segment.open for a name up to 255 characters (a segment another tool named). */
  static openForeign(name: string, readOnly: boolean): Segment {
    validateName(name, 'segment name', maxForeignNameLength);
    return Segment.#open(name, readOnly);
  }

  /** @internal Segment.create for a name up to 255 characters (cute-shm's naming scheme). */
  static createForeign(name: string, byteSize: number, options: SegmentCreateOptions): Segment {
    validateName(name, 'segment name', maxForeignNameLength);
    return Segment.#create(name, byteSize, options);
  }

  static #open(name: string, readOnly: boolean): Segment {
    const m = native.open(name, readOnly);
    if (native.isFailure(m)) throw systemError(m, name);
    return new Segment(name, m, readOnly, false);
  }

  /** Removes the name. Existing mappings, here and elsewhere, stay valid. ENOENT if there is none. */
  static unlink(name: string): void {
    validateName(name);
    Segment.#unlink(name);
  }

  static #unlink(name: string): void {
    const f = native.unlink(name);
    if (f !== undefined) throw systemError(f, name);
    disown(name);
  }

  /** The segments of this user in /dev/shm. */
  static list(): SegmentInfo[] {
    const uid = process.getuid?.() ?? -1;
    const out: SegmentInfo[] = [];
    for (const entry of readdirSync(shmDir, { withFileTypes: true })) {
      if (!entry.isFile() || entry.name.startsWith('sem.')) continue; // sem.*: POSIX semaphores
      try {
        const st = lstatSync(`${shmDir}/${entry.name}`);
        if (uid !== -1 && st.uid !== uid) continue;
        out.push({ name: entry.name, size: st.size, mode: st.mode & 0o7777, uid: st.uid, ino: st.ino, mtime: st.mtime });
      } catch {
        // removed while we listed
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
    let ino: number | undefined;
    try {
      ino = statSync(`${shmDir}/${this.name}`).ino;
    } catch {
      ino = undefined;
    }
    if (ino !== this.inode) {
      throw new NdshmError('ENOENT', `segment "${this.name}" was already removed`, { segment: this.name, syscall: 'shm_unlink' });
    }
    Segment.#unlink(this.name); // the name was checked when this handle was made
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

// V8 compiles functions on their first call, and in a fresh process the first attach spent ~250 us
// compiling this path. Run it once at import instead (a failed open of a name that cannot exist,
// and a handle over nothing), so the first real attach costs what every later one does.
export function primeAttachPath(): void {
  try {
    Segment.open('ndshm.prime.absent');
  } catch {
    // ENOENT, as intended
  }
  const handle = Reflect.construct(Segment, ['ndshm.prime', { buffer: new ArrayBuffer(0), id: 0, size: 0, ino: 0 }, true, false]) as Segment;
  void handle.buffer;
  handle.close(); // id 0 is never a mapping: closing it does nothing
}
primeAttachPath();

