// Writing a store: declare its arrays, allocate them in shared memory, fill them, publish.
//
// Arrays of 1 MiB or more get a segment each; smaller ones share "pack" segments (so a store of
// 10,000 small arrays is a handful of segments). Until publish() everything is owned by this thread
// and goes if it dies. publish() writes the manifest under a temporary name and gives it its real name
// in one step (link: fails if the store exists; rename: replaces it), so readers see either no store
// or a complete one. For a persistent store the data segments become persistent just before that
// step; a writer killed in between leaves persistent segments that no manifest lists, which gc()
// removes.

import { linkSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';

import { type DType, dtype as toDType } from '../dtype.js';
import { NdshmError, invalid } from '../errors.js';
import { SharedNDArray } from '../ndarray/array.js';
import { type Block, createBlock } from '../ndarray/block.js';
import { type Order, contiguousStrides } from '../ndarray/layout.js';
import * as header from '../segment/header.js';
import { self } from '../segment/owner.js';
import { inspectSegment, shmDir } from '../segment/reap.js';
import { Segment, disown, own } from '../segment/segment.js';
import { type Attrs, encodeAttrs } from './attrs.js';
import { type LeafEntry, type Manifest, type TreeNode, decodeManifest, encodeManifest } from './manifest.js';
import { manifestName, randomSegmentName, validateStoreName } from './names.js';

const ownSegmentBytes = 1 << 20;
const packLimitBytes = 64 << 20;
const align = 64;

export interface StoreWriteOptions {
  /** Keep the store after the writing process ends, until unlinked. Default false. */
  persistent?: boolean;
  /** Replace an existing store of this name. Default false: EEXIST, and the store is left untouched. */
  overwrite?: boolean;
  /** Attributes of the store itself. */
  attrs?: Attrs;
  /** Permission bits of the segments. Default 0o600. */
  mode?: number;
}

export interface StoreSummary {
  readonly name: string;
  readonly arrays: number;
  readonly bytes: number;
  readonly segments: number;
  readonly persistent: boolean;
}

interface Leaf {
  path: string[];
  shape: number[];
  dtype: DType;
  order: Order;
  attrs: Record<string, unknown>;
  segment?: number;
  offset?: number;
}

export function checkKey(key: unknown, path: readonly string[]): string {
  if (typeof key !== 'string' || key === '' || key.startsWith('@') || key.length > 255) {
    throw invalid(`bad key ${JSON.stringify(key)} under ${path.length > 0 ? path.join('/') : 'the root'}: keys are 1-255 characters and may not start with "@"`);
  }
  return key;
}

export class StoreBuilder {
  readonly name: string;
  readonly persistent: boolean;
  readonly #overwrite: boolean;
  readonly #mode: number | undefined;
  readonly #attrs: Record<string, unknown>;
  readonly #leaves: Leaf[] = [];
  readonly #paths = new Map<string, 'leaf' | 'group'>();
  readonly #blocks: Block[] = [];
  #state: 'declaring' | 'allocated' | 'done' = 'declaring';

  constructor(name: string, options: StoreWriteOptions) {
    this.name = validateStoreName(name);
    this.persistent = options.persistent ?? false;
    this.#overwrite = options.overwrite ?? false;
    this.#mode = options.mode;
    this.#attrs = encodeAttrs(options.attrs, `store "${name}"`);
    if (!this.#overwrite && manifestExists(name)) throw storeExists(name);
  }

  /** Declares an array at `path`. Returns its index in allocate()'s result. */
  add(path: readonly string[], shape: readonly number[], dtype: DType, attrs?: Attrs, order: Order = 'C'): number {
    if (this.#state !== 'declaring') throw invalid('StoreBuilder.add after allocate()');
    if (path.length === 0) throw invalid('an array needs a key');
    path.forEach((k, i) => checkKey(k, path.slice(0, i)));
    for (let i = 1; i < path.length; i++) {
      const prefix = path.slice(0, i).join('\0');
      if (this.#paths.get(prefix) === 'leaf') throw invalid(`${path.slice(0, i).join('/')} is an array and a group`);
      this.#paths.set(prefix, 'group');
    }
    const key = path.join('\0');
    if (this.#paths.has(key)) throw invalid(`${path.join('/')} is given twice, or as an array and a group`);
    this.#paths.set(key, 'leaf');
    this.#leaves.push({ path: [...path], shape: [...shape], dtype, order, attrs: encodeAttrs(attrs, path.join('/')) });
    return this.#leaves.length - 1;
  }

  /** Creates the segments; the arrays it returns (one per add, in its order) are the store's memory. */
  allocate(): SharedNDArray[] {
    if (this.#state !== 'declaring') throw invalid('StoreBuilder.allocate called twice');
    this.#state = 'allocated';
    try {
      const packs: Leaf[][] = [[]];
      let packBytes = 0;
      for (const leaf of this.#leaves) {
        const nbytes = leaf.shape.reduce((a, b) => a * b, 1) * leaf.dtype.itemsize;
        if (nbytes >= ownSegmentBytes) {
          this.#blocks.push(this.#create(leaf.dtype, leaf.shape, 0, leaf.order));
          leaf.segment = this.#blocks.length - 1;
          leaf.offset = 0;
          continue;
        }
        const at = Math.ceil(packBytes / align) * align;
        if (at + nbytes > packLimitBytes && packs.at(-1)!.length > 0) {
          packs.push([]);
          packBytes = 0;
        }
        leaf.offset = Math.ceil(packBytes / align) * align;
        packBytes = leaf.offset + nbytes;
        packs.at(-1)!.push(leaf);
      }
      for (const pack of packs) {
        if (pack.length === 0) continue;
        const last = pack.at(-1)!;
        const end = last.offset! + last.shape.reduce((a, b) => a * b, 1) * last.dtype.itemsize;
        this.#blocks.push(this.#create(undefined, [end], header.flagPack));
        for (const leaf of pack) leaf.segment = this.#blocks.length - 1;
      }
      return this.#leaves.map((leaf) => {
        const block = this.#blocks[leaf.segment!]!;
        const strides = contiguousStrides(leaf.shape, leaf.order);
        return new SharedNDArray(block, { shape: leaf.shape, strides, offset: leaf.offset! / leaf.dtype.itemsize }, leaf.dtype);
      });
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  #create(dt: DType | undefined, shape: number[], flags: number, order: Order = 'C'): Block {
    const bytesType = dt ?? bytesDType;
    return createBlock(bytesType, shape, contiguousStrides(shape, order), {
      name: randomSegmentName('sd'),
      scope: 'local',
      mode: this.#mode,
      flags: flags | header.flagStoreData,
    });
  }

  /** Publishes the store atomically and closes this builder's mappings. */
  publish(): StoreSummary {
    if (this.#state !== 'allocated') throw invalid('StoreBuilder.publish before allocate()');
    let temp: Segment | undefined;
    try {
      const manifest = this.#manifest();
      const bytes = encodeManifest(manifest);
      if (this.persistent) for (const block of this.#blocks) makePersistent(block);
      temp = Segment.create(randomSegmentName('st'), bytes.length, { mode: this.#mode });
      new Uint8Array(temp.buffer).set(bytes);
      temp.close();
      const final = manifestName(this.name);
      const replaced = this.#overwrite ? readManifest(this.name) : undefined;
      const from = `${shmDir}/${temp.name}`;
      const to = `${shmDir}/${final}`;
      if (this.#overwrite) {
        renameSync(from, to);
      } else {
        try {
          linkSync(from, to);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw storeExists(this.name);
          throw err;
        }
        unlinkSync(from);
      }
      disown(temp.name);
      if (!this.persistent) own(final, temp.inode);
      if (replaced !== undefined) removeSegments(replaced, new Set(manifest.segments.map((s) => s.name)));
    } catch (err) {
      if (temp !== undefined) {
        try {
          Segment.unlink(temp.name);
        } catch {
          // renamed or gone
        }
      }
      this.abort();
      throw err;
    }
    this.#state = 'done';
    for (const block of this.#blocks) {
      block.owned = false; // the store owns them now; releasing our mapping must not remove them
      block.release();
    }
    const bytes = this.#leaves.reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1) * l.dtype.itemsize, 0);
    return { name: this.name, arrays: this.#leaves.length, bytes, segments: this.#blocks.length, persistent: this.persistent };
  }

  /** Removes everything allocated so far. */
  abort(): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    for (const block of this.#blocks) block.release(true);
  }

  #manifest(): Manifest {
    const tree: { [key: string]: TreeNode } = {};
    for (const leaf of this.#leaves) {
      let node = tree as Record<string, TreeNode>;
      for (const key of leaf.path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, TreeNode>;
      const entry: LeafEntry = {
        segment: leaf.segment!,
        dtype: leaf.dtype.typestr,
        shape: leaf.shape,
        strides: contiguousStrides(leaf.shape, leaf.order).map((s) => s * leaf.dtype.itemsize),
        offset: leaf.offset!,
        attrs: leaf.attrs,
      };
      node[leaf.path.at(-1)!] = { '@leaf': entry };
    }
    return {
      ndshm_store: 1,
      name: this.name,
      created: Date.now(),
      persistent: this.persistent,
      owner: { pid: self.pid, start: self.startTime },
      attrs: this.#attrs,
      segments: this.#blocks.map((b) => ({ name: b.name!, id: b.arrayId.toString(16) })),
      tree,
    };
  }
}

const bytesDType = toDType('|u1');

function makePersistent(block: Block): void {
  const view = new DataView(block.buffer, 0, header.fixedLength);
  view.setUint32(header.offsets.flags, view.getUint32(header.offsets.flags, true) | header.flagPersistent, true);
  disown(block.name!);
}

export function storeExists(name: string): NdshmError {
  return new NdshmError('EEXIST', `a store named "${name}" already exists (use overwrite to replace it)`, { segment: name });
}

export function manifestExists(name: string): boolean {
  try {
    statSync(`${shmDir}/${manifestName(name)}`);
    return true;
  } catch {
    return false;
  }
}

/** The published manifest of `name`, or undefined if there is none (or it is another user's). */
export function readManifest(name: string): Manifest | undefined {
  const path = `${shmDir}/${manifestName(name)}`;
  let bytes: Buffer;
  try {
    if (statSync(path).uid !== process.getuid?.()) return undefined;
    bytes = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return decodeManifest(bytes, name);
}

/** Removes a manifest's segments that are still the ones it lists (by array id), except `keep`. */
export function removeSegments(m: Manifest, keep: ReadonlySet<string> = new Set()): void {
  for (const s of m.segments) {
    if (keep.has(s.name)) continue;
    const file = inspectSegment(s.name);
    if (file?.header === undefined || file.header.arrayId.toString(16) !== s.id) continue;
    try {
      unlinkSync(`${shmDir}/${s.name}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    disown(s.name);
  }
}
