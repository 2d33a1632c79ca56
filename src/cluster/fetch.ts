// Materialising one generation of a remote store on this host: allocate the whole store in fresh
// segments with the ordinary StoreBuilder (a full /dev/shm is ENOSPC here, before any transfer),
// stream each segment's object into the arrays' bytes, check both digests, then publish the store
// locally with the builder's atomic overwrite. Until then everything belongs to this process: if it
// dies, its watchdog removes the segments, and nothing was published.
//
// Two readers, both the engine's own API (docs/cluster.md, "Known weaknesses of nats.js"):
// - 'ordered' (the default): the documented workaround of nats.js#430, an ordered pull consumer on
//   the object's chunk subject ("$O.<bucket>.C.<nuid>"), with at most ~32 MiB requested at a time
//   (below the server's max_pending, so the client is never cut off as a slow consumer). It has no
//   flow control to lose, and the bytes are hashed once, checked against both digests.
// - 'get': ObjectStore.get(), the standard one. At @nats-io/obj 3.4.0 a digest mismatch errors the
//   data stream while the result's `error` promise still resolves, so both are checked; it hashes
//   the bytes itself (ndshm hashes them again), and it can stall for good when the server's
//   flow-control request goes unanswered (nats.js#430).
// A read that delivers nothing for `stallMs` is abandoned and retried with backoff; after a stall,
// this Cluster reads with the other reader from then on.
//
// Integrity at two levels: the engine's SHA-256 of the object (ADR-20) and ndshm's own SHA-256 of
// the segment in the remote manifest, computed here over exactly the bytes written to the segment.
// Either mismatch is EDIGEST, and nothing is published.

import { createHash, type Hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { NdshmError, isNdshmError } from '../errors.js';
import { type Block, openBlock } from '../ndarray/block.js';
import { StoreBuilder, type StoreSummary } from '../stores/builder.js';
import { DeliverPolicy, type Engine, chunkSubject, engineCall, parseObjectDigest, remoteError } from './engine.js';
import { type CheckedRemote, type RemoteSegment, replicaAttr } from './manifest.js';

export interface FetchSettings {
  /** A read that delivers no bytes for this long is abandoned and retried. */
  readonly stallMs: number;
  /** Retries per segment after a stall or a lost connection. */
  readonly retries: number;
  /** Segments fetched at the same time. */
  readonly concurrency: number;
}

export interface ClusterStats {
  /** Generations this process fetched and published locally (one per store per fetch). */
  fetches: number;
  /** Object bytes this process received. */
  fetchedBytes: number;
  /** Generations this process uploaded, and their bytes. */
  uploads: number;
  uploadedBytes: number;
  /** Reads abandoned for want of progress, and retries of any kind. */
  stalls: number;
  retries: number;
}

export type Reader = 'ordered' | 'get';

export interface FetchContext {
  readonly engine: Engine;
  readonly settings: FetchSettings;
  readonly stats: ClusterStats;
  /** The reader to use; the other one after a stall. */
  reader: Reader;
}

export interface MaterialiseOptions {
  readonly persistent: boolean;
  readonly revision: number;
  readonly mode?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly progress?: ((done: number, total: number) => void) | undefined;
}

export function abortedError(signal: AbortSignal, what: string): NdshmError {
  return new NdshmError('EABORTED', `${what} was aborted`, { cause: signal.reason });
}

/** Fetches `checked` (a validated remote manifest) and publishes it as this host's store. */
export async function materialise(ctx: FetchContext, checked: CheckedRemote, options: MaterialiseOptions): Promise<StoreSummary> {
  const m = checked.manifest;
  const mark = { bucket: ctx.engine.bucket, generation: m.generation, revision: options.revision };
  const builder = new StoreBuilder(m.name, { persistent: options.persistent, overwrite: true, attrs: { ...checked.attrs, [replicaAttr]: mark }, mode: options.mode });
  for (const leaf of checked.leaves) builder.add(leaf.path, leaf.shape, leaf.dtype, leaf.attrs, leaf.order);
  const targets = builder.allocate(); // every byte is reserved now: ENOSPC before any transfer
  const mapped: Block[] = [];
  try {
    // Where each array's bytes go: a writable view of its new segment, by the handle's byte offset.
    const byName = new Map<string, Block>();
    const ranges: Range[][] = m.segments.map(() => []);
    checked.leaves.forEach((leaf, i) => {
      if (leaf.nbytes === 0) return;
      const handle = targets[i]!.handle;
      let block = byName.get(handle.name);
      if (block === undefined) {
        block = openBlock(handle.name, { readOnly: false }).block;
        byName.set(handle.name, block);
        mapped.push(block);
      }
      ranges[leaf.segment]!.push({ start: leaf.offset, end: leaf.offset + leaf.nbytes, dest: new Uint8Array(block.buffer, block.dataOffset + handle.offset, leaf.nbytes) });
    });
    for (const r of ranges) r.sort((a, b) => a.start - b.start);

    let done = 0;
    const total = checked.fetchBytes;
    options.progress?.(0, total);
    const onBytes = (n: number): void => {
      done += n;
      if (n > 0) ctx.stats.fetchedBytes += n;
      options.progress?.(done, total);
    };
    await forEachLimited(m.segments.length, ctx.settings.concurrency, options.signal, (i, signal) =>
      fetchSegment(ctx, m.segments[i]!, ranges[i]!, signal, onBytes),
    );
    for (const block of mapped.splice(0)) block.release();
    const summary = builder.publish();
    ctx.stats.fetches++;
    return summary;
  } catch (err) {
    for (const block of mapped) block.release();
    builder.abort();
    throw err;
  }
}

/** Runs `task(i)` for i < n, at most `limit` at a time; the first failure aborts the others. */
async function forEachLimited(n: number, limit: number, outer: AbortSignal | undefined, task: (i: number, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(outer!.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  if (outer?.aborted) ac.abort(outer.reason);
  let next = 0;
  let first: unknown;
  const worker = async (): Promise<void> => {
    while (next < n && first === undefined) {
      const i = next++;
      try {
        await task(i, ac.signal);
      } catch (err) {
        if (first === undefined) first = err;
        ac.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  if (first !== undefined) {
    if (outer?.aborted && !isNdshmError(first, 'EABORTED')) throw abortedError(outer, 'the fetch');
    throw first;
  }
}

interface Range {
  readonly start: number;
  readonly end: number;
  readonly dest: Uint8Array;
}

/** Receives one object's bytes in order: copies them into the arrays, hashes them, checks the total. */
class SegmentWriter {
  readonly #seg: RemoteSegment;
  readonly #ranges: readonly Range[];
  #pos = 0;
  #first = 0;
  #hash: Hash = createHash('sha256');

  constructor(seg: RemoteSegment, ranges: readonly Range[]) {
    this.#seg = seg;
    this.#ranges = ranges;
  }

  get position(): number {
    return this.#pos;
  }

  reset(): void {
    this.#pos = 0;
    this.#first = 0;
    this.#hash = createHash('sha256');
  }

  write(chunk: Uint8Array): void {
    const pos = this.#pos;
    const end = pos + chunk.length;
    if (end > this.#seg.bytes) throw digestError(this.#seg, `the object holds more than the ${this.#seg.bytes} bytes its manifest gives`);
    this.#hash.update(chunk);
    const ranges = this.#ranges;
    while (this.#first < ranges.length && ranges[this.#first]!.end <= pos) this.#first++;
    for (let i = this.#first; i < ranges.length && ranges[i]!.start < end; i++) {
      const r = ranges[i]!;
      const a = Math.max(r.start, pos);
      const b = Math.min(r.end, end);
      if (a < b) r.dest.set(chunk.subarray(a - pos, b - pos), a - r.start);
    }
    this.#pos = end;
  }

  /** The checks after the last byte: the length, the engine's digest (when given), ndshm's. */
  finish(engineDigest: Buffer | undefined): void {
    const seg = this.#seg;
    if (this.#pos !== seg.bytes) throw digestError(seg, `received ${this.#pos} bytes, its manifest gives ${seg.bytes}`);
    const digest = this.#hash.digest();
    if (engineDigest !== undefined && !digest.equals(engineDigest)) throw digestError(seg, 'the bytes do not match the SHA-256 the engine keeps for the object');
    if (digest.toString('hex') !== seg.sha256) throw digestError(seg, `the bytes do not match the SHA-256 in the store's manifest (${seg.sha256.slice(0, 12)}…, received ${digest.toString('hex').slice(0, 12)}…)`);
  }
}

function digestError(seg: RemoteSegment, why: string): NdshmError {
  return new NdshmError('EDIGEST', `object "${seg.object}": ${why}; nothing was published`, { segment: seg.object });
}

function goneError(seg: RemoteSegment): NdshmError {
  return new NdshmError('ENOENT', `object "${seg.object}" is gone: its generation was replaced or removed meanwhile`, { segment: seg.object });
}

/** A read that delivered nothing for stallMs. */
class Stall extends Error {}

/** `p`, unless `ms` pass first (Stall) or `signal` fires (EABORTED). */
async function within<T>(p: Promise<T>, ms: number, signal: AbortSignal | undefined, what: string): Promise<T> {
  p.catch(() => undefined); // a late rejection after a stall is not unhandled
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Stall(`${what}: no progress for ${ms} ms`)), ms);
        onAbort = () => reject(abortedError(signal!, 'the fetch'));
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}

async function fetchSegment(ctx: FetchContext, seg: RemoteSegment, ranges: readonly Range[], signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
  const writer = new SegmentWriter(seg, ranges);
  for (let attempt = 0; ; attempt++) {
    const reader = ctx.reader;
    onBytes(-writer.position);
    writer.reset();
    try {
      if (reader === 'ordered') await readOrdered(ctx, seg, writer, signal, onBytes);
      else await readWithGet(ctx, seg, writer, signal, onBytes);
      return;
    } catch (err) {
      if (signal.aborted) throw isNdshmError(err, 'EABORTED') ? err : abortedError(signal, 'the fetch');
      if (isNdshmError(err) && err.code !== 'EREMOTE') throw err; // EDIGEST, ENOENT (gone), ...: final
      const stalled = err instanceof Stall;
      if (attempt >= ctx.settings.retries) {
        throw stalled
          ? new NdshmError('EREMOTE', `object "${seg.object}": ${err.message}, ${attempt + 1} attempts`, { segment: seg.object })
          : remoteError(err, `reading object "${seg.object}" (${attempt + 1} attempts)`, seg.object);
      }
      if (stalled) {
        ctx.stats.stalls++;
        if (ctx.reader === reader) ctx.reader = reader === 'get' ? 'ordered' : 'get'; // nats.js#430: the other one from now on
      }
      ctx.stats.retries++;
      try {
        await sleep(Math.min(4000, 200 * 2 ** attempt), undefined, { signal });
      } catch {
        throw abortedError(signal, 'the fetch');
      }
    }
  }
}

/** ObjectStore.get(): the data stream and the `error` promise are both checked. */
async function readWithGet(ctx: FetchContext, seg: RemoteSegment, writer: SegmentWriter, signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
  const { stallMs } = ctx.settings;
  const what = `reading object "${seg.object}"`;
  const result = await within(engineCall(what, () => ctx.engine.os.get(seg.object)), stallMs, signal, what);
  if (result === null) throw goneError(seg);
  if (result.info.size !== seg.bytes) throw digestError(seg, `the engine's object holds ${result.info.size} bytes, its manifest gives ${seg.bytes}`);
  const verdict = result.error.then(
    (e) => e ?? undefined,
    (e: unknown) => e ?? new Error('unknown'),
  );
  const reader = result.data.getReader();
  try {
    for (;;) {
      const { done, value } = await within(reader.read(), stallMs, signal, what);
      if (done) break;
      writer.write(value);
      onBytes(value.length);
    }
  } catch (err) {
    void reader.cancel().catch(() => undefined);
    throw classifyStreamError(err, seg, what);
  }
  // The stream closed: the engine's digest held, unless `error` says otherwise.
  const late = await within(verdict, stallMs, signal, what);
  if (late !== undefined) throw classifyStreamError(late, seg, what);
  writer.finish(undefined);
}

function classifyStreamError(err: unknown, seg: RemoteSegment, what: string): unknown {
  if (err instanceof Stall || isNdshmError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/digests? do not match|corrupt/i.test(message)) return digestError(seg, `the engine found the object corrupt (${message.split('\n')[0]})`);
  return new NdshmError('EREMOTE', `${what}: ${message.split('\n')[0]}`, { segment: seg.object, cause: err });
}

const orderedWindowBytes = 32 << 20;

/** The workaround: an ordered pull consumer on the object's chunk subject; one hash, two checks. */
async function readOrdered(ctx: FetchContext, seg: RemoteSegment, writer: SegmentWriter, signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
  const { stallMs } = ctx.settings;
  const { engine } = ctx;
  const what = `reading object "${seg.object}"`;
  const info = await within(engineCall(what, () => engine.os.info(seg.object)), stallMs, signal, what);
  if (info === null || info.deleted) throw goneError(seg);
  if (info.size !== seg.bytes) throw digestError(seg, `the engine's object holds ${info.size} bytes, its manifest gives ${seg.bytes}`);
  const digest = parseObjectDigest(info.digest);
  if (digest === undefined) throw digestError(seg, `the engine's object has no SHA-256 digest (${String(info.digest).slice(0, 40)})`);
  if (info.size > 0) {
    const chunkSize = Number(info.options?.max_chunk_size) || 128 * 1024;
    const window = Math.max(1, Math.min(1024, Math.floor(orderedWindowBytes / chunkSize)));
    const consumer = await within(
      engineCall(what, () => engine.js.consumers.get(engine.objectStream, { filter_subjects: chunkSubject(engine, info.nuid), deliver_policy: DeliverPolicy.All })),
      stallMs,
      signal,
      what,
    );
    const messages = await within(engineCall(what, () => consumer.consume({ max_messages: window })), stallMs, signal, what);
    const iterator = messages[Symbol.asyncIterator]();
    try {
      for (let n = 0; n < info.chunks; n++) {
        const next = await within(iterator.next(), stallMs, signal, what);
        if (next.done) throw new NdshmError('EREMOTE', `${what}: the chunks ended after ${n} of ${info.chunks}`, { segment: seg.object });
        writer.write(next.value.data);
        onBytes(next.value.data.length);
      }
    } finally {
      messages.stop();
    }
  }
  writer.finish(digest);
}
