"""Reference solution: 2-D convolution (cross-correlation) forward in NumPy.

Checked by ``tinygrad-cnn oracle conv2d conv2d_numpy:conv2d --path examples/exercises/solutions``.
"""

from __future__ import annotations

import numpy as np


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> np.ndarray:
    """y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x_pad[n, c, i·s + p·d, j·s + q·d]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, _, h, wd = x.shape
    o, c_group, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1  # the number of window positions
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow), dtype=np.result_type(x, w))
    o_group = o // groups
    for g in range(groups):
        xs = xp[:, g * c_group:(g + 1) * c_group]
        ws = w[g * o_group:(g + 1) * o_group]
        for p in range(kh):
            for q in range(kw):
                # the input cell that tap (p, q) sees, for every output position at once
                patch = xs[:, :, p * dh:p * dh + sh * (oh - 1) + 1:sh,
                           q * dw:q * dw + sw * (ow - 1) + 1:sw]
                out[:, g * o_group:(g + 1) * o_group] += np.einsum(
                    "nchw,oc->nohw", patch, ws[:, :, p, q])
    if b is not None:
        out += b[None, :, None, None]
    return out
