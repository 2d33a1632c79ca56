// hdf5ToShm: an HDF5 file into a store, as cute-shm's hdf5_to_shm does, without its losses.
//
// Groups become nested objects and numeric datasets arrays, in the file's byte order; scalar (0-d)
// and zero-size datasets are kept. h5py's bools and complex numbers keep their types; other compound
// datasets become one array per field under a group named like the dataset, their attributes kept.
// Attributes of datasets go on their arrays; those of groups (and of split compound datasets) go in
// the store's attrs under their HDF5 path, the file's own under "/". Strings, references, opaque
// data, variable-length data and broken or external links are skipped and listed in `skipped`
// (EINVAL instead with `strict`). Contiguous datasets without filters whose bytes are the array's
// (not split compound fields) go from the file into shared memory by sendfile, from the data offset
// their layout message gives (hdf5/layout.ts, file-copy.ts); all others are copied slab by slab
// through h5wasm (hdf5/slabs.ts). Progress counts bytes copied. On any failure nothing is left in
// /dev/shm.
//
// h5wasm (WebAssembly HDF5) is imported on the first call only.

import { closeSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { contiguousBytes } from '../contiguous.js';
import { NdshmError, invalid, isNdshmError, show } from '../errors.js';
import { checkBoolean, checkOptions } from '../options.js';
import { elementCount } from '../shape.js';
import { newNode, setOwn } from '../tree.js';
import type { Attrs } from './attrs.js';
import { StoreBuilder, type StoreSummary, type StoreWriteOptions } from './builder.js';
import { checkSignal, copyFileIntoAsync, copyStats, copyTuning, throwIfAborted } from './file-copy.js';
import type { InputFile } from './files.js';
import { type H5File, checkHdf5File, clearDiagnostics, hdf5Reason, loadH5wasm, openHdf5, quietly, sameFile } from './hdf5/file.js';
import { type Hdf5Geometry, datasetStorage, readSuperblock } from './hdf5/layout.js';
import { type FilePlan, type PlannedDataset, type SkippedObject, planFile } from './hdf5/plan.js';
import type { H5Module } from './hdf5/slabs.js';
import { copyDataset } from './hdf5/slabs.js';
import { validateStoreName } from './names.js';
import { manifestExists, storeExists } from './published.js';

export type { SkippedObject as Hdf5SkippedObject } from './hdf5/plan.js';

export interface Hdf5ToShmOptions extends StoreWriteOptions {
  /** Called after each slab with the bytes copied so far and the bytes of the whole store. */
  progress?: (bytesCopied: number, bytesTotal: number) => void;
  /** Fail (EINVAL) rather than skip anything the store cannot hold. Default false. */
  strict?: boolean;
  /**
   * Stops the load (EABORTED, nothing left behind) when it fires; checked before each 16 MiB chunk
   * or slab, and before the store is published.
   */
  signal?: AbortSignal;
}

export interface Hdf5ToShmResult extends StoreSummary {
  /** What was left out (datasets, links, attributes), and why. */
  readonly skipped: readonly SkippedObject[];
}

/**
 * Copies the HDF5 file at `path` into the store `name`. Rejects with ENOENT (no file), EINVAL (not
 * HDF5, damaged or truncated, an unknown option, a compound field that is not numeric, anything
 * skipped when `strict`), EEXIST (the store exists and not `overwrite`), EABORTED (the signal fired)
 * or the error a progress callback threw.
 */
export async function hdf5ToShm(path: string, name: string, options?: Hdf5ToShmOptions): Promise<Hdf5ToShmResult> {
  const opts = checkOptions(options, ['progress', 'persistent', 'overwrite', 'attrs', 'mode', 'strict', 'signal'], 'hdf5ToShm');
  const strict = checkBoolean(opts.strict, 'strict', false);
  const persistent = checkBoolean(opts.persistent, 'persistent', false);
  const overwrite = checkBoolean(opts.overwrite, 'overwrite', false);
  const progress = opts.progress;
  if (progress !== undefined && typeof progress !== 'function') throw invalid(`hdf5ToShm: progress must be a function, got ${typeof progress}`);
  const signal = checkSignal(opts.signal, 'hdf5ToShm');
  const userAttrs = opts.attrs;
  if (userAttrs !== undefined && (typeof userAttrs !== 'object' || userAttrs === null || Array.isArray(userAttrs))) {
    throw invalid('hdf5ToShm: attrs must be an object');
  }
  if (typeof path !== 'string' || path === '') throw invalid('hdf5ToShm: path must be a non-empty string');
  validateStoreName(name);
  if (!overwrite && manifestExists(name)) throw storeExists(name); // before reading anything
  throwIfAborted(signal, `hdf5ToShm "${path}"`);
  const checked = checkHdf5File(path);
  const input = checked.file;
  try {
    const h5 = await loadH5wasm();
    const module = await h5.ready;
    const file = openHdf5(h5, path);
    try {
      const plan = h5wasmErrors(path, () => planFile(h5, module, file, { strict, where: path }));
      // The direct path reads our descriptor: only while it is the file h5wasm opened.
      const geo = copyTuning.hdf5Direct && sameFile(path, input) ? readSuperblock(input, checked.superblockAt) : undefined;
      const direct = plan.datasets.map((ds) => directRange(module, file, input, geo, plan, ds, path));
      throwIfAborted(signal, `hdf5ToShm "${path}"`);
      const attrs: Attrs = Object.assign(newNode<Attrs[string]>(), plan.groupAttrs);
      for (const [k, v] of Object.entries(userAttrs ?? {})) setOwn(attrs, k, v as Attrs[string]);
      const builder = new StoreBuilder(name, { persistent, overwrite, attrs, mode: opts.mode });
      for (const a of plan.arrays) builder.add(a.path, a.shape, a.dtype, a.attrs);
      const targets = builder.allocate();
      try {
        const total = targets.reduce((n, t) => n + t.nbytes, 0);
        let copied = 0;
        const report = (bytes: number): void => {
          copied += bytes;
          progress?.(copied, total);
        };
        for (const [i, ds] of plan.datasets.entries()) {
          const where = `${path}: ${ds.h5path}`;
          const range = direct[i];
          if (range !== undefined) {
            copyStats.hdf5Direct++;
            const bytes = targets[ds.parts[0]!.array]![contiguousBytes]();
            await copyFileIntoAsync(input, range, bytes, {
              report,
              signal,
              truncated: (at, short) => invalid(`${where}: the file ended at byte ${at}, ${short} bytes short of the data (was it truncated while being read?)`),
            });
            continue;
          }
          copyStats.hdf5Slabs++;
          const fields = ds.parts.map((p) => ({ bytes: targets[p.array]![contiguousBytes](), offset: p.offset, size: p.size, swap: p.swap }));
          const source = { fileId: file.file_id, path: ds.h5path, shape: ds.shape, recordBytes: ds.recordBytes, where };
          await copyDataset(module, source, fields, async (bytes) => {
            report(bytes);
            await nextTurn(); // a big file takes a while: let timers and I/O run between slabs
            throwIfAborted(signal, `hdf5ToShm "${path}"`);
          });
        }
        throwIfAborted(signal, `hdf5ToShm "${path}"`);
        return { ...builder.publish(), skipped: plan.skipped };
      } catch (err) {
        builder.abort();
        throw err;
      }
    } finally {
      file.close();
    }
  } finally {
    closeSync(input.fd);
  }
}

/**
 * Where in the file the bytes of a dataset are, when they can be copied as they lie: a contiguous,
 * unfiltered dataset whose elements are the array's elements (not fields split from a compound), in
 * the file's byte order as the array keeps it. Undefined: copy it slab by slab through h5wasm. A range
 * past the end of the file is EINVAL now, before anything is allocated.
 */
function directRange(module: H5Module, file: H5File, input: InputFile, geo: Hdf5Geometry | undefined, plan: FilePlan, ds: PlannedDataset, path: string): number | undefined {
  if (geo === undefined || ds.parts.length !== 1) return undefined;
  const part = ds.parts[0]!;
  const bytes = elementCount(plan.arrays[part.array]!.shape) * plan.arrays[part.array]!.dtype.itemsize;
  if (part.offset !== 0 || part.size !== ds.recordBytes || bytes === 0) return undefined;
  let address: number;
  try {
    if (module.SIZEOF_OBJ_REF !== 8) return undefined;
    // An object reference (H5R_OBJECT) is the address of the object's header, relative to the base.
    const ref = Uint8Array.from(quietly(() => module.create_object_reference(file.file_id, ds.h5path)) as ArrayLike<number>);
    if (ref.length !== 8) return undefined;
    const value = new DataView(ref.buffer).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    address = Number(value);
  } catch {
    return undefined;
  }
  const storage = datasetStorage(input, geo, address, bytes);
  if (storage.kind !== 'contiguous') return undefined;
  if (storage.position + storage.size > input.size) {
    throw invalid(
      `${path}: ${ds.h5path}: its ${storage.size} bytes at byte ${storage.position} run past the end of the file (${input.size} bytes): is it truncated?`,
    );
  }
  return storage.position;
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
