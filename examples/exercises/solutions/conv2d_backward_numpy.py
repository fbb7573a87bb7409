"""Reference solution: the gradients of a 2-D convolution, in NumPy.

The forward is the engine's; the backward is ours. Checked by
``tinygrad-cnn oracle conv2d conv2d_backward_numpy:forward --backward
conv2d_backward_numpy:backward --path examples/exercises/solutions``.
"""

from __future__ import annotations

import numpy as np

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """The engine's conv2d (the exercise is the backward)."""
    return F.conv2d(Tensor(x), Tensor(w), None if b is None else Tensor(b), stride=stride,
                    padding=padding, dilation=dilation, groups=groups).numpy()


def backward(x, w, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1):
    """dL/dx, dL/dw (and dL/db): every product w[o,c,p,q]·x_pad[n,c,i·s+p·d, j·s+q·d] sends
    grad_out[n,o,i,j]·x_pad[...] to w[o,c,p,q] and grad_out[n,o,i,j]·w[o,c,p,q] to x_pad[...]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    o, c_group, kh, kw = w.shape
    oh, ow = grad_out.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw_ = np.zeros_like(w)
    o_group = o // groups
    for g in range(groups):
        cs, os_ = slice(g * c_group, (g + 1) * c_group), slice(g * o_group, (g + 1) * o_group)
        for p in range(kh):
            for q in range(kw):
                rows = slice(p * dh, p * dh + sh * (oh - 1) + 1, sh)
                cols = slice(q * dw, q * dw + sw * (ow - 1) + 1, sw)
                patch = xp[:, cs, rows, cols]
                dw_[os_, :, p, q] += np.einsum("nchw,nohw->oc", patch, grad_out[:, os_])
                dxp[:, cs, rows, cols] += np.einsum("nohw,oc->nchw", grad_out[:, os_],
                                                    w[os_, :, p, q])
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    if b is None:
        return dx, dw_
    return dx, dw_, grad_out.sum(axis=(0, 2, 3))
