// Uploading a local store: each segment's element bytes become one object of the engine's object
// store, streamed from the segment's mapping in chunks (no copy of a whole array on the heap), while
// ndshm's own SHA-256 is computed over the same bytes. The manifest pointer is set afterwards by the
// caller (cluster.ts), and only if every object arrived.

import { createHash } from 'node:crypto';

import { Base64UrlPaddedCodec } from '@nats-io/obj';

import { NdshmError } from '../errors.js';
import { type Block, openBlock } from '../ndarray/block.js';
import type { Manifest } from '../stores/manifest.js';
import { abortedError } from './fetch.js';
import { type Engine, engineCall, parseObjectDigest } from './engine.js';
import { type RemoteSegment, objectName } from './manifest.js';

export interface UploadOptions {
  readonly chunkSize: number;
  readonly signal?: AbortSignal | undefined;
  readonly onBytes: (n: number) => void;
}

/** Maps every segment of a local store's manifest (read-only), checking each is still the one listed. */
export function openSegments(m: Manifest): Block[] {
  const blocks: Block[] = [];
  try {
    for (const seg of m.segments) {
      const { block } = openBlock(seg.name, { readOnly: true });
      blocks.push(block);
      if (block.arrayId.toString(16) !== seg.id) throw new NdshmError('ENOENT', `store "${m.name}" was replaced while it was read (segment "${seg.name}")`, { segment: m.name });
    }
    return blocks;
  } catch (err) {
    for (const b of blocks) b.release();
    throw err;
  }
}

/**
 * Uploads the element bytes of `blocks` as the objects of generation `generation` of `store`, one
 * after another. On failure the objects already written are deleted before the error is thrown.
 */
export async function uploadSegments(engine: Engine, store: string, generation: string, blocks: readonly Block[], options: UploadOptions): Promise<RemoteSegment[]> {
  const written: string[] = [];
  try {
    const out: RemoteSegment[] = [];
    for (let i = 0; i < blocks.length; i++) {
      const name = objectName(store, generation, i);
      written.push(name);
      out.push(await uploadOne(engine, name, blocks[i]!, options));
    }
    return out;
  } catch (err) {
    await deleteObjects(engine, written);
    if (options.signal?.aborted) throw abortedError(options.signal, `publishing store "${store}"`);
    throw err;
  }
}

async function uploadOne(engine: Engine, name: string, block: Block, options: UploadOptions): Promise<RemoteSegment> {
  const total = block.dataLength;
  const data = new Uint8Array(block.buffer, block.dataOffset, total);
  const hash = createHash('sha256');
  const { chunkSize, signal } = options;
  let pos = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (signal?.aborted) {
          controller.error(abortedError(signal, 'the upload'));
          return;
        }
        if (pos >= total) {
          controller.close();
          return;
        }
        const end = Math.min(total, pos + chunkSize);
        const view = data.subarray(pos, end); // the mapping itself: nats.js copies one chunk at a time
        hash.update(view);
        controller.enqueue(view);
        options.onBytes(end - pos);
        pos = end;
      },
    },
    { highWaterMark: 0 },
  );
  const info = await engineCall(`uploading object "${name}"`, () => engine.os.put({ name, options: { max_chunk_size: chunkSize } }, stream), name);
  const sha256 = hash.digest();
  if (info.size !== total || !parseObjectDigest(info.digest)?.equals(sha256)) {
    throw new NdshmError('EDIGEST', `object "${name}": the engine hashed other bytes than ndshm did (was the store written to while it was uploaded?)`, { segment: name });
  }
  return { object: name, bytes: total, sha256: sha256.toString('hex') };
}

/** Deletes objects and their metadata (no tombstone left behind); never throws. */
export async function deleteObjects(engine: Engine, names: readonly string[]): Promise<number> {
  let deleted = 0;
  for (const name of names) {
    try {
      const r = await engine.os.delete(name);
      await engine.jsm.streams.purge(engine.objectStream, { filter: `$O.${engine.bucket}.M.${Base64UrlPaddedCodec.encode(name)}` });
      if (r.success) deleted++;
    } catch {
      // the engine is unreachable: `ndshm remote gc` removes them later
    }
  }
  return deleted;
}
