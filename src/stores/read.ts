// Reading a store: the manifest, then each segment once, then every array as a view of its segment.

import { NdshmError, invalid, isNdshmError } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { SharedNDArray, makeArray } from '../ndarray/array.js';
import { type Block, openBlock } from '../ndarray/block.js';
import { viewIn } from '../ndarray/open.js';
import { newNode } from '../tree.js';
import type { AttrValue } from './attrs.js';
import { type Manifest, checkedTreeOf } from './manifest.js';
import { validateStoreName } from './names.js';
import { readManifest } from './published.js';

export interface StoreLeafMeta {
  readonly shape: readonly number[];
  /** numpy's name for the dtype: "float64", or a typestr such as ">f4" for the other byte order. */
  readonly dtype: string;
  readonly attrs: Record<string, AttrValue>;
  /** The segment that holds the array. */
  readonly segment: string;
}

export interface StoreLeaf {
  readonly data: SharedNDArray;
  readonly meta: StoreLeafMeta;
}

export interface StoreTree {
  [key: string]: StoreTree | StoreLeaf;
}

export interface StoreReadOptions {
  /** Attach without write access (ndshm's writers then throw EROFS). */
  readOnly?: boolean;
  /** Attach to segments another user owns (default false: EACCES). */
  allowOtherUsers?: boolean;
}

export function isLeaf(node: unknown): node is StoreLeaf {
  return typeof node === 'object' && node !== null && (node as StoreLeaf).data instanceof SharedNDArray && typeof (node as StoreLeaf).meta === 'object';
}

/** Releases every array of a tree that shmToArrays returned (its segments are left in place). */
export function releaseArrays(tree: StoreTree): void {
  if (typeof tree !== 'object' || tree === null) throw invalid('releaseArrays takes a tree that shmToArrays returned');
  for (const node of Object.values(tree)) {
    if (isLeaf(node)) node.data.release();
    else if (typeof node === 'object' && node !== null) releaseArrays(node);
  }
}

/**
 * A tree of groups and leaves whose keys come from a manifest: null-prototype objects, so that every
 * key (`__proto__` included) is an ordinary own property even when plainly assigned. One pass over
 * the leaves decodeManifest checked; each segment's array id was checked when it was opened.
 */
function build(m: Manifest, blocks: Block[]): StoreTree {
  const { groups, entries } = checkedTreeOf(m);
  const nodes = new Array<Record<string, unknown>>(groups + 1);
  const root = newNode<StoreTree | StoreLeaf>() as StoreTree;
  nodes[0] = root;
  for (const leaf of entries) {
    if ('index' in leaf) {
      nodes[leaf.index] = nodes[leaf.group]![leaf.key] = newNode(); // a group: its parent came first
      continue;
    }
    const e = leaf.entry;
    const block = blocks[e.segment]!;
    const { layout, dtype } = viewIn(block, leaf.dtype.typestr, e.shape, e.strides, e.offset);
    const data = makeArray(block, layout, dtype);
    nodes[leaf.group]![leaf.key] = {
      data,
      meta: { shape: data.shape, dtype: dtype.native ? dtype.name : dtype.typestr, attrs: leaf.attrs, segment: block.name! },
    } satisfies StoreLeaf;
  }
  Object.defineProperty(root, Symbol.dispose, { value: () => releaseArrays(root), enumerable: false });
  return root;
}

const sameStore = (a: Manifest, b: Manifest | undefined): boolean =>
  b !== undefined && a.created === b.created && a.segments.every((s, i) => s.id === b.segments[i]?.id);

/** The arrays of an ndshm store, by name, from any process of this user. */
export function readNdshmStore(name: string, options?: StoreReadOptions): StoreTree | undefined {
  const opts = checkOptions(options, ['readOnly', 'allowOtherUsers'], 'shmToArrays');
  const open = { readOnly: checkBoolean(opts.readOnly, 'readOnly', false), allowOtherUsers: checkBoolean(opts.allowOtherUsers, 'allowOtherUsers', false) };
  validateStoreName(name);
  // A concurrent overwrite can remove the segments of the manifest just read: read again.
  for (let attempt = 0; ; attempt++) {
    const m = readManifest(name);
    if (m === undefined) return undefined;
    const blocks: Block[] = [];
    try {
      for (const seg of m.segments) {
        const { block } = openBlock(seg.name, open);
        blocks.push(block);
        if (block.arrayId.toString(16) !== seg.id) throw new NdshmError('ENOENT', `segment "${seg.name}" was replaced`, { segment: seg.name });
      }
      return build(m, blocks);
    } catch (err) {
      for (const b of blocks) b.release();
      if (!isNdshmError(err, 'ENOENT')) throw err;
      if (attempt < 5 && !sameStore(m, readManifest(name))) continue;
      throw new NdshmError('ENOENT', `store "${name}" is broken: ${err.message} (ndshm gc removes broken stores)`, {
        segment: name,
        cause: err,
      });
    }
  }
}
