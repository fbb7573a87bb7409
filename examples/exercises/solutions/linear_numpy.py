"""Reference solution: a fully connected layer y = x Wᵀ + b, forward and backward.

Checked by ``tinygrad-cnn oracle linear linear_numpy:linear --backward
linear_numpy:linear_backward --path examples/exercises/solutions``.
"""

from __future__ import annotations


def linear(x, w, b=None):
    """y = x Wᵀ + b: x is (N, in), W is (out, in), b is (out,)."""
    y = x @ w.T
    return y if b is None else y + b


def linear_backward(x, w, b=None, *, grad_out):
    """dL/dx = ḡ W, dL/dW = ḡᵀ x, dL/db = Σ_n ḡ."""
    grads = (grad_out @ w, grad_out.T @ x)
    return grads if b is None else (*grads, grad_out.sum(axis=0))
