"""ndshm arrays from Python, with numpy and the standard library only.

    import ndshm
    a = ndshm.open('weights')                 # a numpy view of the shared memory, read-write
    b = ndshm.open('weights', readonly=True)  # a read-only view
    c = ndshm.open(handle)                    # a handle dict from Node (array.handle): that view
    part = ndshm.open_local(local_handle)     # a LocalNdarray handle: its part, a LocalArray
    part.host_array, part.slices_into_host_array, part.owner_rank
    d = ndshm.create('result', (3, 4), 'float64')
    ndshm.unlink('result')

The segment layout is docs/format.md; this file is a reader and writer written from it. Segments are
mapped without multiprocessing.shared_memory, so CPython's resource tracker never unlinks them.

Errors. Everything read from shared memory is checked before numpy sees it:
- BadHeader (a ValueError) for a header that is corrupt, foreign or hostile: a dtype other than the
  format's (bool, int/uint 8 to 64 bits, float16/32/64, complex64/128; an object dtype would make
  numpy follow shared bytes as pointers), a typestr that is not printable ASCII, a shape or strides
  that reach outside the data or describe more elements than it holds; also for a handle whose view
  does that or whose dtype differs from the header's, and for a name that is not a regular file (a
  FIFO, a socket, a device: opened without blocking, then refused).
- ValueError for bad arguments: a name outside [A-Za-z0-9._-]{1,30}, a handle whose fields have the
  wrong types, an unsupported dtype given to create().
- PermissionError for a segment that another user owns, unless open(..., allow_other_users=True).
- OSError from the system as it comes: FileNotFoundError, PermissionError, FileExistsError; a
  symbolic link under the name is ELOOP (never followed), a directory opened read-write is EINVAL
  (shm_open's answer; read-only, the directory is opened and refused as BadHeader).
"""

import builtins
import mmap
import os
import random
import stat
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

INT64_MAX = 2**63 - 1
NAME_CHARS = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-')

# The format's element types (docs/format.md, src/dtype.ts) as numpy spells their typestr. numpy
# understands many more, and shared bytes must never be read as some of them: an object dtype
# ('|O8') is pointers numpy follows (a segfault), and ndshm writes no strings, dates or records.
_SIZED = [('i', 2), ('i', 4), ('i', 8), ('u', 2), ('u', 4), ('u', 8), ('f', 2), ('f', 4), ('f', 8), ('c', 8), ('c', 16)]
TYPESTRS = frozenset(['|b1', '|i1', '|u1'] + [f'{order}{kind}{size}' for order in '<>' for kind, size in _SIZED])

__all__ = ['open', 'open_local', 'LocalArray', 'create', 'unlink', 'read_header', 'BadHeader', 'TYPESTRS']


class BadHeader(ValueError):
    """The segment's header is corrupt, foreign or hostile (EBADHEADER in Node)."""


def _check_name(name):
    if not isinstance(name, str) or not 1 <= len(name) <= 30 or not NAME_CHARS.issuperset(name) or not name.strip('.'):
        raise ValueError(f'bad segment name {name!r}: 1 to 30 characters from [A-Za-z0-9._-], not only dots')
    return name


def _shm_fd(name, flags, mode=0o600):
    _check_name(name)
    try:
        import _posixshmem
        return _posixshmem.shm_open('/' + name, flags | os.O_NOFOLLOW, mode)
    except ImportError:
        return os.open('/dev/shm/' + name, flags | os.O_NOFOLLOW, mode)


def _start_time(pid):
    try:
        with builtins.open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read().decode('latin1')
        return int(stat[stat.rindex(')') + 2:].split(' ')[19])
    except (OSError, ValueError, IndexError):
        return 0


def _typestr(raw, name):
    """The typestr field (NUL-padded bytes) as a str, if it is one of the format's."""
    text = bytes(raw).split(b'\0', 1)[0]
    if not all(0x20 <= c <= 0x7e for c in text):
        raise BadHeader(f'{name}: typestr {text!r} is not printable ASCII')
    typestr = text.decode('ascii')
    if typestr not in TYPESTRS:
        raise BadHeader(f'{name}: unsupported typestr {typestr!r} (the format has {", ".join(sorted(TYPESTRS))})')
    return typestr


def _check_view(name, what, shape, strides, offset, itemsize, data_length):
    """BadHeader unless numpy can hold the view and every element it reaches is in [0, data_length).

    Checked with Python's exact integers before numpy sees them: a view never has more elements than
    the data (ndshm makes no views that repeat elements), so zero strides over a huge shape cannot
    describe a 2**60-element array over a few bytes, and no size overflows numpy's int64.
    """
    if any(d < 0 or d > INT64_MAX for d in shape) or any(abs(s) > INT64_MAX for s in strides):
        raise BadHeader(f'{name}: {what} has shape {shape} and strides {strides}, out of range')
    count = 1
    for d in shape:
        count *= d
    if count == 0:
        # Nothing is reached, but numpy still multiplies the non-zero extents, and wants the offset
        # inside the buffer.
        nonzero = itemsize
        for d in shape:
            nonzero *= max(d, 1)
        if nonzero > INT64_MAX or not 0 <= offset <= data_length:
            raise BadHeader(f'{name}: {what} (empty, shape {shape}, offset {offset}) is out of range')
        return
    if count * itemsize > data_length:
        raise BadHeader(f'{name}: {what} has {count} elements, more than the data holds ({data_length} bytes)')
    lo = offset + sum(min(0, (d - 1) * s) for d, s in zip(shape, strides))
    hi = offset + sum(max(0, (d - 1) * s) for d, s in zip(shape, strides))
    if lo < 0 or hi + itemsize > data_length:
        raise BadHeader(f'{name}: {what} (shape {shape}, strides {strides}, offset {offset}) reaches outside the data')


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
    typestr = _typestr(typestr, name)
    dtype = np.dtype(typestr)
    shape = struct.unpack_from(f'<{ndim}q', buf, FIXED)
    strides = struct.unpack_from(f'<{ndim}q', buf, FIXED + 8 * ndim)
    if any(d < 0 for d in shape):
        raise BadHeader(f'{name}: negative shape {shape}')
    _check_view(name, 'the header', shape, strides, 0, dtype.itemsize, data_length)
    return {
        'typestr': typestr, 'dtype': dtype, 'shape': shape, 'strides': strides,
        'data_offset': data_offset, 'data_length': data_length, 'persistent': bool(flags & PERSISTENT),
        'owner_pid': owner_pid, 'owner_start': owner_start, 'owner_tag': owner_tag,
        'generation': generation, 'created': created, 'array_id': array_id,
    }


_FILE_KINDS = {stat.S_IFIFO: 'FIFO', stat.S_IFDIR: 'directory', stat.S_IFSOCK: 'socket', stat.S_IFCHR: 'character device',
               stat.S_IFBLK: 'block device'}


def _map(name, readonly, allow_other_users=False):
    # O_NONBLOCK: a read-only open of a FIFO under the name would otherwise wait for a writer forever.
    # Only a regular file is mapped (/dev/shm objects are regular files on tmpfs).
    fd = _shm_fd(name, (os.O_RDONLY if readonly else os.O_RDWR) | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(st.st_mode), 'special file')
            raise BadHeader(f'{name}: is a {kind}, not a shared-memory object (a regular file)')
        if st.st_uid != os.geteuid() and not allow_other_users:
            raise PermissionError(f'{name}: belongs to user {st.st_uid}, not to this user ({os.geteuid()}): '
                                  'pass allow_other_users=True to share memory with that user')
        size = st.st_size
        if size == 0:
            raise BadHeader(f'{name}: empty segment')
        mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ if readonly else mmap.ACCESS_WRITE)
    finally:
        os.close(fd)
    return mm, size


def _int(value, what):
    # JSON gives int; bool is an int to Python but never a size; numpy integers are welcome.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{what} must be an integer, got {value!r}')
    return int(value)


def _handle_fields(handle):
    """The handle's name, id, dtype, shape, strides and offset, checked for type (ValueError)."""
    name = _check_name(handle.get('name'))
    hid = handle.get('id')
    if not isinstance(hid, str) or not 1 <= len(hid) <= 16 or not set(hid) <= set('0123456789abcdef'):
        raise ValueError(f'handle id must be 1 to 16 lower-case hex digits, got {hid!r}')
    dtype = handle.get('dtype')
    if not isinstance(dtype, str):
        raise ValueError(f'handle dtype must be a typestr such as "<f8", got {dtype!r}')
    shape, strides = handle.get('shape'), handle.get('strides')
    for what, v in (('shape', shape), ('strides', strides)):
        if not isinstance(v, (list, tuple)) or len(v) > MAX_DIMS:
            raise ValueError(f'handle {what} must be a list of at most {MAX_DIMS} integers, got {v!r}')
    if len(shape) != len(strides):
        raise ValueError(f'handle shape {shape!r} and strides {strides!r} differ in length')
    shape = tuple(_int(d, 'handle shape') for d in shape)
    strides = tuple(_int(s, 'handle strides') for s in strides)
    if any(d < 0 for d in shape):
        raise ValueError(f'handle shape {shape} has a negative extent')
    return name, int(hid, 16), dtype, shape, strides, _int(handle.get('offset'), 'handle offset')


def open(target, readonly=False, allow_other_users=False):
    """A numpy array over an ndshm array: `target` is a segment name or a handle dict from Node (a
    LocalNdarray handle gives its part, as open_local does). Another user's segment is
    PermissionError unless `allow_other_users` (as in Node)."""
    if isinstance(target, dict) and target.get('kind') == 'local':
        return open_local(target, readonly, allow_other_users)
    handle = _handle_fields(target) if isinstance(target, dict) else None
    name = handle[0] if handle else target
    mm, size = _map(name, readonly, allow_other_users)
    h = read_header(memoryview(mm)[:min(size, FIXED + 16 * MAX_DIMS)], size, name)
    shape, strides, offset = h['shape'], h['strides'], 0
    if handle is not None:
        _, hid, dtype, shape, strides, offset = handle
        if hid != h['array_id']:
            raise FileNotFoundError(f'{name}: the array this handle refers to no longer exists')
        if dtype != h['typestr']:
            raise BadHeader(f'{name}: handle dtype {dtype!r} != {h["typestr"]!r}')
        _check_view(name, 'the handle', shape, strides, offset, h['dtype'].itemsize, h['data_length'])
    return np.ndarray(shape, dtype=h['dtype'], buffer=mm, offset=h['data_offset'] + offset, strides=strides)


class LocalArray(np.ndarray):
    """pyGSTi's LocalNumpyArray: a part of a larger shared host array that knows its place in it.

    host_array: the whole host array (a numpy view of the shared memory); slices_into_host_array: a
    tuple of slice objects, one per axis, such that host_array[slices_into_host_array] is this part;
    owner_rank: the host-group rank the part belongs to (None if none was said); host_handle: the
    host array's handle dict. The attributes follow views and copies, as in pyGSTi.
    """

    def __new__(cls, part, host_array=None, slices_into_host_array=None, owner_rank=None, host_handle=None):
        obj = np.asarray(part).view(cls)
        obj.host_array = host_array
        obj.slices_into_host_array = slices_into_host_array
        obj.owner_rank = owner_rank
        obj.host_handle = host_handle
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        self.host_array = getattr(obj, 'host_array', None)
        self.slices_into_host_array = getattr(obj, 'slices_into_host_array', None)
        self.owner_rank = getattr(obj, 'owner_rank', None)
        self.host_handle = getattr(obj, 'host_handle', None)

    @property
    def handle(self):
        """The LocalNdarray handle of this part (what Node's LocalNdarray.open takes)."""
        if self.host_handle is None or self.slices_into_host_array is None:
            raise ValueError('this LocalArray has no host handle')
        return {'ndshm': 1, 'kind': 'local', 'host': self.host_handle,
                'slices': [[s.start, s.stop, s.step] for s in self.slices_into_host_array], 'ownerRank': self.owner_rank}

    def __reduce__(self):
        # Pickled as a reference to the shared memory (the handle), not as a copy of the bytes, when
        # this is the part itself; a view or copy of it pickles as a plain numpy array.
        host, slices = self.host_array, self.slices_into_host_array
        if host is not None and slices is not None and self.host_handle is not None:
            part = host[slices]
            if (part.shape == self.shape and part.strides == self.strides and part.dtype == self.dtype
                    and part.__array_interface__['data'][0] == self.__array_interface__['data'][0]):
                return (open_local, (self.handle,))
        return np.asarray(self).__reduce__()


def open_local(handle, readonly=False, allow_other_users=False):
    """The part a LocalNdarray handle from Node names ({ndshm: 1, kind: 'local', host, slices,
    ownerRank}): a LocalArray over the shared memory of its host array, which is opened by its own
    handle (every check of open() applies). The slices must be ones Node resolved for that host
    array (ValueError otherwise)."""
    if not isinstance(handle, dict) or handle.get('ndshm') != 1 or handle.get('kind') != 'local':
        raise ValueError(f'not a LocalNdarray handle: {handle!r:.200}')
    host_handle = handle.get('host')
    if not isinstance(host_handle, dict) or host_handle.get('kind') == 'local':
        raise ValueError('LocalNdarray handle: host must be an array handle dict')
    owner = handle.get('ownerRank')
    if owner is not None:
        owner = _int(owner, 'LocalNdarray handle ownerRank')
        if owner < 0:
            raise ValueError(f'LocalNdarray handle ownerRank must not be negative, got {owner}')
    raw = handle.get('slices')
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_DIMS:
        raise ValueError('LocalNdarray handle slices must be a list of [start, stop, step]')
    host = open(host_handle, readonly, allow_other_users)
    if len(raw) != host.ndim:
        raise ValueError(f'LocalNdarray handle has {len(raw)} slices for a host array of {host.ndim} axes')
    slices = []
    for axis, entry in enumerate(raw):
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise ValueError(f'LocalNdarray handle slices[{axis}] must be [start, stop, step]')
        start = _int(entry[0], 'slice start')
        stop = None if entry[1] is None else _int(entry[1], 'slice stop')
        step = _int(entry[2], 'slice step')
        sl = slice(start, stop, step)
        # Node resolves every slice as slice.indices() does, with stop = start + count * step (None
        # when that is negative): only that form is accepted.
        if step == 0:
            raise ValueError(f'LocalNdarray handle slices[{axis}]: step 0')
        first, _, _ = sl.indices(host.shape[axis])
        end = first + len(range(*sl.indices(host.shape[axis]))) * step
        if first != start or (end if end >= 0 else None) != stop:
            raise ValueError(f'LocalNdarray handle slices[{axis}] = {entry!r} is not a resolved slice of an axis of length {host.shape[axis]}')
        slices.append(sl)
    slices = tuple(slices)
    return LocalArray(host[slices], host_array=host, slices_into_host_array=slices, owner_rank=owner, host_handle=host_handle)


def _strides(shape, itemsize, order):
    """numpy's strides for a new array, without allocating one of its size as np.empty would."""
    if order not in ('C', 'F'):
        raise ValueError(f"order must be 'C' or 'F', got {order!r}")
    if 0 in shape:
        return np.empty(shape, dtype=np.uint8, order=order).strides  # no memory; numpy's choice of strides
    strides, step = [], itemsize
    for d in (reversed(shape) if order == 'C' else shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides)) if order == 'C' else tuple(strides)


def create(name, shape, dtype='float64', order='C', persistent=False):
    """A new ndshm array (zeros), owned by this process: Node's gc() removes it once this process
    has ended, unless persistent. Fails with FileExistsError if the name is taken."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise ValueError(f'unknown dtype {dtype!r}: {e}') from None
    if dtype.str not in TYPESTRS:
        raise ValueError(f'dtype {dtype.str!r} is not one ndshm stores (the format has {", ".join(sorted(TYPESTRS))})')
    shape = tuple(_int(d, 'shape') for d in shape)
    ndim = len(shape)
    if ndim > MAX_DIMS:
        raise ValueError(f'at most {MAX_DIMS} dimensions')
    if any(d < 0 for d in shape):
        raise ValueError(f'negative extent in shape {shape}')
    # Computed rather than taken from np.empty(shape), which would allocate the array's size here.
    strides = _strides(shape, dtype.itemsize, order)
    length = FIXED + 16 * ndim
    data_offset = -(-length // ALIGN) * ALIGN
    data_length = dtype.itemsize
    for d in shape:
        data_length *= d
    if data_offset + data_length > INT64_MAX:
        raise ValueError(f'shape {shape} of {dtype.str} is too large')
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
    _check_name(name)
    try:
        import _posixshmem
        _posixshmem.shm_unlink('/' + name)
    except ImportError:
        os.unlink('/dev/shm/' + name)
