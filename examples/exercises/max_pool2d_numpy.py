"""Exercise: max pooling forward and backward in NumPy.

y[n, c, i, j] is the largest value in its window (padding counts as -inf); the stride
defaults to the kernel size. Backward: each window's gradient goes to the cell that held
its maximum, the *first* one in row-major order when several tie; where windows overlap
the contributions add. Check:

    tinygrad-cnn oracle max_pool2d max_pool2d_numpy:max_pool2d \
        --backward max_pool2d_numpy:max_pool2d_backward --path examples/exercises
"""

from __future__ import annotations

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)),  # noqa: F841 (yours to use)
                constant_values=-np.inf)
    oh = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], x.shape[1], oh, ow))
    # TODO: out[n, c, i, j] = the max of xp[n, c, i*sh + p*dh, j*sw + q*dw] over the taps (p, q)
    return out


def max_pool2d_backward(x, *, grad_out, kernel_size, stride=None, padding=0, dilation=1):
    # TODO: send grad_out[n, c, i, j] to the first maximum of window (i, j)
    return np.zeros_like(x)
