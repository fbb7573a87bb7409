"""Reference solution: max pooling forward and backward in NumPy (ties: the first maximum).

Checked by ``tinygrad-cnn oracle max_pool2d max_pool2d_numpy:max_pool2d --backward
max_pool2d_numpy:max_pool2d_backward --path examples/exercises/solutions``.
"""

from __future__ import annotations

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _windows(x, kernel_size, stride, padding, dilation):
    """The padded input (-inf padding) and, per output position, its window's cells."""
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    oh = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    # taps in row-major order, so argmax finds the first maximum in row-major order
    taps = [(p * dh, q * dw) for p in range(kh) for q in range(kw)]
    stack = np.stack([xp[:, :, r:r + sh * (oh - 1) + 1:sh, c:c + sw * (ow - 1) + 1:sw]
                      for r, c in taps], axis=-1)  # (N, C, OH, OW, KH·KW)
    return xp, stack, taps, (sh, sw), (ph, pw)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """y[n, c, i, j] = max over the window of x_pad (padding is -inf)."""
    return _windows(x, kernel_size, stride, padding, dilation)[1].max(axis=-1)


def max_pool2d_backward(x, *, grad_out, kernel_size, stride=None, padding=0, dilation=1):
    """Each window's gradient goes to its first maximum; overlapping windows add."""
    xp, stack, taps, (sh, sw), (ph, pw) = _windows(x, kernel_size, stride, padding, dilation)
    first = stack.argmax(axis=-1)  # (N, C, OH, OW): which tap holds the first maximum
    dxp = np.zeros_like(xp)
    n, c, oh, ow = first.shape
    for t, (r, col) in enumerate(taps):
        hit = np.where(first == t, grad_out, 0.0)
        for i in range(oh):  # a loop, because windows may overlap (stride < kernel)
            dxp[:, :, r + i * sh, col:col + sw * (ow - 1) + 1:sw] += hit[:, :, i]
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
