#!/usr/bin/env python3
"""Writes test/fixtures/views.json: indexing, transpose and reshape cases with numpy's answers.

Each case names a base array and a chain of operations in ndshm's index syntax; numpy applies the
same chain and records the result's shape, byte strides, values (C order) and whether it still
shares memory with the base. Run from the repository root:  python3 scripts/gen-fixtures.py
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


def main():
    cases = []
    for key, ops in CASES:
        dtype, shape, *order = BASES[key]
        cases.append({
            'base': {'dtype': dtype, 'shape': list(shape), 'order': order[0] if order else 'C'},
            'ops': ops,
            'numpy': run(key, ops),
        })
    with open('test/fixtures/views.json', 'w') as f:
        json.dump({'generator': 'scripts/gen-fixtures.py', 'numpy': np.__version__, 'cases': cases}, f, indent=1)
        f.write('\n')
    print(f'wrote {len(cases)} cases (numpy {np.__version__})')


if __name__ == '__main__':
    main()
