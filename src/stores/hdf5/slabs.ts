// Copying a dataset into shared memory slab by slab: each slab is a C-contiguous run of elements of a
// few MiB, read by HDF5 into one scratch buffer in the wasm heap and copied from there straight into
// the target's bytes. The wasm heap holds one slab, so files far larger than it (2 GiB) convert.
//
// We call h5wasm's Module.get_dataset_data rather than Dataset.slice: slice copies the slab out of
// the heap once more, throws for float16 ("Float16 not supported"), turns compound rows into JS
// arrays one by one, and ignores HDF5's status (a failed read would give zeros).

import { invalid, NdshmError, show } from '../../errors.js';
import { hdf5Reason, quietly } from './file.js';

export type H5Module = Awaited<typeof import('h5wasm/node').ready>;

/** Bytes per slab (fewer when one row of the first axis is smaller than that). */
export const slabBytes = 4 << 20;

export interface Slab {
  /** Hyperslab start and count per axis; both empty for a 0-d dataset (read whole). */
  readonly offset: readonly number[];
  readonly count: readonly number[];
  /** Position of its first element in C order, and how many elements it has. */
  readonly first: number;
  readonly elements: number;
}

export interface SlabPlan {
  /** The largest slab, in bytes of the HDF5 element type. */
  readonly maxBytes: number;
  slabs(): Generator<Slab>;
}

/**
 * Slabs along axis 0, or along a later axis when even one index of axis 0 is bigger than `limit`
 * (the axes before it then advance one index at a time), so every slab stays contiguous in C order.
 */
export function planSlabs(shape: readonly number[], recordBytes: number, limit = slabBytes): SlabPlan {
  const total = shape.reduce((a, b) => a * b, 1);
  if (total === 0) return { maxBytes: 0, *slabs() {} };
  if (shape.length === 0) {
    return {
      maxBytes: recordBytes,
      *slabs() {
        yield { offset: [], count: [], first: 0, elements: 1 };
      },
    };
  }
  const inner = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1)); // elements per index of axis k
  let axis = 0;
  while (axis < shape.length - 1 && inner[axis]! * recordBytes > limit) axis++;
  const step = Math.max(1, Math.floor(limit / (inner[axis]! * recordBytes)));
  const perSlab = Math.min(step, shape[axis]!);
  return {
    maxBytes: perSlab * inner[axis]! * recordBytes,
    *slabs() {
      const outer = new Array<number>(axis).fill(0);
      for (;;) {
        const base = outer.reduce((sum, i, a) => sum + i * inner[a]!, 0);
        for (let j = 0; j < shape[axis]!; j += perSlab) {
          const n = Math.min(perSlab, shape[axis]! - j);
          yield {
            offset: [...outer, j, ...shape.slice(axis + 1).map(() => 0)],
            count: [...outer.map(() => 1), n, ...shape.slice(axis + 1)],
            first: base + j * inner[axis]!,
            elements: n * inner[axis]!,
          };
        }
        let a = axis - 1; // advance the odometer of the axes before `axis`
        while (a >= 0 && ++outer[a]! === shape[a]!) outer[a--] = 0;
        if (a < 0) return;
      }
    },
  };
}

/** Where a slab's bytes go: a whole element, or one field of a compound element. */
export interface FieldTarget {
  /** The target array's bytes (C-contiguous). */
  readonly bytes: Uint8Array;
  /** Byte offset of the field in the HDF5 element, and its size. */
  readonly offset: number;
  readonly size: number;
  /** Swap bytes in groups of this width after copying (0: no swap). */
  readonly swap: number;
}

export interface DatasetSource {
  readonly fileId: bigint;
  readonly path: string;
  readonly shape: readonly number[];
  /** Bytes of one element of the dataset's type (a compound's whole record). */
  readonly recordBytes: number;
  /** For error messages. */
  readonly where: string;
}

/**
 * Copies the dataset into `fields`, one slab at a time, calling `afterSlab` with the bytes it wrote
 * (awaited, so the caller can yield to the event loop between slabs).
 */
export async function copyDataset(
  module: H5Module,
  source: DatasetSource,
  fields: readonly FieldTarget[],
  afterSlab: (bytesWritten: number) => Promise<void> | void,
): Promise<void> {
  const plan = planSlabs(source.shape, source.recordBytes);
  if (plan.maxBytes === 0) return;
  const ptr = module._malloc(plan.maxBytes);
  if (ptr === 0) throw invalid(`${source.where}: the wasm heap has no room for a slab of ${plan.maxBytes} bytes`);
  try {
    for (const slab of plan.slabs()) {
      const nbytes = slab.elements * source.recordBytes;
      const whole = slab.count.length === 0;
      let status: number;
      try {
        status = quietly(() => module.get_dataset_data(
          source.fileId,
          source.path,
          whole ? null : slab.count.map(BigInt),
          whole ? null : slab.offset.map(BigInt),
          whole ? null : slab.count.map(() => 1n),
          BigInt(ptr),
        ));
      } catch (err) {
        throw new NdshmError('EINVAL', `${source.where}: HDF5 could not read it: ${hdf5Reason() ?? (err instanceof Error ? err.message : show(err))}`, { cause: err });
      }
      if (status < 0) {
        const reason = hdf5Reason() ?? `status ${status}`;
        const filters = filterNote(module, source);
        throw invalid(`${source.where}: HDF5 could not read it ${filters === '' ? `(${reason})` : `(${filters}; HDF5 says: ${reason})`}`);
      }
      const src = module.HEAPU8.subarray(ptr, ptr + nbytes); // after the read: the heap may have grown
      let written = 0;
      for (const field of fields) written += scatter(src, source.recordBytes, slab, field);
      await afterSlab(written);
    }
  } finally {
    module._free(ptr);
  }
}

/** The compression filters a failed dataset uses: a missing one (LZF, Blosc, ...) is the usual cause. */
function filterNote(module: H5Module, source: DatasetSource): string {
  try {
    const filters = module.get_dataset_filters(source.fileId, source.path);
    if (filters.length === 0) return '';
    return `it uses the filters ${filters.map((f) => `${f.name || 'unnamed'} (${f.id})`).join(', ')}, which h5wasm may lack`;
  } catch {
    return '';
  }
}

function scatter(src: Uint8Array, recordBytes: number, slab: Slab, field: FieldTarget): number {
  const { bytes: dst, size } = field;
  const start = slab.first * size;
  const length = slab.elements * size;
  if (field.offset === 0 && size === recordBytes) {
    dst.set(src.subarray(0, length), start);
  } else if (size <= 16) {
    for (let r = 0, s = field.offset, d = start; r < slab.elements; r++, s += recordBytes, d += size) {
      for (let b = 0; b < size; b++) dst[d + b] = src[s + b]!;
    }
  } else {
    for (let r = 0, s = field.offset, d = start; r < slab.elements; r++, s += recordBytes, d += size) {
      dst.set(src.subarray(s, s + size), d);
    }
  }
  if (field.swap !== 0) swapBytes(dst, start, length, field.swap);
  return length;
}

/** Reverses each `width`-byte group of dst[start, start + length) in place. */
export function swapBytes(dst: Uint8Array, start: number, length: number, width: number): void {
  const view = Buffer.from(dst.buffer, dst.byteOffset + start, length);
  if (width === 2) view.swap16();
  else if (width === 4) view.swap32();
  else if (width === 8) view.swap64();
  else throw invalid(`cannot swap ${width}-byte numbers`);
}
