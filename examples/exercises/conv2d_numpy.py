"""Exercise: write a 2-D convolution (what a CNN layer computes: a cross-correlation) in NumPy.

    y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x_pad[n, c, i·s + p·d, j·s + q·d]

x is (N, C, H, W), w is (O, C/groups, KH, KW), b is (O,) or None; stride, padding and
dilation are ints or (height, width) pairs; groups splits the channels into independent
convolutions. Check your work (exit status 0 when it passes, 1 with the smallest failing
case when it does not):

    tinygrad-cnn oracle conv2d conv2d_numpy:conv2d --path examples/exercises
"""

from __future__ import annotations

import numpy as np


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> np.ndarray:
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, _, h, wd = x.shape
    o, c_group, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # noqa: F841 (yours to use)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1  # the number of window positions
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow), dtype=np.result_type(x, w))
    # TODO: for every group g, kernel tap (p, q) and output position (i, j), add
    #       w[o, c, p, q] * xp[n, c, i*sh + p*dh, j*sw + q*dw] to out[n, o, i, j]
    #       (the channels of group g are xp[:, g*c_group:(g+1)*c_group]);
    #       then add the bias b[o] to every position of map o.
    return out
