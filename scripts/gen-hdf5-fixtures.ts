// HDF5 fixtures for test/stores/hdf5.test.ts, written at test time into a temporary directory.
//
//   h5wasm.h5     written with h5wasm (always possible: it is a dependency). Groups 2 deep, every
//                 little-endian integer and float type h5wasm writes, 0-d and zero-size datasets,
//                 compound (complex and structured), strings, references, links, attributes of
//                 every type h5wasm writes, and a 48 MiB float32 dataset (12 slabs).
//   h5py.h5       written with h5py, which writes what h5wasm cannot: big-endian data and
//                 attributes, float16, h5py's bool enum, a compound with mixed byte orders and an
//                 array field, opaque data, bytes and bool attributes. Needs a python3 with h5py
//                 (python3, else Debian's /usr/bin/python3 with python3-h5py); skipped otherwise.
//                 h5py.json holds what numpy says each array is, to compare against.
//   lzf.h5        (h5py) a plain dataset, then an LZF-compressed one that h5wasm cannot decompress:
//                 a failure halfway through the copy.
//   compound-string.h5, small.h5   (h5wasm) a compound with a string field; a tiny file.
//
// Run alone: node dist/scripts/gen-hdf5-fixtures.js <directory>

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { AttrValue } from '../src/stores/attrs.js';

type H5wasm = typeof import('h5wasm/node');
type H5Group = InstanceType<H5wasm['Group']>;
type GuessableData = Parameters<H5Group['create_dataset']>[0]['data'];
type H5Dtype = NonNullable<Parameters<H5Group['create_dataset']>[0]['dtype']>;

/** An array as the store should hold it: typestr, shape, and values in C order (see flatValues). */
export interface ExpectedArray {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly values?: readonly unknown[];
  /** For big arrays instead of values: see checksum(). */
  readonly checksum?: number;
  readonly attrs?: Record<string, AttrValue>;
}

export interface H5wasmFixture {
  readonly path: string;
  /** By store path ("g1/g2/f64"). */
  readonly arrays: Record<string, ExpectedArray>;
  /** The store attrs: HDF5 path -> attributes. */
  readonly storeAttrs: Record<string, Record<string, AttrValue>>;
  readonly skipped: readonly { path: string; attribute?: string; reason: string }[];
}

/** Order-sensitive checksum of numbers that are multiples of 1/4 (as the big dataset's are). */
export function checksum(values: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < values.length; i++) h = (Math.imul(h, 31) + ((values[i]! * 4) | 0)) | 0;
  return h;
}

/** Elements in C order as JSON can hold them: 64-bit integers as decimal strings, Infinity as { number: 'Infinity' }. */
export function flatValues(values: ArrayLike<number | bigint>): unknown[] {
  return Array.from(values, (v) => (typeof v === 'bigint' ? v.toString() : Number.isFinite(v) ? v : { number: String(v) }));
}

export const bigShape = [3072, 4096] as const; // float32: 48 MiB, rows of 16 KiB

export function bigValues(): Float32Array {
  const out = new Float32Array(bigShape[0] * bigShape[1]);
  for (let i = 0; i < out.length; i++) out[i] = (i % 4093) * 0.25;
  return out;
}

async function h5wasm(): Promise<H5wasm> {
  const h5 = await import('h5wasm/node');
  await h5.ready;
  return h5;
}

interface DatasetSpec {
  readonly name: string;
  readonly data: GuessableData;
  readonly shape: number[];
  readonly dtype?: H5Dtype;
  readonly attrs?: Record<string, AttrSpec>;
}

interface AttrSpec {
  readonly data: GuessableData | bigint;
  readonly shape?: number[] | null;
  readonly dtype?: H5Dtype;
  /** The value the store should hold (undefined: skipped). */
  readonly expect?: AttrValue;
}

function writeAttrs(obj: H5Group | InstanceType<H5wasm['Dataset']>, attrs: Record<string, AttrSpec>): Record<string, AttrValue> {
  const expected: Record<string, AttrValue> = {};
  for (const [name, a] of Object.entries(attrs)) {
    obj.create_attribute(name, a.data as GuessableData, a.shape ?? null, a.dtype ?? null);
    if (a.expect !== undefined) expected[name] = a.expect;
  }
  return expected;
}

/** Writes h5wasm.h5 into `dir`; returns what the store made from it must hold. */
export async function writeH5wasmFixture(dir: string): Promise<H5wasmFixture> {
  const h5 = await h5wasm();
  const path = join(dir, 'h5wasm.h5');
  const f = new h5.File(path, 'w');
  const arrays: Record<string, ExpectedArray> = {};
  const storeAttrs: Record<string, Record<string, AttrValue>> = {};
  const skipped: { path: string; attribute?: string; reason: string }[] = [];
  try {
    const g1 = f.create_group('g1');
    const g2 = g1.create_group('g2');
    const ref = g1.create_reference();

    storeAttrs['/'] = writeAttrs(f, {
      title: { data: 'ndshm hdf5 fixture', expect: 'ndshm hdf5 fixture' }, // variable-length UTF-8
      version: { data: 3, expect: 3 }, // int32
      pi: { data: 3.14159, expect: 3.14159 }, // float64
      f32: { data: new Float32Array([1.25]), shape: [], expect: 1.25 },
      i64: { data: -(2n ** 62n), dtype: '<q', expect: -(2n ** 62n) },
      u64: { data: 2n ** 64n - 1n, dtype: '<Q', expect: 2n ** 64n - 1n },
      fixed: { data: 'abc', dtype: 'S8', expect: 'abc' }, // fixed-length UTF-8
      ascii: { data: 'plain', dtype: 'A8', expect: 'plain' }, // fixed-length ASCII
      vec: { data: new Float32Array([1.5, 2.5]), expect: new Float32Array([1.5, 2.5]) },
      u64s: { data: new BigUint64Array([1n, 2n ** 63n]), expect: new BigUint64Array([1n, 2n ** 63n]) },
      matrix: { data: new Int16Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], dtype: '<h', expect: [new Int16Array([1, 2, 3]), new Int16Array([4, 5, 6])] },
      words: { data: ['x', 'yz'], expect: ['x', 'yz'] },
      record: {
        data: new Map<string, unknown>([['a', new Int32Array([7])], ['b', new Float64Array([0.5])]]) as GuessableData,
        shape: [],
        dtype: [['a', '<i'], ['b', '<d']],
        expect: { a: 7, b: 0.5 },
      },
      '@hidden': { data: 1 },
      ref: { data: ref as GuessableData },
    });
    skipped.push(
      { path: '/', attribute: '@hidden', reason: 'has a name ndshm attributes may not have (starting with "@")' },
      { path: '/', attribute: 'ref', reason: 'holds references' },
    );
    storeAttrs['/g1'] = writeAttrs(g1, {
      units: { data: 'm', expect: 'm' },
      scale: { data: new Float64Array([1, 2, 3]), expect: new Float64Array([1, 2, 3]) },
    });
    storeAttrs['/g1/g2'] = writeAttrs(g2, {
      depth: { data: 2, expect: 2 },
      flags: { data: new Uint8Array([1, 0, 1]), expect: new Uint8Array([1, 0, 1]) },
    });

    const numeric = (group: H5Group, prefix: string, specs: DatasetSpec[], typestr: (s: DatasetSpec) => string): void => {
      for (const s of specs) {
        const ds = group.create_dataset({ name: s.name, data: s.data, shape: s.shape, ...(s.dtype === undefined ? {} : { dtype: s.dtype }) });
        const attrs = s.attrs === undefined ? {} : writeAttrs(ds, s.attrs);
        const values = ArrayBuffer.isView(s.data) ? flatValues(s.data as unknown as ArrayLike<number | bigint>) : [s.data];
        arrays[`${prefix}${s.name}`] = { dtype: typestr(s), shape: s.shape, values, attrs };
      }
    };
    numeric(g2, 'g1/g2/', [
      {
        name: 'f64',
        data: Float64Array.from({ length: 20 }, (_, i) => i / 8 - 1),
        shape: [4, 5],
        attrs: { long_name: { data: 'values', expect: 'values' }, valid_range: { data: new Float64Array([-1, 1]), expect: new Float64Array([-1, 1]) } },
      },
      { name: 'i64', data: new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]), shape: [3] },
    ], (s) => (s.name === 'f64' ? '<f8' : '<i8'));
    const typestrs: Record<string, string> = { i8: '|i1', u8: '|u1', i16: '<i2', u16: '<u2', i32: '<i4', u32: '<u4', u64: '<u8', f32: '<f4' };
    numeric(g1, 'g1/', [
      { name: 'i8', data: new Int8Array([-128, -1, 0, 127]), shape: [2, 2] },
      { name: 'u8', data: new Uint8Array([0, 1, 255]), shape: [3] },
      { name: 'i16', data: new Int16Array([-32768, 32767]), shape: [2] },
      { name: 'u16', data: new Uint16Array([0, 65535]), shape: [2, 1] },
      { name: 'i32', data: new Int32Array([-(2 ** 31), 2 ** 31 - 1, 5]), shape: [3] },
      { name: 'u32', data: new Uint32Array([0, 2 ** 32 - 1]), shape: [2] },
      { name: 'u64', data: new BigUint64Array([0n, 2n ** 64n - 1n]), shape: [2] },
      { name: 'f32', data: Float32Array.from({ length: 24 }, (_, i) => i * 0.5), shape: [2, 3, 4], attrs: { note: { data: '3-d', expect: '3-d' } } },
    ], (s) => typestrs[s.name]!);
    numeric(f, '', [
      { name: 'scalar', data: 3.5, shape: [], attrs: { note: { data: 'zero-d', expect: 'zero-d' } } },
      { name: 'scalar_i32', data: new Int32Array([-7]), shape: [] },
      { name: 'empty', data: new Int16Array(0), shape: [0, 4] },
      { name: 'empty1', data: new Float64Array(0), shape: [0] },
    ], (s) => ({ scalar: '<f8', scalar_i32: '<i4', empty: '<i2', empty1: '<f8' })[s.name]!);

    // h5py's complex numbers: compound {r, i}.
    f.create_dataset({
      name: 'complex',
      data: new Map([['r', new Float64Array([1, 3, -5])], ['i', new Float64Array([2, -4, 6])]]),
      dtype: [['r', '<d'], ['i', '<d']],
    });
    arrays['complex'] = { dtype: '<c16', shape: [3], values: [[1, 2], [3, -4], [-5, 6]], attrs: {} };
    f.create_dataset({
      name: 'complex64',
      data: new Map([['r', new Float32Array([1, 2, 3, 4])], ['i', new Float32Array([0.5, -0.5, 0, 1])]]),
      shape: [2, 2],
      dtype: [['r', '<f'], ['i', '<f']],
    });
    arrays['complex64'] = { dtype: '<c8', shape: [2, 2], values: [[1, 0.5], [2, -0.5], [3, 0], [4, 1]], attrs: {} };

    // A structured dataset: one array per field, its attributes on the group.
    const table = f.create_dataset({
      name: 'table',
      data: new Map<string, unknown>([
        ['id', new Int32Array([1, 2, 3, 4, 5])],
        ['x', new Float64Array([0.5, 1.5, 2.5, 3.5, 4.5])],
        ['count', new BigUint64Array([10n, 20n, 30n, 40n, 2n ** 64n - 1n])],
        ['flag', new Uint8Array([1, 0, 1, 0, 1])],
      ]) as GuessableData,
      dtype: [['id', '<i'], ['x', '<d'], ['count', '<Q'], ['flag', '<B']],
    });
    storeAttrs['/table'] = writeAttrs(table, { source: { data: 'sensor', expect: 'sensor' }, rate: { data: 100, expect: 100 } });
    arrays['table/id'] = { dtype: '<i4', shape: [5], values: [1, 2, 3, 4, 5], attrs: {} };
    arrays['table/x'] = { dtype: '<f8', shape: [5], values: [0.5, 1.5, 2.5, 3.5, 4.5], attrs: {} };
    arrays['table/count'] = { dtype: '<u8', shape: [5], values: ['10', '20', '30', '40', (2n ** 64n - 1n).toString()], attrs: {} };
    arrays['table/flag'] = { dtype: '|u1', shape: [5], values: [1, 0, 1, 0, 1], attrs: {} };

    // Links: a soft link is followed (the data appears twice), a dangling or external one skipped.
    f.create_soft_link('/g1/i8', 'alias');
    arrays['alias'] = { ...arrays['g1/i8']! };
    f.create_soft_link('/g1/g2', 'g2link'); // a soft link to a group: followed too
    for (const key of ['f64', 'i64']) arrays[`g2link/${key}`] = { ...arrays[`g1/g2/${key}`]! };
    storeAttrs['/g2link'] = storeAttrs['/g1/g2']!;
    g2.create_soft_link('/g1', 'up'); // a cycle: not followed
    f.create_soft_link('/nowhere', 'broken');
    f.create_external_link('other.h5', '/x', 'external');

    // What a store cannot hold.
    f.create_dataset({ name: 'strings', data: ['a', 'bb', 'ccc'] });
    f.create_dataset({ name: 'fixed_strings', data: ['abc', 'de'], dtype: 'S6' });
    f.create_dataset({ name: 'refs', data: [ref] as GuessableData });
    f.create_dataset({ name: '@odd', data: new Int8Array([1]) });
    skipped.push(
      { path: '/@odd', reason: 'has a name starting with "@", which ndshm keys may not' },
      { path: '/broken', reason: 'is a soft link to /nowhere, which does not exist' },
      { path: '/external', reason: 'is an external link (to /x in other.h5)' },
      { path: '/fixed_strings', reason: 'holds fixed-length strings' },
      { path: '/g1/g2/up', reason: 'is a soft link to /g1, a group that contains it (a cycle)' },
      { path: '/g2link/up', reason: 'is a soft link to /g1, a group that contains it (a cycle)' },
      { path: '/refs', reason: 'holds references' },
      { path: '/strings', reason: 'holds variable-length strings' },
    );

    const big = bigValues();
    f.create_dataset({ name: 'big', data: big, shape: [...bigShape] });
    arrays['big'] = { dtype: '<f4', shape: [...bigShape], checksum: checksum(big), attrs: {} };
  } finally {
    f.close();
  }
  return { path, arrays, storeAttrs, skipped };
}

/** Writes small.h5 (two tiny arrays) and compound-string.h5 (a compound with a string field). */
export async function writeSmallFixtures(dir: string): Promise<{ small: string; compoundString: string }> {
  const h5 = await h5wasm();
  const small = join(dir, 'small.h5');
  let f = new h5.File(small, 'w');
  f.create_dataset({ name: 'a', data: new Float64Array([1, 2, 3]) });
  f.create_group('g').create_dataset({ name: 'b', data: new Int32Array([4, 5]) });
  f.close();
  const compoundString = join(dir, 'compound-string.h5');
  f = new h5.File(compoundString, 'w');
  f.create_dataset({ name: 'ok', data: new Float32Array([1]) });
  f.create_dataset({
    name: 'people',
    data: new Map<string, unknown>([['age', new Int32Array([30, 40])], ['name', ['ann', 'bob']]]) as GuessableData,
    dtype: [['age', '<i'], ['name', 'S4']],
  });
  f.close();
  return { small, compoundString };
}

// ----- h5py ------------------------------------------------------------------------------------

const h5pyScript = String.raw`
import json, sys
import numpy as np, h5py

path, expected_path, lzf_path = sys.argv[1:4]
expected = {}

def put(key, a, attrs=None):
    a = np.asarray(a)
    kind = a.dtype.kind
    if kind == 'c':
        values = [[float(v.real), float(v.imag)] for v in a.ravel()]
    elif kind in 'iu' and a.dtype.itemsize == 8:
        values = [str(int(v)) for v in a.ravel()]
    elif kind == 'b':
        values = [bool(v) for v in a.ravel()]
    elif kind in 'iu':
        values = [int(v) for v in a.ravel()]
    else:
        values = [float(v) if np.isfinite(v) else {'number': str(float(v)).replace('inf', 'Infinity').replace('nan', 'NaN')} for v in a.ravel()]
    # the bytes as numpy holds them, byte order included
    expected[key] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'values': values, 'hex': np.ascontiguousarray(a).tobytes().hex()}

with h5py.File(path, 'w') as f:
    be = f.create_group('be')
    be.attrs['order'] = 'big'
    d = be.create_dataset('f4', data=np.arange(12, dtype='>f4').reshape(3, 4) / 4)
    d.attrs['units'] = np.bytes_(b'K')
    put('be/f4', d[()])
    for name, a in [
        ('f8_scalar', np.array(-2.75, dtype='>f8')),
        ('i8', np.array([-2**63, -1, 2**40, 2**63 - 1], dtype='>i8')),
        ('u2', np.array([[0, 1], [258, 65535]], dtype='>u2')),
        ('u8', np.array([0, 2**64 - 1], dtype='>u8')),
        ('i4', np.array([-5, 7], dtype='>i4')),
        ('f2', np.array([0.5, -2, 65504, 6.1035156e-05], dtype='>f2')),
        ('c8', np.array([[1+2j, 3-4j], [-0.5j, 2]], dtype='>c8')),
        ('c16', np.array([1e300+1j, -2-2j], dtype='>c16')),
    ]:
        be[name] = a
        put('be/' + name, a)
    rec = np.array([(1, 2.5), (-3, 4.25)], dtype=[('a', '>i4'), ('b', '>f8')])
    be['rec'] = rec
    for field in rec.dtype.names:
        put('be/rec/' + field, rec[field])

    le = f.create_group('le')
    for name, a in [
        ('f2', np.array([1.5, -2, np.inf, 1e-3], dtype='<f2')),
        ('c8', np.array([1+1j, 2-2j], dtype='<c8')),
        ('c16_scalar', np.array(3-4j, dtype='<c16')),
        ('i1', np.array([-1, 1], dtype='i1')),
    ]:
        le[name] = a
        put('le/' + name, a)

    f['bool'] = np.array([[True, False, True], [False, False, True]])
    put('bool', f['bool'][()])
    f['bool_scalar'] = np.bool_(True)
    put('bool_scalar', np.array(True))
    f.create_dataset('enum', data=np.array([0, 2, 1], dtype='i1'), dtype=h5py.enum_dtype({'RED': 0, 'GREEN': 1, 'BLUE': 2}, basetype='i1'))
    put('enum', np.array([0, 2, 1], dtype='i1'))

    mixed_dtype = np.dtype([('a', '<i4'), ('b', '>f8'), ('flag', '?'), ('v', '>f4', (3,)), ('c', '<c8')])
    mixed = np.array([(1, 0.5, True, [1, 2, 3], 1+2j), (-2, 1.5, False, [4, 5, 6], 3-4j)], dtype=mixed_dtype)
    f['mixed'] = mixed
    f['mixed'].attrs['kind'] = 'mixed orders'
    for field in mixed.dtype.names:
        put('mixed/' + field, mixed[field])

    gz = np.arange(1000 * 1000, dtype='<f8').reshape(1000, 1000)
    f.create_dataset('gz', data=gz, compression='gzip', chunks=(128, 100))
    expected['gz'] = {'dtype': '<f8', 'shape': [1000, 1000], 'sum': float(gz.sum()), 'corners': [float(gz[0, 0]), float(gz[0, -1]), float(gz[-1, 0]), float(gz[-1, -1])]}

    f['strings_fixed'] = np.array([b'ab', b'cde'], dtype='S5')
    f['opaque'] = np.array([b'\x00\x01\x02\x03'], dtype='V4')
    f.create_dataset('vlen_int', (2,), dtype=h5py.vlen_dtype('i4'))
    f['null'] = h5py.Empty('f4')

    a = f.attrs
    a['bool'] = True
    a['bools'] = np.array([True, False, True])
    a['bytes'] = np.bytes_(b'raw\x00bytes')
    a['void'] = np.void(b'\x00\x01\xff')
    a['f2'] = np.float16(0.5)
    a['f2s'] = np.array([1, 2.5, -0.25], dtype='<f2')
    a['be_i4'] = np.array([1, -2], dtype='>i4')
    a['be_f8'] = np.array(2.5, dtype='>f8')
    a['be_u8'] = np.array(2**64 - 1, dtype='>u8')
    a['c'] = np.complex64(1 - 2j)
    a['empty'] = h5py.Empty('f4')
    a['i64min'] = np.int64(-2**63)
    a['enum'] = np.array(2, dtype=h5py.enum_dtype({'RED': 0, 'GREEN': 1, 'BLUE': 2}, basetype='i1'))
    a['vstr'] = 'h\u00e9llo'
    a['vstrs'] = ['a', 'b\u00e9']
    a.create('fstr_utf8', np.array('\u00fcn\u00ef'.encode('utf-8'), dtype='S8'), dtype=h5py.string_dtype('utf-8', 8))
    a['m2'] = np.arange(6, dtype='<i2').reshape(2, 3)
    a['rec'] = np.array((1, 2.0), dtype=[('a', '>i4'), ('b', '<f8')])
    a['ref'] = f['bool'].ref

with h5py.File(lzf_path, 'w') as f:
    f['a_plain'] = np.arange(2 * 1024 * 1024, dtype='<f4').reshape(2048, 1024)
    f.create_dataset('b_lzf', data=np.arange(100000, dtype='<f8'), compression='lzf', chunks=(10000,))

with open(expected_path, 'w') as out:
    json.dump(expected, out)
`;

/** A python3 that has h5py (and numpy), or undefined. */
export function h5pyPython(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import h5py, numpy'], { encoding: 'utf8' });
    if (r.status === 0) return python;
  }
  return undefined;
}

export interface H5pyFixtures {
  readonly path: string;
  readonly lzf: string;
  /** By store path, from numpy: dtype, shape and values (or sum and corners for gz). */
  readonly expected: Record<string, ExpectedArray & { hex?: string; sum?: number; corners?: number[] }>;
}

/** Writes h5py.h5 and lzf.h5 into `dir`, or says why it cannot. */
export async function writeH5pyFixtures(dir: string): Promise<H5pyFixtures | { missing: string }> {
  const python = h5pyPython();
  if (python === undefined) return { missing: 'no python3 with h5py (apt-get install python3-h5py provides one for /usr/bin/python3)' };
  const path = join(dir, 'h5py.h5');
  const lzf = join(dir, 'lzf.h5');
  const expectedPath = join(dir, 'h5py.json');
  const r = spawnSync(python, ['-c', h5pyScript, path, expectedPath, lzf], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`writing the h5py fixtures failed (${r.status}):\n${r.stderr}`);
  return { path, lzf, expected: JSON.parse(readFileSync(expectedPath, 'utf8')) as H5pyFixtures['expected'] };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2];
  if (dir === undefined) {
    console.error('usage: node dist/scripts/gen-hdf5-fixtures.js <directory>');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  const main = await writeH5wasmFixture(dir);
  const small = await writeSmallFixtures(dir);
  const py = await writeH5pyFixtures(dir);
  console.log([main.path, small.small, small.compoundString, ...('missing' in py ? [`(h5py fixtures skipped: ${py.missing})`] : [py.path, py.lzf])].join('\n'));
}
