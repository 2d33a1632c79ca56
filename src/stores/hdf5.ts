// hdf5ToShm: an HDF5 file into a store, as cute-shm's hdf5_to_shm does, without its losses.
//
// Groups become nested objects and numeric datasets arrays, in the file's byte order; scalar (0-d)
// and zero-size datasets are kept. h5py's bools and complex numbers keep their types; other compound
// datasets become one array per field under a group named like the dataset, their attributes kept.
// Attributes of datasets go on their arrays; those of groups (and of split compound datasets) go in
// the store's attrs under their HDF5 path, the file's own under "/". Strings, references, opaque
// data, variable-length data and broken or external links are skipped and listed in `skipped`
// (EINVAL instead with `strict`). Data is copied slab by slab (see hdf5/slabs.ts); progress counts
// bytes copied. On any failure nothing is left in /dev/shm.
//
// h5wasm (WebAssembly HDF5) is imported on the first call only.

import { setImmediate as nextTurn } from 'node:timers/promises';

import { NdshmError, invalid, isNdshmError, show } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { contiguousBytes } from '../contiguous.js';
import { newNode, setOwn } from '../tree.js';
import type { Attrs } from './attrs.js';
import { StoreBuilder, type StoreSummary, type StoreWriteOptions } from './builder.js';
import { manifestExists, storeExists } from './published.js';
import { checkHdf5File, clearDiagnostics, hdf5Reason, loadH5wasm, openHdf5, quietly } from './hdf5/file.js';
import { type SkippedObject, planFile } from './hdf5/plan.js';
import { copyDataset } from './hdf5/slabs.js';
import { validateStoreName } from './names.js';

export type { SkippedObject as Hdf5SkippedObject } from './hdf5/plan.js';

export interface Hdf5ToShmOptions extends StoreWriteOptions {
  /** Called after each slab with the bytes copied so far and the bytes of the whole store. */
  progress?: (bytesCopied: number, bytesTotal: number) => void;
  /** Fail (EINVAL) rather than skip anything the store cannot hold. Default false. */
  strict?: boolean;
}

export interface Hdf5ToShmResult extends StoreSummary {
  /** What was left out (datasets, links, attributes), and why. */
  readonly skipped: readonly SkippedObject[];
}

/**
 * Copies the HDF5 file at `path` into the store `name`. Rejects with ENOENT (no file), EINVAL (not
 * HDF5, an unknown option, a compound field that is not numeric, anything skipped when `strict`),
 * EEXIST (the store exists and not `overwrite`) or the error a progress callback threw.
 */
export async function hdf5ToShm(path: string, name: string, options?: Hdf5ToShmOptions): Promise<Hdf5ToShmResult> {
  const opts = checkOptions(options, ['progress', 'persistent', 'overwrite', 'attrs', 'mode', 'strict'], 'hdf5ToShm');
  const strict = checkBoolean(opts.strict, 'strict', false);
  const persistent = checkBoolean(opts.persistent, 'persistent', false);
  const overwrite = checkBoolean(opts.overwrite, 'overwrite', false);
  const progress = opts.progress;
  if (progress !== undefined && typeof progress !== 'function') throw invalid(`hdf5ToShm: progress must be a function, got ${typeof progress}`);
  const userAttrs = opts.attrs;
  if (userAttrs !== undefined && (typeof userAttrs !== 'object' || userAttrs === null || Array.isArray(userAttrs))) {
    throw invalid('hdf5ToShm: attrs must be an object');
  }
  if (typeof path !== 'string' || path === '') throw invalid('hdf5ToShm: path must be a non-empty string');
  validateStoreName(name);
  if (!overwrite && manifestExists(name)) throw storeExists(name); // before reading anything
  checkHdf5File(path);

  const h5 = await loadH5wasm();
  const module = await h5.ready;
  const file = openHdf5(h5, path);
  try {
    const plan = h5wasmErrors(path, () => planFile(h5, module, file, { strict, where: path }));
    const attrs: Attrs = Object.assign(newNode<Attrs[string]>(), plan.groupAttrs);
    for (const [k, v] of Object.entries(userAttrs ?? {})) setOwn(attrs, k, v as Attrs[string]);
    const builder = new StoreBuilder(name, { persistent, overwrite, attrs, mode: opts.mode });
    for (const a of plan.arrays) builder.add(a.path, a.shape, a.dtype, a.attrs);
    const targets = builder.allocate();
    try {
      const total = targets.reduce((n, t) => n + t.nbytes, 0);
      let copied = 0;
      for (const ds of plan.datasets) {
        const fields = ds.parts.map((p) => ({ bytes: targets[p.array]![contiguousBytes](), offset: p.offset, size: p.size, swap: p.swap }));
        const source = { fileId: file.file_id, path: ds.h5path, shape: ds.shape, recordBytes: ds.recordBytes, where: `${path}: ${ds.h5path}` };
        await copyDataset(module, source, fields, async (bytes) => {
          copied += bytes;
          progress?.(copied, total);
          await nextTurn(); // a big file takes a while: let timers and I/O run between slabs
        });
      }
      return { ...builder.publish(), skipped: plan.skipped };
    } catch (err) {
      builder.abort();
      throw err;
    }
  } finally {
    file.close();
  }
}

/** Errors h5wasm throws (a damaged file) as EINVAL naming the file and HDF5's own reason. */
function h5wasmErrors<T>(path: string, run: () => T): T {
  clearDiagnostics();
  try {
    return quietly(run);
  } catch (err) {
    if (isNdshmError(err)) throw err;
    const reason = hdf5Reason() ?? (err instanceof Error ? err.message : show(err));
    throw new NdshmError('EINVAL', `${path}: HDF5 could not read it: ${reason}`, { cause: err });
  }
}
