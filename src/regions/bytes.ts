// Triton's BYTES tensor format, as tritonclient.utils.serialize_byte_tensor writes it: for each
// element in C order, a little-endian uint32 length, then that many bytes.

import { NdshmError, invalid } from '../errors.js';

export type BytesElement = string | Uint8Array;
/** A BYTES tensor: elements (strings are UTF-8 encoded), possibly nested, read in C order. */
export type BytesTensor = readonly (BytesElement | BytesTensor)[];

const encoder = new TextEncoder();

/** The elements of a (nested) BYTES tensor in C order, checking that it is rectangular. */
export function flattenBytes(tensor: BytesTensor, what: string): BytesElement[] {
  const out: BytesElement[] = [];
  const walk = (node: BytesTensor, depth: number, shape: number[]): void => {
    if (shape.length <= depth) shape.push(node.length);
    else if (shape[depth] !== node.length) throw invalid(`${what} is ragged: rows of length ${shape[depth]} and ${node.length}`);
    for (const item of node) {
      if (typeof item === 'string' || item instanceof Uint8Array) {
        if (shape.length > depth + 1) throw invalid(`${what} mixes elements and rows at depth ${depth}`);
        out.push(item);
      } else if (Array.isArray(item)) {
        walk(item, depth + 1, shape);
      } else {
        throw invalid(`${what}: BYTES elements must be strings or Uint8Arrays, got ${typeof item}`);
      }
    }
  };
  walk(tensor, 0, []);
  return out;
}

function elementLength(e: BytesElement): number {
  return typeof e === 'string' ? Buffer.byteLength(e, 'utf8') : e.byteLength;
}

/** Bytes the serialized form of these elements takes. */
export function serializedLength(elements: readonly BytesElement[]): number {
  let n = 0;
  for (const e of elements) n += 4 + elementLength(e);
  return n;
}

/** Writes the elements into `target` (which must hold serializedLength bytes) with no copy in between. */
export function serializeInto(elements: readonly BytesElement[], target: Uint8Array): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  let at = 0;
  for (const e of elements) {
    const length = elementLength(e);
    if (length > 0xffffffff) throw invalid(`a BYTES element of ${length} bytes does not fit its uint32 length`);
    view.setUint32(at, length, true);
    at += 4;
    if (typeof e === 'string') encoder.encodeInto(e, target.subarray(at, at + length));
    else target.set(e, at);
    at += length;
  }
}

/** Reads `count` elements (copies) from `source`; ERANGE if a length points past its end. */
export function deserialize(source: Uint8Array, count: number, where: string): Uint8Array[] {
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > source.byteLength) {
      throw new NdshmError('ERANGE', `${where}: BYTES element ${i} of ${count} starts past the end of the region`);
    }
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > source.byteLength) {
      throw new NdshmError('ERANGE', `${where}: BYTES element ${i} claims ${length} bytes, past the end of the region`);
    }
    out.push(source.slice(at, at + length));
    at += length;
  }
  return out;
}
