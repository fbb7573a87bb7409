"""Exercise: a fully connected layer y = x Wᵀ + b, forward and backward, in NumPy.

x is (N, in), W is (out, in) (PyTorch's layout), b is (out,) or absent. Backward returns
dL/dx, dL/dW (and dL/db when there is a bias). Check:

    tinygrad-cnn oracle linear linear_numpy:linear \
        --backward linear_numpy:linear_backward --path examples/exercises
"""

from __future__ import annotations

import numpy as np


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def linear_backward(x, w, b=None, *, grad_out):
    dx = grad_out @ w
    dw = x.T @ grad_out  # TODO: check the shape: W is (out, in)
    return (dx, dw) if b is None else (dx, dw, np.zeros_like(b))  # TODO: dL/db
