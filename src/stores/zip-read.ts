// Reading .npz files (PKWARE APPNOTE 6.3, just what numpy writes and more): the central directory,
// with the ZIP64 records numpy's savez writes for every member, and deflated members streamed
// through zlib in pieces.

import { createInflateRaw, crc32 } from 'node:zlib';

import { NdshmError, invalid } from '../errors.js';
import { type InputFile, readExactly } from './files.js';

export const sig = { local: 0x04034b50, central: 0x02014b50, end: 0x06054b50, end64: 0x06064b50, locator64: 0x07064b50 };
export const u32Max = 0xffffffff;
export const u16Max = 0xffff;
const flagEncrypted = 0x1;
export const flagUtf8 = 0x800;
export const methodStored = 0;
export const methodDeflated = 8;

export interface ZipMember {
  readonly name: string;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Where the member's (compressed) bytes start, after its local header. */
  readonly dataStart: number;
}

const bad = (where: string, what: string): NdshmError => new NdshmError('EBADHEADER', `${where}: ${what}`);

function u64(view: DataView, at: number, where: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(where, `a ZIP64 size or offset (${v}) is implausible`);
  return Number(v);
}

function read(file: InputFile, position: number, length: number): DataView {
  const bytes = new Uint8Array(length);
  readExactly(file, bytes, position);
  return new DataView(bytes.buffer);
}

/** The members of a zip file, from its central directory, with their data positions checked. */
export function readZipDirectory(file: InputFile): ZipMember[] {
  const where = `"${file.path}"`;
  // The end record is the last 22 bytes, unless a comment (at most 65,535 bytes) follows it.
  const tailLength = Math.min(file.size, 22 + u16Max);
  const tail = read(file, file.size - tailLength, tailLength);
  let at = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === sig.end && i + 22 + tail.getUint16(i + 20, true) <= tailLength) {
      at = i;
      break;
    }
  }
  if (at < 0) throw bad(where, 'not a zip file (no end-of-central-directory record)');
  const endPosition = file.size - tailLength + at;
  let disk = tail.getUint16(at + 4, true);
  let cdDisk = tail.getUint16(at + 6, true);
  let count = tail.getUint16(at + 10, true);
  let cdSize = tail.getUint32(at + 12, true);
  let cdOffset = tail.getUint32(at + 16, true);
  // A ZIP64 locator right before the end record points to the ZIP64 end record, whose numbers win.
  if (endPosition >= 20) {
    const locator = read(file, endPosition - 20, 20);
    if (locator.getUint32(0, true) === sig.locator64) {
      const recordAt = u64(locator, 8, where);
      if (recordAt + 56 > endPosition - 20) throw bad(where, 'the ZIP64 end record lies outside the file');
      const record = read(file, recordAt, 56);
      if (record.getUint32(0, true) !== sig.end64) throw bad(where, 'bad ZIP64 end-of-central-directory record');
      disk = record.getUint32(16, true);
      cdDisk = record.getUint32(20, true);
      count = u64(record, 32, where);
      cdSize = u64(record, 40, where);
      cdOffset = u64(record, 48, where);
    }
  }
  if (disk !== 0 || cdDisk !== 0) throw invalid(`${where}: multi-volume zip archives are not supported`);
  if (cdOffset + cdSize > endPosition) throw bad(where, `the central directory (${cdSize} bytes at ${cdOffset}) lies outside the file`);
  const cd = read(file, cdOffset, cdSize);
  const cdBytes = new Uint8Array(cd.buffer);
  const entries: (Omit<ZipMember, 'dataStart'> & { localOffset: number })[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== sig.central) throw bad(where, `central directory entry ${i} is corrupt`);
    const flags = cd.getUint16(p + 8, true);
    const method = cd.getUint16(p + 10, true);
    const nameLength = cd.getUint16(p + 28, true);
    const extraLength = cd.getUint16(p + 30, true);
    const commentLength = cd.getUint16(p + 32, true);
    if (p + 46 + nameLength + extraLength + commentLength > cdSize) throw bad(where, `central directory entry ${i} is corrupt`);
    const nameBytes = cdBytes.subarray(p + 46, p + 46 + nameLength);
    const name = decodeName(nameBytes, (flags & flagUtf8) !== 0, where);
    let compressedSize = cd.getUint32(p + 20, true);
    let uncompressedSize = cd.getUint32(p + 24, true);
    let localOffset = cd.getUint32(p + 42, true);
    // ZIP64 extra field: the 8-byte values of exactly those fields that are 0xFFFFFFFF, in this order.
    const wanted = [uncompressedSize, compressedSize, localOffset].map((v) => v === u32Max);
    if (wanted.some(Boolean)) {
      const values = zip64Extra(cd, p + 46 + nameLength, extraLength, wanted.filter(Boolean).length, `${where} member "${name}"`);
      let k = 0;
      if (wanted[0]) uncompressedSize = values[k++]!;
      if (wanted[1]) compressedSize = values[k++]!;
      if (wanted[2]) localOffset = values[k++]!;
    }
    const memberWhere = `${where} member "${name}"`;
    if ((flags & flagEncrypted) !== 0) throw invalid(`${memberWhere} is encrypted: not supported`);
    if (method !== methodStored && method !== methodDeflated) {
      throw invalid(`${memberWhere} uses compression method ${method}: only stored (0) and deflated (8) are supported`);
    }
    if (method === methodStored && compressedSize !== uncompressedSize) {
      throw bad(memberWhere, `stored, but its sizes differ (${compressedSize} and ${uncompressedSize} bytes)`);
    }
    // Deflate expands at most 1032-fold (258 bytes from a 2-bit code): a larger claim is a lie, caught
    // here before shared memory is allocated for it.
    if (method === methodDeflated && uncompressedSize > compressedSize * 1032 + 1024) {
      throw bad(memberWhere, `claims ${uncompressedSize} bytes from ${compressedSize} deflated bytes, more than deflate can produce`);
    }
    entries.push({ name, method, crc32: cd.getUint32(p + 16, true), compressedSize, uncompressedSize, localOffset });
    p += 46 + nameLength + extraLength + commentLength;
  }
  // Each member's data follows its local header, whose name and extra field lengths may differ from
  // the central directory's.
  return entries.map(({ localOffset, ...m }) => {
    const memberWhere = `${where} member "${m.name}"`;
    if (localOffset + 30 > cdOffset) throw bad(memberWhere, `its local header (at ${localOffset}) lies outside the file's data`);
    const local = read(file, localOffset, 30);
    if (local.getUint32(0, true) !== sig.local) throw bad(memberWhere, `no local header at byte ${localOffset}`);
    const dataStart = localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataStart + m.compressedSize > cdOffset) {
      throw bad(memberWhere, `its ${m.compressedSize} bytes at ${dataStart} run past the end of the data (${cdOffset})`);
    }
    return { ...m, dataStart };
  });
}

function zip64Extra(cd: DataView, at: number, length: number, n: number, where: string): number[] {
  for (let p = at; p + 4 <= at + length; ) {
    const id = cd.getUint16(p, true);
    const size = cd.getUint16(p + 2, true);
    if (id === 0x0001) {
      if (size < 8 * n || p + 4 + size > at + length) break;
      return Array.from({ length: n }, (_, k) => u64(cd, p + 4 + 8 * k, where));
    }
    p += 4 + size;
  }
  throw bad(where, 'its sizes are in a ZIP64 extra field that is missing or short');
}

// Code page 437, the encoding of names without the UTF-8 flag (bytes 0x80-0xFF).
const cp437High =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function decodeName(bytes: Uint8Array, utf8: boolean, where: string): string {
  if (utf8) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw bad(where, 'a member name flagged UTF-8 is not valid UTF-8');
    }
  }
  let s = '';
  for (const b of bytes) s += b < 0x80 ? String.fromCharCode(b) : cp437High[b - 0x80];
  return s;
}

/**
 * Inflates a raw-deflate range of the file, handing each piece of output to `sink` in order, without
 * ever holding more than a piece. `sink` returns false to stop early. zlib's streaming API is the only
 * way to inflate in pieces, so this is asynchronous; reads are synchronous and paced by the inflater.
 */
export function inflateRange(
  file: InputFile,
  start: number,
  length: number,
  where: string,
  sink: (piece: Buffer) => boolean,
  sizes: { read: number; piece: number } = { read: 1 << 20, piece: 1 << 20 },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const inflater = createInflateRaw({ chunkSize: sizes.piece });
    let done = false;
    let position = 0;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      if (!inflater.destroyed) inflater.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    inflater.on('data', (piece: Buffer) => {
      if (done) return;
      try {
        if (!sink(piece)) finish();
      } catch (err) {
        finish(err);
      }
    });
    inflater.on('error', (err) => finish(bad(where, `its deflated data is corrupt (${err.message})`)));
    inflater.on('end', () => finish());
    const pump = (): void => {
      try {
        while (!done && position < length) {
          // A fresh buffer each time: zlib still holds the last one while it works.
          const chunk = Buffer.allocUnsafe(Math.min(sizes.read, length - position));
          readExactly(file, chunk, start + position);
          position += chunk.length;
          if (!inflater.write(chunk)) {
            inflater.once('drain', pump);
            return;
          }
        }
        if (!done) inflater.end();
      } catch (err) {
        finish(err);
      }
    };
    pump();
  });
}

/** CRC-32 as zip computes it, continued from `previous`. */
export const zipCrc32 = (bytes: Uint8Array, previous = 0): number => crc32(bytes, previous);
