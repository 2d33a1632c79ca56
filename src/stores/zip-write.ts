// Writing .npz files: a zip of STORED members, with ZIP64 records where a size or offset needs them.

import { crc32 } from 'node:zlib';

import { writeFully } from './files.js';
import { flagUtf8, methodStored, sig, u16Max, u32Max } from './zip-read.js';

interface WrittenMember {
  name: Uint8Array;
  utf8: boolean;
  crc32: number;
  size: number;
  offset: number;
}

export interface ZipWriterOptions {
  /** Write ZIP64 records even where the sizes do not need them (for tests). */
  forceZip64?: boolean;
}

/** Writes a zip of STORED members to `fd`, from its start, member by member. */
export class ZipWriter {
  readonly #fd: number;
  readonly #path: string;
  readonly #force: boolean;
  readonly #members: WrittenMember[] = [];
  readonly #time: { date: number; time: number };
  #position = 0;

  constructor(fd: number, path: string, options: ZipWriterOptions = {}) {
    this.#fd = fd;
    this.#path = path;
    this.#force = options.forceZip64 ?? false;
    const now = new Date();
    this.#time = {
      date: ((Math.max(now.getFullYear(), 1980) - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate(),
      time: (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1),
    };
  }

  /** Bytes written so far (the file's size after finish()). */
  get size(): number {
    return this.#position;
  }

  #write(bytes: Uint8Array): void {
    writeFully(this.#fd, bytes, this.#position, this.#path);
    this.#position += bytes.length;
  }

  /**
   * Adds a STORED member of `size` bytes, which `fill` passes to its `write` callback in pieces; the
   * CRC is computed on the way and written into the local header afterwards.
   */
  addStored(name: string, size: number, fill: (write: (bytes: Uint8Array) => void) => void): void {
    const nameBytes = Buffer.from(name, 'utf8');
    const utf8 = /[^\x20-\x7e]/.test(name);
    const zip64 = this.#force || size >= u32Max;
    const offset = this.#position;
    const header = new DataView(new ArrayBuffer(30 + nameBytes.length + (zip64 ? 20 : 0)));
    header.setUint32(0, sig.local, true);
    header.setUint16(4, zip64 ? 45 : 20, true);
    header.setUint16(6, utf8 ? flagUtf8 : 0, true);
    header.setUint16(8, methodStored, true);
    header.setUint16(10, this.#time.time, true);
    header.setUint16(12, this.#time.date, true);
    header.setUint32(18, zip64 ? u32Max : size, true);
    header.setUint32(22, zip64 ? u32Max : size, true);
    header.setUint16(26, nameBytes.length, true);
    header.setUint16(28, zip64 ? 20 : 0, true);
    const bytes = new Uint8Array(header.buffer);
    bytes.set(nameBytes, 30);
    if (zip64) {
      const at = 30 + nameBytes.length;
      header.setUint16(at, 0x0001, true);
      header.setUint16(at + 2, 16, true);
      header.setBigUint64(at + 4, BigInt(size), true);
      header.setBigUint64(at + 12, BigInt(size), true);
    }
    this.#write(bytes);
    let crc = 0;
    let written = 0;
    fill((piece) => {
      crc = crc32(piece, crc);
      written += piece.length;
      this.#write(piece);
    });
    if (written !== size) throw new Error(`zip member "${name}": ${written} bytes written, ${size} declared`);
    const crcBytes = new Uint8Array(4);
    new DataView(crcBytes.buffer).setUint32(0, crc, true);
    writeFully(this.#fd, crcBytes, offset + 14, this.#path);
    this.#members.push({ name: nameBytes, utf8, crc32: crc, size, offset });
  }

  /** Writes the central directory and the end records. */
  finish(): void {
    const cdOffset = this.#position;
    for (const m of this.#members) {
      const big = [m.size >= u32Max || this.#force, m.size >= u32Max || this.#force, m.offset >= u32Max || this.#force];
      const extra = big.filter(Boolean).length * 8;
      const entry = new DataView(new ArrayBuffer(46 + m.name.length + (extra > 0 ? 4 + extra : 0)));
      const zip64 = extra > 0;
      entry.setUint32(0, sig.central, true);
      entry.setUint16(4, (3 << 8) | (zip64 ? 45 : 20), true); // made by: Unix
      entry.setUint16(6, zip64 ? 45 : 20, true);
      entry.setUint16(8, m.utf8 ? flagUtf8 : 0, true);
      entry.setUint16(10, methodStored, true);
      entry.setUint16(12, this.#time.time, true);
      entry.setUint16(14, this.#time.date, true);
      entry.setUint32(16, m.crc32, true);
      entry.setUint32(20, big[1] ? u32Max : m.size, true);
      entry.setUint32(24, big[0] ? u32Max : m.size, true);
      entry.setUint16(28, m.name.length, true);
      entry.setUint16(30, zip64 ? 4 + extra : 0, true);
      entry.setUint32(38, 0o100644 << 16, true); // a regular file, rw-r--r--
      entry.setUint32(42, big[2] ? u32Max : m.offset, true);
      const bytes = new Uint8Array(entry.buffer);
      bytes.set(m.name, 46);
      if (zip64) {
        let at = 46 + m.name.length;
        entry.setUint16(at, 0x0001, true);
        entry.setUint16(at + 2, extra, true);
        at += 4;
        for (const [i, v] of [m.size, m.size, m.offset].entries()) {
          if (!big[i]) continue;
          entry.setBigUint64(at, BigInt(v), true);
          at += 8;
        }
      }
      this.#write(bytes);
    }
    const cdSize = this.#position - cdOffset;
    const count = this.#members.length;
    if (this.#force || count >= u16Max || cdSize >= u32Max || cdOffset >= u32Max) {
      const recordAt = this.#position;
      const record = new DataView(new ArrayBuffer(56 + 20));
      record.setUint32(0, sig.end64, true);
      record.setBigUint64(4, 44n, true); // the record's size after this field
      record.setUint16(12, (3 << 8) | 45, true);
      record.setUint16(14, 45, true);
      record.setBigUint64(24, BigInt(count), true);
      record.setBigUint64(32, BigInt(count), true);
      record.setBigUint64(40, BigInt(cdSize), true);
      record.setBigUint64(48, BigInt(cdOffset), true);
      record.setUint32(56, sig.locator64, true);
      record.setBigUint64(64, BigInt(recordAt), true);
      record.setUint32(72, 1, true); // total number of disks
      this.#write(new Uint8Array(record.buffer));
    }
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, sig.end, true);
    end.setUint16(8, Math.min(count, u16Max), true);
    end.setUint16(10, Math.min(count, u16Max), true);
    end.setUint32(12, Math.min(cdSize, u32Max), true);
    end.setUint32(16, Math.min(cdOffset, u32Max), true);
    this.#write(new Uint8Array(end.buffer));
  }
}
