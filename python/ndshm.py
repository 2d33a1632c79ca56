"""ndshm arrays from Python, with numpy and the standard library only.

    import ndshm
    a = ndshm.open('weights')                 # a numpy view of the shared memory, read-write
    b = ndshm.open('weights', readonly=True)  # a read-only view
    c = ndshm.open(handle)                    # a handle dict from Node (array.handle): that view
    d = ndshm.create('result', (3, 4), 'float64')
    ndshm.unlink('result')

The segment layout is docs/format.md; this file is a reader and writer written from it. Segments are
mapped without multiprocessing.shared_memory, so CPython's resource tracker never unlinks them.
"""

import builtins
import mmap
import os
import random
import struct
import time

import numpy as np

MAGIC = b'NDSHMARR'
VERSION = 1
FIXED = 128
MAX_DIMS = 32
ALIGN = 64
PERSISTENT = 1
# magic, version, header length, flags, data offset, data length, ndim, reserved, typestr,
# owner pid, owner start, owner tag, generation, created (ms), array id
FIELDS = struct.Struct('<8sHHIQQII16sQQQQdQ')

__all__ = ['open', 'create', 'unlink', 'read_header', 'BadHeader']


class BadHeader(ValueError):
    """The segment's header is corrupt, foreign or hostile (EBADHEADER in Node)."""


def _shm_fd(name, flags, mode=0o600):
    if not name or len(name) > 30 or '/' in name:
        raise ValueError(f'bad segment name {name!r}: 1 to 30 characters from [A-Za-z0-9._-]')
    try:
        import _posixshmem
        return _posixshmem.shm_open('/' + name, flags, mode)
    except ImportError:
        return os.open('/dev/shm/' + name, flags | os.O_NOFOLLOW, mode)


def _start_time(pid):
    try:
        with builtins.open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read().decode('latin1')
        return int(stat[stat.rindex(')') + 2:].split(' ')[19])
    except (OSError, ValueError, IndexError):
        return 0


def read_header(buf, size, name='?'):
    """Parses and checks the header at the start of `buf` (a buffer of the segment's `size` bytes)."""
    if size < FIXED or len(buf) < FIXED:
        raise BadHeader(f'{name}: {size} bytes, smaller than a header')
    (magic, version, length, flags, data_offset, data_length, ndim, _, typestr, owner_pid, owner_start,
     owner_tag, generation, created, array_id) = FIELDS.unpack_from(buf, 0)
    if magic != MAGIC:
        raise BadHeader(f'{name}: no ndshm magic')
    if version != VERSION:
        raise BadHeader(f'{name}: format version {version}')
    if ndim > MAX_DIMS or length != FIXED + 16 * ndim or length > size:
        raise BadHeader(f'{name}: ndim {ndim} / header length {length} do not fit')
    if data_offset < length or data_offset % ALIGN or data_offset + data_length > size:
        raise BadHeader(f'{name}: data ({data_length} bytes at {data_offset}) does not fit {size} bytes')
    typestr = typestr.rstrip(b'\0').decode('ascii')
    shape = struct.unpack_from(f'<{ndim}q', buf, FIXED)
    strides = struct.unpack_from(f'<{ndim}q', buf, FIXED + 8 * ndim)
    if any(d < 0 for d in shape):
        raise BadHeader(f'{name}: negative shape {shape}')
    try:
        dtype = np.dtype(typestr)
    except TypeError:
        raise BadHeader(f'{name}: unknown typestr {typestr!r}') from None
    lo = hi = 0
    if all(shape):
        for d, s in zip(shape, strides):
            lo, hi = (lo + (d - 1) * s, hi) if s < 0 else (lo, hi + (d - 1) * s)
        if lo < 0 or hi + dtype.itemsize > data_length:
            raise BadHeader(f'{name}: shape {shape} and strides {strides} reach outside the data')
    return {
        'typestr': typestr, 'dtype': dtype, 'shape': shape, 'strides': strides,
        'data_offset': data_offset, 'data_length': data_length, 'persistent': bool(flags & PERSISTENT),
        'owner_pid': owner_pid, 'owner_start': owner_start, 'owner_tag': owner_tag,
        'generation': generation, 'created': created, 'array_id': array_id,
    }


def _map(name, readonly):
    fd = _shm_fd(name, os.O_RDONLY if readonly else os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise BadHeader(f'{name}: empty segment')
        mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ if readonly else mmap.ACCESS_WRITE)
    finally:
        os.close(fd)
    return mm, size


def open(target, readonly=False):
    """A numpy array over an ndshm array: `target` is a segment name or a handle dict from Node."""
    handle = target if isinstance(target, dict) else None
    name = handle['name'] if handle else target
    mm, size = _map(name, readonly)
    h = read_header(memoryview(mm)[:min(size, FIXED + 16 * MAX_DIMS)], size, name)
    shape, strides, offset = h['shape'], h['strides'], 0
    if handle is not None:
        if int(handle['id'], 16) != h['array_id']:
            raise FileNotFoundError(f'{name}: the array this handle refers to no longer exists')
        if handle['dtype'] != h['typestr']:
            raise BadHeader(f'{name}: handle dtype {handle["dtype"]} != {h["typestr"]}')
        shape, strides, offset = tuple(handle['shape']), tuple(handle['strides']), int(handle['offset'])
        if all(shape):
            lo = offset + sum(min(0, (d - 1) * s) for d, s in zip(shape, strides))
            hi = offset + sum(max(0, (d - 1) * s) for d, s in zip(shape, strides))
            if lo < 0 or hi + h['dtype'].itemsize > h['data_length']:
                raise BadHeader(f'{name}: the handle reaches outside the data')
    return np.ndarray(shape, dtype=h['dtype'], buffer=mm, offset=h['data_offset'] + offset, strides=strides)


def create(name, shape, dtype='float64', order='C', persistent=False):
    """A new ndshm array (zeros), owned by this process: Node's gc() removes it once this process
    has ended, unless persistent. Fails with FileExistsError if the name is taken."""
    dtype = np.dtype(dtype)
    shape = tuple(int(d) for d in shape)
    ndim = len(shape)
    if ndim > MAX_DIMS:
        raise ValueError(f'at most {MAX_DIMS} dimensions')
    strides = np.empty(shape, dtype=dtype, order=order).strides
    length = FIXED + 16 * ndim
    data_offset = -(-length // ALIGN) * ALIGN
    data_length = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    fd = _shm_fd(name, os.O_CREAT | os.O_EXCL | os.O_RDWR)
    try:
        os.fchmod(fd, 0o600)
        total = data_offset + data_length
        if hasattr(os, 'posix_fallocate'):
            os.posix_fallocate(fd, 0, total)  # reserve now: ENOSPC here, not SIGBUS later
        else:
            os.ftruncate(fd, total)
        mm = mmap.mmap(fd, total)
    except BaseException:
        os.close(fd)
        unlink(name)
        raise
    os.close(fd)
    FIELDS.pack_into(mm, 0, b'\0' * 8, VERSION, length, PERSISTENT if persistent else 0, data_offset,
                     data_length, ndim, 0, dtype.str.encode('ascii'), os.getpid(), _start_time(os.getpid()),
                     random.getrandbits(64) or 1, 0, time.time() * 1000, random.getrandbits(64) or 1)
    struct.pack_into(f'<{ndim}q', mm, FIXED, *shape)
    struct.pack_into(f'<{ndim}q', mm, FIXED + 8 * ndim, *strides)
    mm[0:8] = MAGIC  # last: a reader never sees a half-written header
    return np.ndarray(shape, dtype=dtype, buffer=mm, offset=data_offset, strides=strides)


def unlink(name):
    """Removes the segment's name (mappings stay valid)."""
    try:
        import _posixshmem
        _posixshmem.shm_unlink('/' + name)
    except ImportError:
        os.unlink('/dev/shm/' + name)
