// One sync object's segment, mapped for this thread: creation (header, body, publication), opening by
// handle (every check), and lifetime through the public segment API. The segment layer's own mapping
// is only used to find the pages: native/sync.cc maps them again and hands them over as a
// SharedArrayBuffer, so that Atomics work on them as the language defines.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { NdshmError, codeForErrno, errnoName, isNdshmError } from '../errors.js';
import * as native from '../native.js';
import { checkBoolean, checkOptions } from '../options.js';
import { Segment } from '../segment/segment.js';
import { type SyncHandle, checkHandle, makeHandle } from './handle.js';
import * as layout from './layout.js';

export interface SyncCreateOptions {
  /** Segment name; a random one (`nds-...`) when omitted. */
  name?: string;
  /** Keep the segment after its creator closes it or ends (until unlinked). Default false. */
  persistent?: boolean;
  /** Permission bits of the segment. Default 0o600. */
  mode?: number;
}

export const createOptionNames = ['name', 'persistent', 'mode'] as const;

let startTime: number | undefined;
function ownStartTime(): number {
  if (startTime === undefined) {
    try {
      const stat = readFileSync('/proc/self/stat', 'latin1');
      startTime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) || 0;
    } catch {
      startTime = 0;
    }
  }
  return startTime;
}

function randomName(): string {
  return `nds-${randomBytes(9).toString('base64url')}`;
}

function randomId(): bigint {
  return randomBytes(8).readBigUInt64LE() || 1n;
}

function mapError(f: native.SystemFailure, name: string): NdshmError {
  if (f.errno === 95) {
    return new NdshmError('ENOTSUP', `cannot give JavaScript a buffer over sync segment "${name}" on this runtime (V8 sandbox?)`, {
      segment: name,
      syscall: f.syscall,
      errno: f.errno,
    });
  }
  return new NdshmError(codeForErrno(f.errno), `cannot map sync segment "${name}" (${f.syscall}: ${errnoName(f.errno)})`, {
    segment: name,
    syscall: f.syscall,
    errno: f.errno,
  });
}

export class SyncBlock {
  readonly name: string;
  readonly id: bigint;
  readonly kind: layout.Kind;
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly ops: native.SyncOps;
  readonly created: boolean;
  readonly persistent: boolean;
  readonly bodyLength: number;
  /** The creator's segment handle, kept (closed) to unlink the name when the creator closes. */
  #segment: Segment | undefined;

  private constructor(
    name: string,
    id: bigint,
    kind: layout.Kind,
    m: native.SyncMapping,
    created: boolean,
    persistent: boolean,
    bodyLength: number,
    segment: Segment | undefined,
  ) {
    this.name = name;
    this.id = id;
    this.kind = kind;
    this.buffer = m.buffer;
    this.ops = m.ops;
    this.created = created;
    this.persistent = persistent;
    this.bodyLength = bodyLength;
    this.#segment = segment;
  }

  get handle(): SyncHandle {
    return makeHandle(layout.kindNames[this.kind], this.name, this.id);
  }

  /**
   * Creates the segment, lets `init` fill the body (the header is written, not yet published), then
   * publishes the magic. On failure nothing is left behind.
   */
  static create(
    kind: layout.Kind,
    bodyLength: number,
    options: SyncCreateOptions,
    mutexOffset: number,
    init: (block: SyncBlock) => void,
  ): SyncBlock {
    const name = options.name ?? randomName();
    const persistent = checkBoolean(options.persistent, 'persistent', false);
    const segment = Segment.create(name, layout.bodyOffset + bodyLength, {
      persistent,
      ...(options.mode === undefined ? {} : { mode: options.mode }),
    });
    try {
      const m = native.syncMap(segment.buffer, mutexOffset);
      if (native.isFailure(m)) throw mapError(m, name);
      const id = randomId();
      const block = new SyncBlock(name, id, kind, m, true, persistent, bodyLength, segment);
      layout.writeHeader(m.buffer, {
        kind,
        persistent,
        bodyLength,
        ownerPid: process.pid,
        ownerStart: ownStartTime(),
        objectId: id,
        created: Date.now(),
      });
      init(block);
      layout.publish(m.buffer);
      segment.close();
      return block;
    } catch (err) {
      segment.close();
      try {
        segment.unlink();
      } catch {
        // removed already
      }
      throw err;
    }
  }

  /**
   * Opens the object a handle names: checks the handle, the header (magic, version, kind, sizes, the
   * id) and lets `check` judge the body before anything else reads it.
   */
  static open(
    handle: unknown,
    kind: layout.Kind,
    where: string,
    mutexOffset: (h: layout.HeaderFields) => number,
    check: (view: DataView, h: layout.HeaderFields, name: string) => void,
  ): SyncBlock {
    const { name, id } = checkHandle(handle, layout.kindNames[kind], where);
    const segment = Segment.open(name);
    try {
      const bytes = new Uint8Array(segment.buffer);
      const h = layout.readHeader(bytes, segment.byteLength, name, kind);
      if (h.objectId !== id) {
        throw new NdshmError('ENOENT', `the ${layout.kindNames[kind]} this handle refers to no longer exists ("${name}" now names another object)`, {
          segment: name,
        });
      }
      check(new DataView(bytes.buffer, 0, layout.bodyOffset + h.bodyLength), h, name);
      const m = native.syncMap(segment.buffer, mutexOffset(h));
      if (native.isFailure(m)) throw mapError(m, name);
      return new SyncBlock(name, id, kind, m, false, h.persistent, h.bodyLength, undefined);
    } finally {
      segment.close();
    }
  }

  /**
   * Ends this object's use here. The creator of a non-persistent object also removes the name (other
   * processes' mappings stay valid). The pages are unmapped once no buffer reaches them.
   */
  release(): void {
    const segment = this.#segment;
    this.#segment = undefined;
    if (segment !== undefined && !this.persistent) {
      try {
        segment.unlink();
      } catch (err) {
        if (!isNdshmError(err, 'ENOENT')) throw err; // removed by hand already
      }
    }
  }
}

export function checkCreateOptions<T extends SyncCreateOptions>(options: T | undefined, extra: readonly string[], where: string): T {
  return checkOptions(options, [...createOptionNames, ...extra], where);
}
