// One fetch per host: before fetching a store, a process takes the host's claim on it, a small ndshm
// segment created O_CREAT|O_EXCL ("nc-" and a hash of bucket and store). Of the processes that
// need the store at the same moment, exactly one creates it and fetches; the others map the claim and
// wait for its state word to say done or failed. The claim is an ordinary non-persistent segment of
// its holder: if the holder dies (kill -9 included) its watchdog removes it, and a waiter that finds
// the holder dead (pid and start time in the header) removes it itself; either way the waiters race
// to take a fresh claim, and one of them fetches.
//
// Data of the claim (after the ndshm header), little-endian:
//   0   i32  state: 0 fetching, 1 done, 2 failed
//   4   i32  length of the JSON that follows (failed: { code, message, generation })
//   8   ...  JSON, UTF-8

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { dtype as toDType } from '../dtype.js';
import { NdshmError, isNdshmError } from '../errors.js';
import { type Block, createBlock, openBlock } from '../ndarray/block.js';
import * as lifetime from '../segment/lifetime.js';
import { isAlive } from '../segment/owner.js';
import { inspectSegment } from '../segment/shm-files.js';

const claimBytes = 4096;
const stateFetching = 0;
const stateDone = 1;
const stateFailed = 2;

export function claimName(bucket: string, store: string): string {
  return `nc-${createHash('sha256').update(`${bucket}\0${store}`).digest('base64url').slice(0, 20)}`;
}

export interface ClaimFailure {
  readonly code: string;
  readonly message: string;
  readonly generation: string;
}

/** A claim this process holds. */
export class Claim {
  readonly #block: Block;

  private constructor(block: Block) {
    this.#block = block;
  }

  /** Takes the claim on `store`, or returns undefined if another process holds it. */
  static take(bucket: string, store: string): Claim | undefined {
    try {
      return new Claim(createBlock(toDType('|u1'), [claimBytes], [1], { name: claimName(bucket, store), scope: 'local', mode: 0o600 }));
    } catch (err) {
      if (isNdshmError(err, 'EEXIST')) return undefined;
      throw err;
    }
  }

  #words(): Int32Array {
    return new Int32Array(this.#block.buffer, this.#block.dataOffset, 2);
  }

  /** The store is published locally: waiters attach it. Releases the claim. */
  done(): void {
    Atomics.store(this.#words(), 0, stateDone);
    this.release();
  }

  /** The fetch failed: waiters get the same error. Releases the claim. */
  fail(err: NdshmError, generation: string): void {
    const json = Buffer.from(JSON.stringify({ code: err.code, message: err.message.slice(0, 1000), generation }), 'utf8');
    const words = this.#words();
    new Uint8Array(this.#block.buffer, this.#block.dataOffset + 8, claimBytes - 8).set(json.subarray(0, claimBytes - 8));
    Atomics.store(words, 1, Math.min(json.length, claimBytes - 8));
    Atomics.store(words, 0, stateFailed);
    this.release();
  }

  /** Removes the claim (a waiter that mapped it still reads its final state). */
  release(): void {
    this.#block.release();
  }
}

export type ClaimOutcome = { readonly kind: 'done' } | { readonly kind: 'gone' } | { readonly kind: 'failed'; readonly failure: ClaimFailure };

/**
 * Waits while another process holds the claim on `store`: 'done' when it published the store, 'failed'
 * with its error, 'gone' when there is no claim (any more) or its holder died. ETIMEDOUT at `deadline`
 * (a Date.now() time), EABORTED when `signal` fires.
 */
export async function waitForClaim(bucket: string, store: string, deadline: number, signal: AbortSignal | undefined): Promise<ClaimOutcome> {
  const name = claimName(bucket, store);
  let opened;
  try {
    opened = openBlock(name, { readOnly: false });
  } catch (err) {
    if (isNdshmError(err, 'ENOENT') || isNdshmError(err, 'EBADHEADER')) return { kind: 'gone' }; // gone, or not written yet
    throw err;
  }
  const { block, header, segment } = opened;
  const ino = segment.inode;
  try {
    if (block.dataLength < claimBytes) return { kind: 'gone' };
    const words = new Int32Array(block.buffer, block.dataOffset, 2);
    const owner = { pid: header.ownerPid, startTime: header.ownerStart };
    for (let pause = 5; ; pause = Math.min(100, pause * 2)) {
      const state = Atomics.load(words, 0);
      if (state === stateDone) return { kind: 'done' };
      if (state === stateFailed) {
        const length = Math.min(Atomics.load(words, 1), claimBytes - 8);
        try {
          const f = JSON.parse(Buffer.from(block.buffer, block.dataOffset + 8, length).toString('utf8')) as ClaimFailure;
          return { kind: 'failed', failure: { code: String(f.code), message: String(f.message), generation: String(f.generation) } };
        } catch {
          return { kind: 'gone' };
        }
      }
      if (state !== stateFetching) return { kind: 'gone' };
      if (inspectSegment(name)?.ino !== ino) return { kind: 'gone' };
      if (!isAlive(owner)) {
        lifetime.removeExpected(name, { ino }); // its watchdog would too; whoever is first
        return { kind: 'gone' };
      }
      if (signal?.aborted) throw new NdshmError('EABORTED', `waiting for the fetch of store "${store}" was aborted`, { segment: store, cause: signal.reason });
      if (Date.now() >= deadline) throw new NdshmError('ETIMEDOUT', `store "${store}": timed out waiting for the process that fetches it on this host (pid ${owner.pid})`, { segment: store });
      await sleep(pause);
    }
  } finally {
    block.release();
  }
}
