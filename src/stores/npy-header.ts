// The .npy header (numpy's format spec): magic "\x93NUMPY", version, header length, then a Python
// dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } padded with spaces to a
// multiple of 64 bytes and ending in "\n". The dict is parsed by hand (a small Python-literal reader),
// never evaluated.

import { type DType, dtype as toDType } from '../dtype.js';
import { invalid, NdshmError, show } from '../errors.js';

const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Bytes needed to know a header's length (version 2.0 and 3.0 have a 4-byte length field). */
export const npyPrefixLength = 12;
/** numpy reads at most 10,000 by default; be more generous, but a 4 GiB "header" is a bad file. */
const maxHeaderLength = 1 << 20;
const maxDims = 32;

export interface NpyHeader {
  readonly dtype: DType;
  readonly shape: number[];
  readonly fortranOrder: boolean;
  /** Bytes before the data: magic, version, length field and the dict. */
  readonly headerLength: number;
  /** Bytes of data the shape and dtype call for. */
  readonly dataBytes: number;
}

const bad = (where: string, what: string): NdshmError => new NdshmError('EBADHEADER', `${where}: ${what}`);

/**
 * The header's total length (magic to end of dict), from the first bytes of the file; `prefix` may be
 * shorter than npyPrefixLength only when the file is.
 */
export function npyHeaderLength(prefix: Uint8Array, where: string): number {
  if (prefix.length < 10 || magic.some((b, i) => prefix[i] !== b)) {
    throw bad(where, 'not a .npy file (it does not start with "\\x93NUMPY")');
  }
  const major = prefix[6]!;
  const minor = prefix[7]!;
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  let length: number;
  if (major === 1 && minor === 0) {
    length = 10 + view.getUint16(8, true);
  } else if ((major === 2 || major === 3) && minor === 0) {
    if (prefix.length < 12) throw bad(where, 'the file ends inside the .npy header');
    const dict = view.getUint32(8, true);
    if (dict > maxHeaderLength) throw bad(where, `.npy header length ${dict} is implausible (at most ${maxHeaderLength})`);
    length = 12 + dict;
  } else {
    throw bad(where, `.npy format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  return length;
}

/** Parses a whole header (`bytes` is exactly npyHeaderLength long). */
export function parseNpyHeader(bytes: Uint8Array, where: string): NpyHeader {
  const headerLength = npyHeaderLength(bytes, where);
  if (bytes.length !== headerLength) throw bad(where, `the .npy header is ${headerLength} bytes, got ${bytes.length}`);
  const start = bytes[6] === 1 ? 10 : 12;
  // Versions 1.0 and 2.0 are latin1; 3.0 is UTF-8 (for structured field names, which we reject anyway).
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.length - start).toString(bytes[6] === 3 ? 'utf8' : 'latin1');
  let dict: PyValue;
  try {
    const reader = new LiteralReader(text);
    dict = reader.value();
    reader.end();
  } catch (err) {
    if (err instanceof SyntaxError) throw bad(where, `the .npy header is not a Python dict literal (${err.message}): ${show(text.trimEnd())}`);
    throw err;
  }
  if (dict.t !== 'dict') throw bad(where, `the .npy header is a ${dict.t}, not a dict`);
  const fields = new Map<string, PyValue>();
  for (const [k, v] of dict.entries) {
    if (k.t !== 'str' || !['descr', 'fortran_order', 'shape'].includes(k.v) || fields.has(k.v)) {
      throw bad(where, `unexpected key ${repr(k)} in the .npy header`);
    }
    fields.set(k.v, v);
  }
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!fields.has(key)) throw bad(where, `the .npy header has no '${key}'`);
  }
  const dt = resolveDescr(fields.get('descr')!, where);
  const order = fields.get('fortran_order')!;
  if (order.t !== 'bool') throw bad(where, `fortran_order must be True or False, got ${repr(order)}`);
  const shape = resolveShape(fields.get('shape')!, dt, where);
  return { dtype: dt, shape, fortranOrder: order.v, headerLength, dataBytes: shape.reduce((a, b) => a * b, 1) * dt.itemsize };
}

const kindNames: Record<string, string> = {
  O: 'Python objects',
  U: 'unicode strings',
  S: 'byte strings',
  a: 'byte strings',
  V: 'raw void records',
  M: 'datetimes',
  m: 'timedeltas',
};

function resolveDescr(descr: PyValue, where: string): DType {
  if (descr.t === 'list') {
    throw invalid(`${where}: structured dtype ${repr(descr)} is not supported: ndshm holds arrays of one numeric type (save each field as its own array)`);
  }
  if (descr.t !== 'str') throw bad(where, `descr must be a string or a list, got ${repr(descr)}`);
  const spec = descr.v;
  // Only numpy's own typestr spelling: a byte order, a kind and a size ("<f8", "|b1").
  if (/^[<>|=][biufc][0-9]{1,2}$/.test(spec)) {
    try {
      return toDType(spec);
    } catch {
      // an unsupported size (float128, complex256): reported below
    }
  }
  const kind = kindNames[spec.replace(/^[<>|=]/, '').charAt(0)];
  throw invalid(
    `${where}: dtype '${spec}'${kind === undefined ? '' : ` (${kind})`} is not supported: ndshm holds bool, int8..int64, ` +
      'uint8..uint64, float16, float32, float64, complex64 and complex128',
  );
}

function resolveShape(shape: PyValue, dt: DType, where: string): number[] {
  if (shape.t !== 'tuple') throw bad(where, `shape must be a tuple, got ${repr(shape)}`);
  if (shape.items.length > maxDims) throw invalid(`${where}: shape ${repr(shape)} has ${shape.items.length} dimensions; at most ${maxDims} are supported`);
  const dims: number[] = [];
  let bytes = BigInt(dt.itemsize);
  for (const d of shape.items) {
    if (d.t !== 'int' || d.v < 0n) throw bad(where, `shape ${repr(shape)} must hold non-negative integers`);
    bytes *= d.v;
    dims.push(Number(d.v));
  }
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER) || dims.some((d) => !Number.isSafeInteger(d))) {
    throw new NdshmError('ETOOBIG', `${where}: shape ${repr(shape)} of ${dt.typestr} is too large`);
  }
  return dims;
}

/** A version 1.0 header (2.0 when the dict needs more than 65,535 bytes), padded as numpy pads it. */
export function formatNpyHeader(dt: DType, shape: readonly number[], fortranOrder: boolean): Uint8Array {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dt.typestr}', 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${tuple}, }`;
  for (const [major, prefix] of [[1, 10], [2, 12]] as const) {
    // numpy aligns the data to 64 bytes: the dict is padded with spaces, then "\n".
    const padded = dict.length + 1 + ((64 - ((prefix + dict.length + 1) % 64)) % 64);
    if (major === 1 && padded > 0xffff) continue;
    const out = new Uint8Array(prefix + padded);
    out.set(magic, 0);
    out[6] = major;
    out[7] = 0;
    const view = new DataView(out.buffer);
    if (major === 1) view.setUint16(8, padded, true);
    else view.setUint32(8, padded, true);
    out.fill(0x20, prefix, prefix + padded - 1);
    out.set(Buffer.from(dict, 'latin1'), prefix);
    out[out.length - 1] = 0x0a;
    return out;
  }
  throw new Error('unreachable');
}

// ----- a reader for the Python literals a header holds ----------------------------------------

type PyValue =
  | { t: 'dict'; entries: [PyValue, PyValue][] }
  | { t: 'tuple'; items: PyValue[] }
  | { t: 'list'; items: PyValue[] }
  | { t: 'str'; v: string }
  | { t: 'int'; v: bigint }
  | { t: 'bool'; v: boolean }
  | { t: 'none' };

function repr(v: PyValue): string {
  switch (v.t) {
    case 'dict':
      return `{${v.entries.map(([k, x]) => `${repr(k)}: ${repr(x)}`).join(', ')}}`;
    case 'tuple':
      return v.items.length === 1 ? `(${repr(v.items[0]!)},)` : `(${v.items.map(repr).join(', ')})`;
    case 'list':
      return `[${v.items.map(repr).join(', ')}]`;
    case 'str':
      return `'${v.v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    case 'int':
      return v.v.toString();
    case 'bool':
      return v.v ? 'True' : 'False';
    case 'none':
      return 'None';
  }
}

const escapes: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', r: '\r', t: '\t', '0': '\0' };

/** dicts, tuples, lists, strings, integers, True, False, None; anything else is a SyntaxError. */
class LiteralReader {
  #pos = 0;
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  #skipSpace(): void {
    while (this.#pos < this.#text.length && ' \t\r\n'.includes(this.#text[this.#pos]!)) this.#pos++;
  }

  #peek(): string {
    this.#skipSpace();
    return this.#text.charAt(this.#pos);
  }

  #expect(c: string): void {
    if (this.#peek() !== c) throw new SyntaxError(`expected "${c}" at character ${this.#pos}`);
    this.#pos++;
  }

  end(): void {
    if (this.#peek() !== '') throw new SyntaxError(`unexpected text at character ${this.#pos}`);
  }

  value(): PyValue {
    const c = this.#peek();
    if (c === '{') return this.#dict();
    if (c === '(') return this.#tuple();
    if (c === '[') return { t: 'list', items: this.#sequence('[', ']') };
    if (c === "'" || c === '"') return { t: 'str', v: this.#string(c) };
    if (c === '-' || (c >= '0' && c <= '9')) return this.#int();
    for (const [word, v] of [['True', { t: 'bool', v: true }], ['False', { t: 'bool', v: false }], ['None', { t: 'none' }]] as const) {
      if (this.#text.startsWith(word, this.#pos) && !/\w/.test(this.#text.charAt(this.#pos + word.length))) {
        this.#pos += word.length;
        return v;
      }
    }
    throw new SyntaxError(c === '' ? 'unexpected end' : `unexpected "${c}" at character ${this.#pos}`);
  }

  #dict(): PyValue {
    this.#expect('{');
    const entries: [PyValue, PyValue][] = [];
    while (this.#peek() !== '}') {
      const key = this.value();
      this.#expect(':');
      entries.push([key, this.value()]);
      if (this.#peek() !== ',') break;
      this.#pos++;
    }
    this.#expect('}');
    return { t: 'dict', entries };
  }

  /** "(x)" is x, as in Python; "(x,)" and "(x, y)" are tuples. */
  #tuple(): PyValue {
    const start = this.#pos;
    const items = this.#sequence('(', ')');
    const text = this.#text.slice(start, this.#pos);
    if (items.length === 1 && !/,\s*\)$/.test(text)) return items[0]!;
    return { t: 'tuple', items };
  }

  #sequence(open: string, close: string): PyValue[] {
    this.#expect(open);
    const items: PyValue[] = [];
    while (this.#peek() !== close) {
      items.push(this.value());
      if (this.#peek() !== ',') break;
      this.#pos++;
    }
    this.#expect(close);
    return items;
  }

  #string(quote: string): string {
    this.#pos++;
    let out = '';
    for (;;) {
      const c = this.#text.charAt(this.#pos++);
      if (c === '' || c === '\n') throw new SyntaxError('unterminated string');
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.#text.charAt(this.#pos++);
      if (e in escapes) out += escapes[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = this.#text.slice(this.#pos, this.#pos + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) throw new SyntaxError(`bad \\${e} escape`);
        out += String.fromCodePoint(parseInt(hex, 16));
        this.#pos += n;
      } else out += `\\${e}`; // Python keeps unknown escapes as they are
    }
  }

  #int(): PyValue {
    const m = /^-?[0-9]+L?/.exec(this.#text.slice(this.#pos)); // "L": headers written by Python 2
    if (m === null) throw new SyntaxError(`bad number at character ${this.#pos}`);
    this.#pos += m[0].length;
    const digits = m[0].replace(/L$/, '');
    if (/^-?0[0-9]/.test(digits)) throw new SyntaxError(`bad number ${digits}`);
    return { t: 'int', v: BigInt(digits) };
  }
}
