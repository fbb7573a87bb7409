"""Reference solution: average pooling in NumPy (padding zeros count in the average).

Checked by ``tinygrad-cnn oracle avg_pool2d avg_pool2d_numpy:avg_pool2d --path
examples/exercises/solutions``.
"""

from __future__ import annotations

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, i, j] = (1 / (kh·kw)) Σ_{p, q} x_pad[n, c, i·s + p, j·s + q], zero padding."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (x.shape[2] + 2 * ph - kh) // sh + 1  # output size: count the window positions
    ow = (x.shape[3] + 2 * pw - kw) // sw + 1
    total = sum(xp[:, :, p:p + sh * (oh - 1) + 1:sh, q:q + sw * (ow - 1) + 1:sw]
                for p in range(kh) for q in range(kw))
    return total / (kh * kw)
