// Attribute values (numbers, strings, booleans, arrays, objects, bigints, bytes, typed arrays), kept
// in JSON. Values JSON cannot hold are marked: { "@bigint": "…" }, { "@bytes": base64 },
// { "@array": { dtype, values } }, { "@float": "NaN" | "Infinity" | "-Infinity" }. User keys may not
// start with "@", so a marker is never ambiguous.

import { type TypedArray, dtype as toDType, dtypeOfArray, isTypedArray } from '../dtype.js';
import { invalid, NdshmError, show } from '../errors.js';
import { newNode, setOwn } from '../tree.js';

export type AttrValue = string | number | boolean | null | bigint | Uint8Array | TypedArray | AttrValue[] | { [key: string]: AttrValue };
export type Attrs = Record<string, AttrValue>;

export function encodeAttrs(attrs: unknown, where: string): Record<string, unknown> {
  if (attrs === undefined) return {};
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) throw invalid(`${where}: attrs must be an object`);
  return encode(attrs, where, 0) as Record<string, unknown>;
}

function encode(v: unknown, where: string, depth: number): unknown {
  if (depth > 32) throw invalid(`${where}: attrs are nested too deeply`);
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { '@float': String(v) };
  if (typeof v === 'bigint') return { '@bigint': v.toString() };
  if (v instanceof Uint8Array && v.constructor === Uint8Array) return { '@bytes': Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (isTypedArray(v)) {
    const dt = dtypeOfArray(v);
    return { '@array': { dtype: dt.typestr, values: Array.from(v as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? x.toString() : encode(x, where, depth + 1))) } };
  }
  if (Array.isArray(v)) return v.map((x) => encode(x, where, depth + 1));
  if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const out = newNode();
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith('@')) throw invalid(`${where}: attribute names may not start with "@" (${show(k)})`);
      setOwn(out, k, encode(x, where, depth + 1));
    }
    return out;
  }
  throw invalid(`${where}: attribute values must be numbers, strings, booleans, null, bigints, bytes, typed arrays, arrays or plain objects`);
}

function bad(where: string, why: string): NdshmError {
  return new NdshmError('EBADHEADER', `${where}: bad attribute in the manifest: ${why}`);
}

/** Decodes attributes read back from a manifest, checking every marker. */
export function decodeAttrs(v: unknown, where: string, depth = 0): AttrValue {
  if (depth > 33) throw bad(where, 'nested too deeply');
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map((x) => decodeAttrs(x, where, depth + 1));
  if (typeof v !== 'object') throw bad(where, typeof v);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0]!.startsWith('@')) {
    const x = o[keys[0]!];
    switch (keys[0]) {
      case '@float':
        if (x === 'NaN' || x === 'Infinity' || x === '-Infinity') return Number(x);
        throw bad(where, '@float');
      case '@bigint':
        if (typeof x === 'string' && /^-?\d{1,40}$/.test(x)) return BigInt(x);
        throw bad(where, '@bigint');
      case '@bytes':
        if (typeof x === 'string') return new Uint8Array(Buffer.from(x, 'base64'));
        throw bad(where, '@bytes');
      case '@array': {
        const a = x as { dtype?: unknown; values?: unknown };
        if (typeof a?.dtype !== 'string' || !Array.isArray(a.values)) throw bad(where, '@array');
        let dt;
        try {
          dt = toDType(a.dtype);
        } catch {
          throw bad(where, `@array dtype ${show(a.dtype)}`);
        }
        const wide = dt.itemsize === 8 && (dt.kind === 'i' || dt.kind === 'u');
        const out = new dt.arrayType(a.values.length) as unknown as { [i: number]: number | bigint } & TypedArray;
        a.values.forEach((e, i) => {
          out[i] = wide ? BigInt(String(e)) : Number(decodeAttrs(e, where, depth + 1));
        });
        return out;
      }
      default:
        throw bad(where, `unknown marker ${keys[0]}`);
    }
  }
  const out = newNode<AttrValue>();
  for (const k of keys) setOwn(out, k, decodeAttrs(o[k], where, depth + 1));
  return out;
}
