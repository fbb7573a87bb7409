"""Exercise: average pooling in NumPy, with the right output size.

The stride defaults to the kernel size; padding adds zeros that count in the average
(PyTorch's default). The output has floor((n + 2p − k)/s) + 1 positions per axis: a window
that would run past the padded input is dropped. Check:

    tinygrad-cnn oracle avg_pool2d avg_pool2d_numpy:avg_pool2d --path examples/exercises
"""

from __future__ import annotations

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = xp.shape[2] // sh  # TODO: this is not the number of window positions
    ow = xp.shape[3] // sw
    total = np.zeros((x.shape[0], x.shape[1], oh, ow))
    for p in range(kh):
        for q in range(kw):
            window = xp[:, :, p::sh, q::sw][:, :, :oh, :ow]
            total[:, :, :window.shape[2], :window.shape[3]] += window
    return total / (kh * kw)
