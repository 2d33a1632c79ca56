#!/usr/bin/env python3
"""Writes test/fixtures/views.json: indexing, transpose and reshape cases with numpy's answers.

Each case names a base array and a chain of operations in ndshm's index syntax; numpy applies the
same chain and records the result's shape, byte strides, values (C order) and whether it still
shares memory with the base.

`slices` holds a systematic grid of slices: every start and stop in {None} and [-n-2, n+2], every
step in {None, -3, -2, -1, 1, 2, 3}, for 1-d arrays of n in {0, 1, 2, 5} elements, and a 2-d array
sliced on both axes. Out-of-range bounds with negative steps are where slice clamping goes wrong
(a stop clamped to 0 instead of -1 drops element 0), and hand-picked cases missed them. Each case is
one compact line: [slices, shape, byte strides, byte offset, values in C order].

Run from the repository root:  python3 scripts/gen-fixtures.py
"""
import json
import re

import numpy as np

BASES = {
    'a24': ('int32', (2, 3, 4)),
    'f35': ('float64', (3, 5)),
    'v10': ('int16', (10,)),
    'f23F': ('float32', (2, 3), 'F'),
    'e0': ('float64', (0, 3)),
    's0': ('int64', ()),
}

CASES = [
    ('a24', [['index', [1]]]),
    ('a24', [['index', [-1, 2]]]),
    ('a24', [['index', [0, 1, 3]]]),
    ('a24', [['index', [':', 1]]]),
    ('a24', [['index', ['...', 2]]]),
    ('a24', [['index', ['::-1']]]),
    ('a24', [['index', [':', '::-2', '1:3']]]),
    ('a24', [['index', [None, 1]]]),
    ('a24', [['index', [':', None, ':', None]]]),
    ('a24', [['index', ['1:1']]]),
    ('a24', [['index', ['5:']]]),
    ('a24', [['index', ['-10:10']]]),
    ('a24', [['index', [':', ':', '-1:0:-1']]]),
    ('a24', [['index', [{'start': 1, 'stop': None, 'step': -1}]]]),
    ('a24', [['index', ['...']]]),
    ('a24', [['index', [0, '...', None]]]),
    ('a24', [['index', [[1, 0]]]]),
    ('a24', [['index', [':', [2, 0, 2]]]]),
    ('a24', [['index', [0, ':', [True, False, True, False]]]]),
    ('a24', [['index', ['::-1', [-1]]]]),
    ('a24', [['transpose', []]]),
    ('a24', [['transpose', [1, 0, 2]]]),
    ('a24', [['transpose', [2, -3, 1]]]),
    ('a24', [['reshape', [6, 4]]]),
    ('a24', [['reshape', [-1]]]),
    ('a24', [['reshape', [4, -1, 3]]]),
    ('a24', [['transpose', []], ['reshape', [-1]]]),
    ('a24', [['transpose', [0, 2, 1]], ['reshape', [2, 12]]]),
    ('a24', [['index', [':', 1]], ['reshape', [8]]]),
    ('a24', [['index', [':', ':', '::2']], ['reshape', [12]]]),
    ('a24', [['index', [1]], ['reshape', [3, 2, 2]]]),
    ('a24', [['index', [1]], ['transpose', []], ['index', ['::-1', 1]]]),
    ('a24', [['index', ['::-1']], ['reshape', [6, 4]]]),
    ('a24', [['reshape', [2, 1, 3, 1, 4]], ['index', [':', 0, ':', 0]]]),
    ('a24', [['reshape', [24, 1]], ['transpose', []], ['reshape', [4, 6]]]),
    ('f35', [['index', ['1:', '::2']]]),
    ('f35', [['index', ['::-1', '::-1']]]),
    ('f35', [['transpose', []], ['index', [2]]]),
    ('f35', [['index', ['1:3', ':']], ['reshape', [10]]]),
    ('f35', [['index', [':', '1:4']], ['reshape', [9]]]),
    ('f35', [['index', [[2, 0, 1], '1:3']]]),
    ('v10', [['index', ['2:8:3']]]),
    ('v10', [['index', ['8:2:-3']]]),
    ('v10', [['index', ['::-1']], ['reshape', [2, 5]]]),
    ('v10', [['index', ['::2']], ['reshape', [5, 1]]]),
    ('v10', [['index', [None, '...', None]]]),
    ('v10', [['index', [[9, 0, -10]]]]),
    ('f23F', [['index', [1]]]),
    ('f23F', [['transpose', []]]),
    ('f23F', [['reshape', [6]]]),
    ('f23F', [['transpose', []], ['reshape', [6]]]),
    ('e0', [['index', [':', 1]]]),
    ('e0', [['reshape', [3, 0]]]),
    ('e0', [['transpose', []]]),
    ('s0', [['index', [None]]]),
    ('s0', [['index', ['...']]]),
    ('s0', [['reshape', [1, 1]]]),
]


def to_numpy_index(spec):
    out = []
    for s in spec:
        if s is None:
            out.append(np.newaxis)
        elif isinstance(s, bool):
            raise ValueError('bare booleans are not indices')
        elif isinstance(s, int):
            out.append(s)
        elif isinstance(s, list):
            out.append(np.array(s))
        elif isinstance(s, dict):
            out.append(slice(s.get('start'), s.get('stop'), s.get('step')))
        elif s == '...':
            out.append(Ellipsis)
        else:
            m = re.fullmatch(r'(-?\d+)?:(-?\d+)?(?::(-?\d+)?)?', s)
            num = lambda x: None if x is None else int(x)
            out.append(slice(num(m.group(1)), num(m.group(2)), num(m.group(3))))
    return tuple(out)


def base_array(key):
    dtype, shape, *order = BASES[key]
    a = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    return np.asfortranarray(a) if order == ['F'] else a


def run(key, ops):
    base = base_array(key)
    a = base
    for op, arg in ops:
        if op == 'index':
            index = to_numpy_index(arg)
            # ndshm's slice() always returns an array: all-integer indices give a 0-d view, as
            # numpy's a[i, j, k, ...] does (a[i, j, k] would be a scalar).
            if all(isinstance(i, int) for i in index):
                index = index + (Ellipsis,)
            a = a[index]
        elif op == 'transpose':
            a = a.transpose(*arg) if arg else a.T
        elif op == 'reshape':
            b = a.reshape(arg)
            if a.size > 0 and not np.shares_memory(b, base):
                return {'error': 'needs a copy'}
            a = b
    view = a.size == 0 or np.shares_memory(a, base)
    return {
        'shape': list(a.shape),
        'strides': list(a.strides) if view else None,
        'values': a.ravel(order='C').tolist(),
        'view': bool(view),
    }


SLICE_STEPS = [None, -3, -2, -1, 1, 2, 3]
SLICE_LENGTHS = [0, 1, 2, 5]
SLICE_2D = ('int32', (2, 3))


def slice_grid(n):
    """Every [start, stop, step] of the grid for an axis of length n."""
    bounds = [None, *range(-n - 2, n + 3)]
    return [[start, stop, step] for step in SLICE_STEPS for start in bounds for stop in bounds]


def slice_case(base, slices):
    v = base[tuple(slice(*s) for s in slices)]
    offset = v.__array_interface__['data'][0] - base.__array_interface__['data'][0]
    return [slices, list(v.shape), list(v.strides), offset, v.ravel(order='C').tolist()]


def slice_fixtures():
    one_d = []
    for n in SLICE_LENGTHS:
        base = np.arange(n, dtype='int16')
        one_d.append({'n': n, 'cases': [slice_case(base, [s]) for s in slice_grid(n)]})
    dtype, shape = SLICE_2D
    base = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    rows, cols = slice_grid(shape[0]), slice_grid(shape[1])
    # Pair the two axes' grids so that every slice of each axis occurs at least once, each time with
    # a different slice of the other axis (7 is prime to both grid sizes).
    count = max(len(rows), len(cols))
    pairs = [[rows[i % len(rows)], cols[(7 * i) % len(cols)]] for i in range(count)]
    two_d = {'dtype': dtype, 'shape': list(shape), 'cases': [slice_case(base, p) for p in pairs]}
    return {'dtype': 'int16', 'oneD': one_d, 'twoD': two_d}


def compact(value):
    return json.dumps(value, separators=(',', ':'))


def write_fixtures(path, cases, slices):
    """JSON with one case per line: small, and a regenerated file diffs line by line."""
    lines = ['{', f' "generator": "scripts/gen-fixtures.py",', f' "numpy": {compact(np.__version__)},', ' "cases": [']
    lines += [f'  {compact(c)},' for c in cases]
    lines[-1] = lines[-1].rstrip(',')
    lines += [' ],', ' "slices": {', f'  "dtype": {compact(slices["dtype"])},', '  "oneD": [']
    for k, group in enumerate(slices['oneD']):
        lines.append(f'   {{"n": {group["n"]}, "cases": [')
        lines += [compact(c) + ',' for c in group['cases']]
        lines[-1] = lines[-1].rstrip(',')
        lines.append('   ]}' + (',' if k < len(slices['oneD']) - 1 else ''))
    two = slices['twoD']
    lines += ['  ],', f'  "twoD": {{"dtype": {compact(two["dtype"])}, "shape": {compact(two["shape"])}, "cases": [']
    lines += [compact(c) + ',' for c in two['cases']]
    lines[-1] = lines[-1].rstrip(',')
    lines += ['  ]}', ' }', '}']
    text = '\n'.join(lines) + '\n'
    json.loads(text)  # the hand-joined lines must still be one JSON document
    with open(path, 'w') as f:
        f.write(text)


def main():
    cases = []
    for key, ops in CASES:
        dtype, shape, *order = BASES[key]
        cases.append({
            'base': {'dtype': dtype, 'shape': list(shape), 'order': order[0] if order else 'C'},
            'ops': ops,
            'numpy': run(key, ops),
        })
    slices = slice_fixtures()
    write_fixtures('test/fixtures/views.json', cases, slices)
    count = sum(len(g['cases']) for g in slices['oneD']) + len(slices['twoD']['cases'])
    print(f'wrote {len(cases)} cases and {count} slices (numpy {np.__version__})')


if __name__ == '__main__':
    main()
