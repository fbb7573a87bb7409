"""Exercise: softmax cross-entropy on logits, forward and backward, in NumPy.

logits is (N, C), target holds N class indices. L_n = −log p[n, target[n]] with
p = softmax(logits[n]); reduction "mean" (default), "sum" or "none". Subtract each row's
maximum before exp, or large logits overflow. The gradient is p − one_hot(target), scaled
by grad_out (and divided by N for the mean). Check:

    tinygrad-cnn oracle cross_entropy cross_entropy_numpy:cross_entropy \
        --backward cross_entropy_numpy:cross_entropy_backward --path examples/exercises
"""

from __future__ import annotations

import numpy as np


def cross_entropy(logits, target, reduction="mean"):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # TODO: overflows; fix
    losses = -np.log(p[np.arange(len(target)), target])
    return losses.mean()  # TODO: honour reduction="sum" and reduction="none"


def cross_entropy_backward(logits, target, *, grad_out, reduction="mean"):
    # TODO: p − one_hot(target), times grad_out (divided by N for the mean)
    return np.zeros_like(logits)
