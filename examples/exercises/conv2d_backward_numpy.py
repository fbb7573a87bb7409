"""Exercise: the gradients of a 2-D convolution, in NumPy.

Every product w[o,c,p,q] · x_pad[n,c,i·s+p·d, j·s+q·d] in the forward pass sends
grad_out[n,o,i,j] · x_pad[...] to dL/dw[o,c,p,q] and grad_out[n,o,i,j] · w[o,c,p,q] to
dL/dx_pad[...]; dL/db[o] sums grad_out over n, i, j. The forward is the engine's. Check:

    tinygrad-cnn oracle conv2d conv2d_backward_numpy:forward \
        --backward conv2d_backward_numpy:backward --path examples/exercises
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
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)  # noqa: F841
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)  # the gradient of the padded input; crop the padding at the end
    dw_ = np.zeros_like(w)
    # TODO: for every group, tap (p, q) and output position, accumulate into dw_ and dxp
    #       (positions where windows overlap receive several contributions: add them).
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    if b is None:
        return dx, dw_
    return dx, dw_, np.zeros_like(b)  # TODO: dL/db
