// Writing a store: declare its arrays, allocate them in shared memory, fill them, publish.
//
// Arrays of 1 MiB or more get a segment each; smaller ones share "pack" segments (so a store of
// 10,000 small arrays is a handful of segments). Until publish() everything is owned by this thread
// and goes if it dies. publish() (docs/stores.md, "Publication") writes the manifest under a temporary
// name, then gives it the store's name in one step: renameat2 RENAME_NOREPLACE for a new store (of
// writers racing on one name exactly one wins), RENAME_EXCHANGE to overwrite (each writer gets back
// exactly the manifest it replaced, and removes that store's segments, so concurrent overwrites
// orphan nothing). A persistent store's data segments are kept by the watchdog on one condition:
// that the manifest was published; a writer killed at any step therefore leaves either the old store
// or the new one, and nothing else that its watchdog or gc() does not remove.

import { type DType, dtype as toDType } from '../dtype.js';
import { invalid, isNdshmError, show } from '../errors.js';
import { faultPoint } from '../fault.js';
import { type SharedNDArray, makeArray } from '../ndarray/array.js';
import { type Block, createBlock } from '../ndarray/block.js';
import { type Order, contiguousStrides } from '../ndarray/layout.js';
import * as header from '../segment/header.js';
import * as lifetime from '../segment/lifetime.js';
import { self } from '../segment/owner.js';
import { Segment } from '../segment/segment.js';
import { elementCount } from '../shape.js';
import { childNode, newNode, setOwn } from '../tree.js';
import { type Attrs, encodeAttrs } from './attrs.js';
import { type LeafEntry, type Manifest, type TreeNode, encodeManifest } from './manifest.js';
import { manifestName, randomSegmentName, validateStoreName } from './names.js';
import { manifestExists, readManifestAt, removeManifestSegments, storeExists } from './published.js';

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
    throw invalid(`bad key ${show(key)} under ${path.length > 0 ? path.join('/') : 'the root'}: keys are 1-255 characters and may not start with "@"`);
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
        const nbytes = elementCount(leaf.shape) * leaf.dtype.itemsize;
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
        const end = last.offset! + elementCount(last.shape) * last.dtype.itemsize;
        this.#blocks.push(this.#create(undefined, [end], header.flagPack));
        for (const leaf of pack) leaf.segment = this.#blocks.length - 1;
      }
      faultPoint('store.allocated');
      return this.#leaves.map((leaf) => {
        const block = this.#blocks[leaf.segment!]!;
        const strides = contiguousStrides(leaf.shape, leaf.order);
        return makeArray(block, { shape: leaf.shape, strides, offset: leaf.offset! / leaf.dtype.itemsize }, leaf.dtype);
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
    const final = manifestName(this.name);
    const dataNames = this.#blocks.map((b) => b.name!);
    let temp: Segment | undefined;
    try {
      const manifest = this.#manifest();
      const bytes = encodeManifest(manifest);
      temp = Segment.create(randomSegmentName('st'), bytes.length, { mode: this.#mode });
      new Uint8Array(temp.buffer).set(bytes);
      temp.close();
      faultPoint('store.manifest-written');
      if (this.persistent) {
        for (const block of this.#blocks) markPersistent(block);
        faultPoint('store.marked-persistent');
        lifetime.keepIfPublished(dataNames, final, temp.inode);
      }
      const { exchanged } = lifetime.publish(temp.name, final, this.#overwrite ? 'replace' : 'create', this.persistent);
      faultPoint('store.published');
      if (exchanged) disposeReplaced(this.name, temp.name, new Set(dataNames));
      faultPoint('store.replaced-removed');
    } catch (err) {
      if (temp !== undefined && lifetime.isOwned(temp.name)) lifetime.removeOwned(temp.name, { ino: temp.inode });
      this.abort();
      throw isNdshmError(err, 'EEXIST') ? storeExists(this.name) : err;
    }
    this.#state = 'done';
    for (const block of this.#blocks) {
      if (this.persistent) lifetime.disown(block.name!); // the store keeps them now
      faultPoint('store.disowning');
      block.owned = false; // releasing our mapping must not remove them
      block.release();
    }
    const bytes = this.#leaves.reduce((n, l) => n + elementCount(l.shape) * l.dtype.itemsize, 0);
    return { name: this.name, arrays: this.#leaves.length, bytes, segments: this.#blocks.length, persistent: this.persistent };
  }

  /** Removes everything allocated so far. */
  abort(): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    for (const block of this.#blocks) block.release(true);
  }

  #manifest(): Manifest {
    const tree = newNode<TreeNode>();
    for (const leaf of this.#leaves) {
      let node = tree as Record<string, TreeNode>;
      for (const key of leaf.path.slice(0, -1)) node = childNode(node, key, () => newNode<TreeNode>()) as Record<string, TreeNode>;
      const entry: LeafEntry = {
        segment: leaf.segment!,
        dtype: leaf.dtype.typestr,
        shape: leaf.shape,
        strides: contiguousStrides(leaf.shape, leaf.order).map((s) => s * leaf.dtype.itemsize),
        offset: leaf.offset!,
        attrs: leaf.attrs,
      };
      setOwn(node, leaf.path.at(-1)!, { '@leaf': entry });
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

function markPersistent(block: Block): void {
  const view = new DataView(block.buffer, 0, header.fixedLength);
  view.setUint32(header.offsets.flags, view.getUint32(header.offsets.flags, true) | header.flagPersistent, true);
}

/**
 * After an exchange, `temp` names the manifest this writer replaced (lifetime.publish owns it, so
 * that a crash here still removes it; its segments are then unlisted, and gc removes them): remove
 * that store's segments (all but `keep`, which are this writer's), then the manifest.
 */
function disposeReplaced(store: string, temp: string, keep: ReadonlySet<string>): void {
  let replaced;
  try {
    replaced = readManifestAt(temp, store);
  } catch {
    replaced = undefined; // not a valid manifest: its segments, if any, are gc's
  }
  if (replaced !== undefined) removeManifestSegments(replaced.manifest, keep);
  lifetime.removeOwned(temp);
}
