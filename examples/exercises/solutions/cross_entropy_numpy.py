"""Reference solution: softmax cross-entropy on logits, forward and backward, in NumPy.

Checked by ``tinygrad-cnn oracle cross_entropy cross_entropy_numpy:cross_entropy --backward
cross_entropy_numpy:cross_entropy_backward --path examples/exercises/solutions``.
"""

from __future__ import annotations

import numpy as np


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)  # subtract the row maximum: no overflow
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits, target, reduction="mean"):
    """L_n = −log p[n, target[n]], p = softmax(logits[n]); mean, sum or none over n."""
    losses = -_log_softmax(logits)[np.arange(len(target)), target]
    return {"mean": losses.mean, "sum": losses.sum}.get(reduction, lambda: losses)()


def cross_entropy_backward(logits, target, *, grad_out, reduction="mean"):
    """dL_n/dz[n, k] = p[n, k] − [k = target[n]]: softmax minus the one-hot target."""
    p = np.exp(_log_softmax(logits))
    grad = p - np.eye(logits.shape[1])[target]
    if reduction == "none":
        return grad * np.asarray(grad_out)[:, None]
    scale = np.asarray(grad_out) / (len(target) if reduction == "mean" else 1)
    return grad * scale
