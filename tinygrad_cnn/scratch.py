"""A small pool of scratch arrays: a speed measure, not part of the math.

Why it exists
-------------
Large intermediate arrays of a training step (im2col columns, their gradient, the col2im
buffer, GEMM results) have the same shapes on every step. Allocated fresh, each costs a
page fault per 4 KiB on every step, because the C allocator hands large freed blocks back
to the kernel. The pool keeps arrays of 128 KiB and more and hands one out again once
nothing but the pool refers to it (no Tensor, view or user variable: the reference count
says so), so a result the caller still holds is never overwritten.

What it measured
----------------
Conv 32 -> 64 at 14x14, forward+backward, 1 thread, ratio to PyTorch in the same run:
2.14x without the pool, 1.64x with it (2026-11-22, the machine of that run). Remeasured
2026-12-02 on the 2-core AVX-512 machine of ``benchmarks/results.md`` (the same step,
interleaved, median of 7 rounds, a shared machine): 23.4 ms with the pool, 31.3 ms
without it (the pool switched off by setting `POOL_MAX_BYTES` to 0).

Arrays from 128 KiB up are pooled (1 MiB until 2026-12-02): a LeNet SGD step (batch 64,
1x28x28) allocates a dozen arrays of 0.2-0.8 MiB (the second conv's padded input and
output, its bias add, ReLU and pooling), and in a process whose heap had just been
trimmed each of them page-faulted on every step: 1662 faults and 10.5 ms per step with a
1 MiB floor, none and 6.9 ms with 128 KiB (``benchmarks/profile_primitives.py
lenet_sgd_28``; main before this session's pooling: 2838 faults, 11.8 ms). Whether a step
faults depends on what ran before in the process, so the interleaved benchmark sees it
only at times.

Only float and complex arrays are pooled (object arrays of exact numbers are never
reused); at most `POOL_MAX_BYTES` is ever held. Every call site may equally use
``np.empty``: the pool changes the time a step takes, never a value it computes.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

Shape = tuple[int, ...]

POOL: dict[tuple[int, np.dtype], list[np.ndarray]] = {}  # 1-D buffers by (size, dtype)
# glibc's malloc maps an array of 128 KiB and more (M_MMAP_THRESHOLD's default) fresh from
# the kernel and, depending on the heap's history, unmaps it again on free: smaller
# arrays come from the heap and are cheap to allocate
POOL_MIN_BYTES = 1 << 17
POOL_MAX_BYTES = 256 << 20  # at most this much is ever held
SLACK = 1.25  # a free buffer up to this much larger may serve a request
_pool_bytes = 0


def _free_refcount() -> int:
    """What ``sys.getrefcount`` says, in `scratch`'s loop, of a buffer only the pool holds
    (3 on CPython 3.11: the list, the loop variable, the argument); measured, not assumed."""
    buffers = [np.empty(0)]
    for buf in buffers:
        return sys.getrefcount(buf)
    raise AssertionError  # pragma: no cover


_FREE = _free_refcount()


def scratch(shape: Shape, dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array, reused from the pool when one is free.

    Buffers are pooled by element count, not shape: a step's arrays of one size but
    different shapes (a transform's output tiles and the gradient tiles of the next
    backward, the tiles D and their gradient) share one buffer instead of each keeping its
    own, which keeps the peak memory of a step down.

    Parameters
    ----------
    shape : tuple of int
    dtype : NumPy dtype or anything ``np.dtype`` accepts

    Returns
    -------
    ndarray
        Its contents are arbitrary: the caller writes every element before reading it.
        A pooled array is a reshaped view of the pool's 1-D buffer.
    """
    global _pool_bytes
    dtype = np.dtype(dtype)
    count = math.prod(shape)  # (np.prod of a tuple costs ~4 µs)
    nbytes = dtype.itemsize * count
    if nbytes < POOL_MIN_BYTES or dtype.kind not in "fc":
        return np.empty(shape, dtype)
    buffers = POOL.setdefault((count, dtype), [])
    for buf in buffers:
        if sys.getrefcount(buf) == _FREE:  # nothing else refers to it (a view would)
            return buf.reshape(shape)
    # else the smallest free buffer at most SLACK larger (a 4.2 MB image in a 4.7 MB
    # buffer of tiles): its first `count` elements
    best = None
    for (size, kind), others in POOL.items():
        if kind == dtype and count < size <= count * SLACK and \
                (best is None or size < best.size):
            for buf in others:
                if sys.getrefcount(buf) == _FREE:
                    best = buf
                    break
    if best is not None:
        return best[:count].reshape(shape)
    buf = np.empty(count, dtype)
    if _pool_bytes + nbytes <= POOL_MAX_BYTES:
        buffers.append(buf)
        _pool_bytes += nbytes
    return buf.reshape(shape)


def scratch_like(shape: Shape, strides: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array of ``shape`` whose axes are laid out in the order of
    ``strides`` (the largest stride outermost), from the pool when one is free.

    An elementwise pass over an array and a result laid out alike walks both in the same
    order (a transposed input and a C-ordered result would walk one of them across); and
    the pool spares the page faults of a fresh array of the same size on every step.

    Parameters
    ----------
    shape : tuple of int
    strides : tuple of int
        Strides of an array of the same number of axes (its magnitudes give the order).
    dtype : NumPy dtype or anything ``np.dtype`` accepts

    Returns
    -------
    ndarray
        A transposed view of a C-contiguous array; its contents are arbitrary.
    """
    nd = len(shape)
    if all(abs(strides[i]) >= abs(strides[i + 1]) for i in range(nd - 1)):
        return scratch(tuple(shape), dtype)  # already in row-major order
    order = sorted(range(nd), key=lambda i: -abs(strides[i]))  # stable: ties keep order
    base = scratch(tuple(shape[i] for i in order), dtype)
    return base.transpose([order.index(i) for i in range(nd)])
