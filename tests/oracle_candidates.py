"""Candidates for the oracle's tests: a plain loop-based NumPy reference, and broken copies.

The reference is written the way a student would: explicit loops over the batch, the
channels and the window positions, no engine, no im2col. Each broken candidate is the
reference with exactly one classic mistake switched on (``BROKEN`` lists them with the
diagnosis the oracle must give).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


# ------------------------------------------------------------------------- convolution


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, *, flip=False,
           pad_extra=0, size_ignores_stride=False, ignore_dilation=False,
           mix_groups=False, drop_bias=False):
    """y[n, o, i, j] = b[o] + sum_{c,p,q} w[o, c, p, q] x_pad[n, g*C/G + c, i*s + p*d, ...]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    ph, pw = ph + pad_extra, pw + pad_extra
    if ignore_dilation:
        dh = dw = 1
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if size_ignores_stride:
        oh, ow = h + 2 * ph - span_h + 1, wd + 2 * pw - span_w + 1
    else:
        oh, ow = (h + 2 * ph - span_h) // sh + 1, (wd + 2 * pw - span_w) // sw + 1
    kernel = w[:, :, ::-1, ::-1] if flip else w
    y = np.zeros((n, o, oh, ow))
    for ni in range(n):
        for oi in range(o):
            g = 0 if mix_groups else oi // og
            for i in range(oh):
                for j in range(ow):
                    r, s = i * sh, j * sw
                    if r + span_h > xp.shape[2] or s + span_w > xp.shape[3]:
                        continue  # (only reached when the size ignores the stride)
                    window = xp[ni, g * cg:(g + 1) * cg, r:r + span_h:dh, s:s + span_w:dw]
                    y[ni, oi, i, j] = np.sum(window * kernel[oi])
            if b is not None and not drop_bias:
                y[ni, oi] += b[oi]
    return y


def conv2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1,
                    transpose_dw=False, unflipped_dx=False):
    """Scatter each output's gradient back onto its window: dx += g * w, dw += g * window."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    dxp, dwt = np.zeros_like(xp), np.zeros_like(w)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    scatter = w[:, :, ::-1, ::-1] if unflipped_dx else w
    _, _, oh, ow = grad_out.shape
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            chans = slice(g * cg, (g + 1) * cg)
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * sh, i * sh + span_h, dh)
                    cols = slice(j * sw, j * sw + span_w, dw)
                    go = grad_out[ni, oi, i, j]
                    dxp[ni, chans, rows, cols] += go * scatter[oi]
                    dwt[oi] += go * xp[ni, chans, rows, cols]
    dx = dxp[:, :, ph:ph + h, pw:pw + wd]
    if transpose_dw:
        dwt = dwt.swapaxes(-1, -2)
    grads = (dx, dwt)
    if b is not None:
        grads += (grad_out.sum(axis=(0, 2, 3)),)
    return grads


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """A conv2d of height 1."""
    y = conv2d(x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding),
               (1, dilation), groups)
    return y[:, :, 0, :]


def conv1d_backward(x, w, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1):
    grads = conv2d_backward(x[:, :, None, :], w[:, :, None, :], b,
                            grad_out=grad_out[:, :, None, :], stride=(1, stride),
                            padding=(0, padding), dilation=(1, dilation), groups=groups)
    return (grads[0][:, :, 0, :], grads[1][:, :, 0, :], *grads[2:])


# ----------------------------------------------------------------------------- pooling


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    span = d * (k - 1) + 1
    return (math.ceil if ceil else math.floor)((n + 2 * p - span) / s) + 1


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, *, ceil=False):
    """y = max over each (dilated) window of x padded with -inf."""
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    oh, ow = _pool_size(h, kh, sh, ph, dh, ceil), _pool_size(wd, kw, sw, pw, dw, ceil)
    y = np.empty((n, c, oh, ow))
    for ni in range(n):
        for ci in range(c):
            for i in range(oh):
                for j in range(ow):
                    best = -np.inf
                    for p in range(kh):
                        for q in range(kw):
                            r, s = i * sh + p * dh - ph, j * sw + q * dw - pw
                            if 0 <= r < h and 0 <= s < wd and x[ni, ci, r, s] > best:
                                best = x[ni, ci, r, s]
                    y[ni, ci, i, j] = best
    return y


def max_pool2d_backward(x, kernel_size, stride=None, padding=0, dilation=1, *, grad_out,
                        to_every_element=False):
    """The window's gradient goes to its first maximum (strict > keeps the first)."""
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    dx = np.zeros_like(x)
    _, _, oh, ow = grad_out.shape
    for ni in range(n):
        for ci in range(c):
            for i in range(oh):
                for j in range(ow):
                    best, where = -np.inf, None
                    for p in range(kh):
                        for q in range(kw):
                            r, s = i * sh + p * dh - ph, j * sw + q * dw - pw
                            if not (0 <= r < h and 0 <= s < wd):
                                continue
                            if to_every_element:
                                dx[ni, ci, r, s] += grad_out[ni, ci, i, j]
                            elif x[ni, ci, r, s] > best:
                                best, where = x[ni, ci, r, s], (r, s)
                    if where is not None and not to_every_element:
                        dx[ni, ci, where[0], where[1]] += grad_out[ni, ci, i, j]
    return (dx,)


def _avg_windows(x, kernel_size, stride, padding):
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    (ph, pw) = _pair(padding)
    n, c, h, wd = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    for i in range(oh):
        for j in range(ow):
            cells = [(i * sh + p - ph, j * sw + q - pw) for p in range(kh) for q in range(kw)]
            inside = [(r, s) for r, s in cells if 0 <= r < h and 0 <= s < wd]
            yield i, j, inside, (oh, ow), kh * kw


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, count_valid_only=False):
    """y = (sum of the window, padding zeros included) / (kh * kw)."""
    n, c = x.shape[:2]
    y = None
    for i, j, inside, (oh, ow), count in _avg_windows(x, kernel_size, stride, padding):
        if y is None:
            y = np.zeros((n, c, oh, ow))
        for r, s in inside:
            y[:, :, i, j] += x[:, :, r, s]
        y[:, :, i, j] /= len(inside) if count_valid_only else count
    return y


def avg_pool2d_backward(x, kernel_size, stride=None, padding=0, *, grad_out,
                        count_valid_only=False):
    dx = np.zeros_like(x)
    for i, j, inside, _, count in _avg_windows(x, kernel_size, stride, padding):
        share = grad_out[:, :, i, j] / (len(inside) if count_valid_only else count)
        for r, s in inside:
            dx[:, :, r, s] += share
    return (dx,)


# ------------------------------------------------------------- activations and the loss


def relu(x):
    return np.where(x > 0, x, 0.0)


def relu_backward(x, *, grad_out):
    return (np.where(x > 0, grad_out, 0.0),)


def softmax(x, axis=-1, *, shift=True):
    """exp(x - max) / sum exp(x - max) along axis."""
    z = x - x.max(axis=axis, keepdims=True) if shift else x
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(x, *, grad_out, axis=-1):
    s = softmax(x, axis)
    return (s * (grad_out - (grad_out * s).sum(axis=axis, keepdims=True)),)


def log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def log_softmax_backward(x, *, grad_out, axis=-1):
    return (grad_out - softmax(x, axis) * grad_out.sum(axis=axis, keepdims=True),)


def cross_entropy(logits, target, reduction="mean"):
    """loss_n = -log_softmax(logits)[n, target[n]], one row at a time."""
    n = logits.shape[0]
    losses = np.empty(n)
    for i in range(n):
        row = logits[i] - logits[i].max()
        losses[i] = np.log(np.exp(row).sum()) - row[target[i]]
    if reduction == "none":
        return losses
    return np.asarray(losses.sum() if reduction == "sum" else losses.sum() / n)


def cross_entropy_backward(logits, target, *, grad_out, reduction="mean", divide_by_n=True):
    """dL/dlogits = (softmax - onehot) * g, divided by N for the mean."""
    n = logits.shape[0]
    grad = np.empty_like(logits)
    for i in range(n):
        row = np.exp(logits[i] - logits[i].max())
        row /= row.sum()
        row[target[i]] -= 1.0
        scale = grad_out[i] if reduction == "none" else grad_out
        if reduction == "mean" and divide_by_n:
            scale = scale / n
        grad[i] = row * scale
    return (grad,)


def linear(x, w, b=None):
    y = np.zeros((x.shape[0], w.shape[0]))
    for i in range(x.shape[0]):
        for o in range(w.shape[0]):
            y[i, o] = np.dot(x[i], w[o]) + (b[o] if b is not None else 0.0)
    return y


def linear_backward(x, w, b=None, *, grad_out):
    grads = (grad_out @ w, grad_out.T @ x)
    return grads + ((grad_out.sum(axis=0),) if b is not None else ())


# ------------------------------------------- transposed convolution and the later options


def _transposed_size(n, k, s, p, d, a):
    return (n - 1) * s - 2 * p + d * (k - 1) + a + 1


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, ignore_output_padding=False, unflipped=False,
                     unswapped=False):
    """Scatter every input element's kernel slice onto the output:
    y[n, g*O/G + o, i*s + p*d - pad, j*s + q*d - pad] += x[n, g*C/G + c, i, j] * w[., o, p, q].
    The mistakes: output_padding left out, the kernel rotated by 180 degrees (what a
    correlation-based version without the flip computes), w[c, o] read as w[o, c]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    (ah, aw) = (0, 0) if ignore_output_padding else _pair(output_padding)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    if unswapped:  # each group's (C/G, O/G) block read transposed (needs C/G == O/G)
        w = w.reshape(groups, cg, og, kh, kw).swapaxes(1, 2).reshape(w.shape)
    if unflipped:
        w = w[:, :, ::-1, ::-1]
    oh, ow = _transposed_size(h, kh, sh, ph, dh, ah), _transposed_size(wd, kw, sw, pw, dw, aw)
    y = np.zeros((n, og * groups, oh, ow))
    for ni in range(n):
        for ci in range(c):
            g = ci // cg
            for i in range(h):
                for j in range(wd):
                    for p in range(kh):
                        for q in range(kw):
                            r, t = i * sh + p * dh - ph, j * sw + q * dw - pw
                            if 0 <= r < oh and 0 <= t < ow:
                                y[ni, g * og:(g + 1) * og, r, t] += x[ni, ci, i, j] * w[ci, :, p, q]
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_transpose2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    """Gather: dx[n, c, i, j] = sum g[n, o, i*s + p*d - pad, ...] w[c, o, p, q], and
    dw[c, o, p, q] = sum x[n, c, i, j] g[n, o, i*s + p*d - pad, ...]."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    _, _, oh, ow = grad_out.shape
    dx, dwt = np.zeros_like(x), np.zeros_like(w)
    for ni in range(n):
        for ci in range(c):
            g = ci // cg
            outs = slice(g * og, (g + 1) * og)
            for i in range(h):
                for j in range(wd):
                    for p in range(kh):
                        for q in range(kw):
                            r, t = i * sh + p * dh - ph, j * sw + q * dw - pw
                            if 0 <= r < oh and 0 <= t < ow:
                                dx[ni, ci, i, j] += grad_out[ni, outs, r, t] @ w[ci, :, p, q]
                                dwt[ci, :, p, q] += x[ni, ci, i, j] * grad_out[ni, outs, r, t]
    grads = (dx, dwt)
    if b is not None:
        grads += (grad_out.sum(axis=(0, 2, 3)),)
    return grads


def _pool_size_torch(n, k, s, p, d, ceil_mode, start_rule=True):
    """PyTorch's output size: with ceil_mode a last window must start before n + p."""
    out = _pool_size(n, k, s, p, d, ceil_mode)
    if ceil_mode and start_rule and (out - 1) * s >= n + p:
        out -= 1
    return out


def max_pool2d_options(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                       *, ignore_ceil_mode=False, no_start_rule=False):
    """max_pool2d with ceil_mode; the mistakes: ceil_mode ignored, or ceil without the
    rule that drops a last window starting in the right padding."""
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    ceil = ceil_mode and not ignore_ceil_mode
    n, c, h, wd = x.shape
    oh = _pool_size_torch(h, kh, sh, ph, dh, ceil, not no_start_rule)
    ow = _pool_size_torch(wd, kw, sw, pw, dw, ceil, not no_start_rule)
    full = max_pool2d(x, kernel_size, stride, padding, dilation, ceil=ceil)
    if full.shape[2] < oh or full.shape[3] < ow:  # a window past the end of the input
        full = np.pad(full, ((0, 0), (0, 0), (0, oh - full.shape[2]),
                             (0, ow - full.shape[3])), constant_values=-np.inf)
    return full[:, :, :oh, :ow]


def max_pool2d_options_backward(x, kernel_size, stride=None, padding=0, dilation=1,
                                ceil_mode=False, *, grad_out):
    """The loop backward reads the number of windows from grad_out: nothing to add."""
    return max_pool2d_backward(x, kernel_size, stride, padding, dilation, grad_out=grad_out)


def _avg_options_windows(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, ignore=()):
    """(i, j, the input cells of window (i, j), its divisor), PyTorch's rules: a window
    is clipped to the padded input [-p, n + p) for its count, to the input for its sum."""
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    ph, pw = _pair(padding)
    _, _, h, wd = x.shape
    ceil = ceil_mode and "ceil_mode" not in ignore
    oh, ow = _pool_size_torch(h, kh, sh, ph, 1, ceil), _pool_size_torch(wd, kw, sw, pw, 1, ceil)
    for i in range(oh):
        for j in range(ow):
            r0, t0 = i * sh - ph, j * sw - pw
            r1, t1 = min(r0 + kh, h + ph), min(t0 + kw, wd + pw)
            cells = [(r, t) for r in range(max(r0, 0), min(r1, h))
                     for t in range(max(t0, 0), min(t1, wd))]
            if divisor_override is not None and "divisor_override" not in ignore:
                divisor = divisor_override
            elif count_include_pad or "count_include_pad" in ignore:
                divisor = (r1 - r0) * (t1 - t0)
            else:
                divisor = len(cells)
            yield i, j, cells, divisor, (oh, ow)


def avg_pool2d_options(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                       count_include_pad=True, divisor_override=None, *, ignore=()):
    """avg_pool2d with ceil_mode, count_include_pad and divisor_override; ``ignore`` names
    the options a broken copy leaves out."""
    n, c = x.shape[:2]
    y = None
    for i, j, cells, divisor, (oh, ow) in _avg_options_windows(
            x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
            ignore):
        if y is None:
            y = np.zeros((n, c, oh, ow))
        for r, t in cells:
            y[:, :, i, j] += x[:, :, r, t]
        y[:, :, i, j] /= divisor
    return y


def avg_pool2d_options_backward(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                                count_include_pad=True, divisor_override=None, *, grad_out,
                                ignore=()):
    dx = np.zeros_like(x)
    for i, j, cells, divisor, _ in _avg_options_windows(
            x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
            ignore):
        for r, t in cells:
            dx[:, :, r, t] += grad_out[:, :, i, j] / divisor
    return (dx,)


def _loss_rows(logits, target, weight, ignore_index, label_smoothing, mistake):
    """Per row: the loss, its gradient for an upstream gradient of 1, and the row's share
    of the mean's divisor."""
    n, c = logits.shape
    w = np.ones(c) if weight is None or mistake == "weights" else np.asarray(weight)
    eps = 0.0 if mistake == "smoothing" else label_smoothing
    rows = []
    for i in range(n):
        row = logits[i] - logits[i].max()
        log_p = row - np.log(np.exp(row).sum())
        if target[i] == ignore_index and mistake != "ignore":
            # the mistake: the loss masked, the divisor not (w[-1] is the last class's)
            rows.append((0.0, np.zeros(c), w[target[i]] if mistake == "count-ignored" else 0.0))
            continue
        y = np.zeros(c)
        y[target[i]] = 1.0  # (NumPy wraps a negative index: the "ignore" mistake)
        if mistake == "smoothing-others" and eps:
            dist = (1 - eps) * y + eps / (c - 1) * (1 - y)
        else:
            dist = (1 - eps) * y + eps / c
        coeff = dist * w if eps else y * w[target[i]]
        loss = -(coeff * log_p).sum()
        grad = coeff.sum() * np.exp(log_p) - coeff
        share = 1.0 if mistake == "mean-by-n" else w[target[i]]
        rows.append((loss, grad, share))
    return rows


def cross_entropy_options(logits, target, reduction="mean", weight=None, ignore_index=-100,
                          label_smoothing=0.0, *, mistake=None):
    """cross_entropy with weight, ignore_index and label_smoothing, one row at a time (the
    argument order of this signature is not PyTorch's: the oracle passes keywords)."""
    rows = _loss_rows(logits, target, weight, ignore_index, label_smoothing, mistake)
    losses = np.array([r[0] for r in rows])
    if reduction == "none":
        return losses
    if reduction == "sum":
        return np.asarray(losses.sum())
    return np.asarray(losses.sum() / sum(r[2] for r in rows))


def cross_entropy_options_backward(logits, target, *, grad_out, reduction="mean", weight=None,
                                   ignore_index=-100, label_smoothing=0.0, mistake=None):
    rows = _loss_rows(logits, target, weight, ignore_index, label_smoothing, mistake)
    grad = np.array([r[1] for r in rows])
    if reduction == "none":
        return (grad * grad_out[:, None],)
    if reduction == "sum":
        return (grad * grad_out,)
    return (grad * grad_out / sum(r[2] for r in rows),)


#: the loop reference as it was before the later options and conv_transpose2d: what an
#: implementation written then looks like (it must still pass, the new cases out of scope)
BEFORE_OPTIONS: dict[str, tuple[Callable, Callable]] = {
    "conv1d": (conv1d, conv1d_backward),
    "conv2d": (conv2d, conv2d_backward),
    "max_pool2d": (max_pool2d, max_pool2d_backward),
    "avg_pool2d": (avg_pool2d, avg_pool2d_backward),
    "relu": (relu, relu_backward),
    "softmax": (softmax, softmax_backward),
    "log_softmax": (log_softmax, log_softmax_backward),
    "cross_entropy": (cross_entropy, cross_entropy_backward),
    "linear": (linear, linear_backward),
}

#: the loop reference of every op and option
REFERENCE: dict[str, tuple[Callable, Callable]] = {
    **BEFORE_OPTIONS,
    "max_pool2d": (max_pool2d_options, max_pool2d_options_backward),
    "avg_pool2d": (avg_pool2d_options, avg_pool2d_options_backward),
    "cross_entropy": (cross_entropy_options, cross_entropy_options_backward),
    "conv_transpose2d": (conv_transpose2d, conv_transpose2d_backward),
}

# ------------------------------------------------------------- the deliberately broken

# name: (op, forward, backward or None, the diagnosis key the oracle must give)
BROKEN: dict[str, tuple[str, Callable, Callable | None, str]] = {
    "flipped kernel": ("conv2d", partial(conv2d, flip=True), None, "flipped-kernel"),
    "padding off by one": ("conv2d", partial(conv2d, pad_extra=1), None,
                           "padding-off-by-one"),
    "stride ignored in the output size": (
        "conv2d", partial(conv2d, size_ignores_stride=True), None,
        "stride-ignored-in-output-size"),
    "ceil instead of floor": ("max_pool2d", partial(max_pool2d, ceil=True), None,
                              "ceil-instead-of-floor"),
    "dilation ignored": ("conv2d", partial(conv2d, ignore_dilation=True), None,
                         "dilation-ignored"),
    "channels mixed across groups": ("conv2d", partial(conv2d, mix_groups=True), None,
                                     "channels-mixed-across-groups"),
    "bias dropped": ("conv2d", partial(conv2d, drop_bias=True), None, "bias-dropped"),
    "weight gradient transposed": (
        "conv2d", conv2d, partial(conv2d_backward, transpose_dw=True),
        "weight-gradient-transposed"),
    "input gradient without the flip": (
        "conv2d", conv2d, partial(conv2d_backward, unflipped_dx=True),
        "input-gradient-without-flip"),
    "max-pool gradient sent to every element": (
        "max_pool2d", max_pool2d, partial(max_pool2d_backward, to_every_element=True),
        "max-pool-gradient-to-every-element"),
    "average pooling divides by the wrong count at the border": (
        "avg_pool2d", partial(avg_pool2d, count_valid_only=True),
        partial(avg_pool2d_backward, count_valid_only=True), "avg-pool-wrong-count-at-border"),
    "softmax without the max shift": ("softmax", partial(softmax, shift=False),
                                      softmax_backward, "softmax-without-max-shift"),
    "loss gradient missing 1/N": (
        "cross_entropy", cross_entropy, partial(cross_entropy_backward, divide_by_n=False),
        "loss-gradient-missing-1/N"),
}


# ------------------------------------------------------------ candidates that misbehave


def loops_forever(x, **params):
    """A forward stuck in an endless loop that even swallows ordinary exceptions."""
    while True:
        try:
            while True:
                pass
        except Exception:  # noqa: BLE001 - the point: the oracle's stop must get through
            pass


def slow_backward(*arrays, grad_out, **params):
    """A backward that never returns (a forward may be right while its backward hangs)."""
    while True:
        pass


def raises(*arrays, **params):
    raise RuntimeError("not implemented yet")


def returns_nan(x, **params):
    return np.full_like(x, np.nan)


def returns_list(x, **params):
    return relu(x).tolist()


def returns_int(x, **params):
    return relu(x).astype(np.int64)


def returns_wrong_shape(x, **params):
    return relu(x).reshape(-1)


def backward_wrong_count(x, w, b=None, *, grad_out, **params):
    return conv2d_backward(x, w, b, grad_out=grad_out, **params)[:1]


def backward_inconsistent(x, *, grad_out):
    """relu whose backward disagrees with its own forward (a factor 2)."""
    return (np.where(x > 0, 2 * grad_out, 0.0),)


def relu_double(x):
    """A forward consistent with ``backward_inconsistent`` (so only the engine check and
    not finite differences would flag that pair)."""
    return np.where(x > 0, 2 * x, 0.0)


# ------------------------------------------------- more mistakes the oracle recognises


def _conv2d_backward_ignoring_grad_out(x, w, b=None, *, grad_out, **params):
    return conv2d_backward(x, w, b, grad_out=np.ones_like(grad_out), **params)


def _max_pool2d_backward_split_ties(x, kernel_size, stride=None, padding=0, dilation=1, *,
                                    grad_out):
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(kernel_size if stride is None else stride)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    dx = np.zeros_like(x)
    n, c, h, wd = x.shape
    for ni, ci, i, j in np.ndindex(grad_out.shape):
        cells = [(i * sh + p * dh - ph, j * sw + q * dw - pw)
                 for p in range(kh) for q in range(kw)]
        cells = [(r, s) for r, s in cells if 0 <= r < h and 0 <= s < wd]
        top = max(x[ni, ci, r, s] for r, s in cells)
        maxima = [(r, s) for r, s in cells if x[ni, ci, r, s] == top]
        for r, s in maxima:
            dx[ni, ci, r, s] += grad_out[ni, ci, i, j] / len(maxima)
    return (dx,)


def _max_pool2d_zero_padding(x, kernel_size, stride=None, padding=0, dilation=1):
    ph, pw = _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros, not -inf
    return max_pool2d(xp, kernel_size, stride, 0, dilation)


def _relu_backward_one_at_zero(x, *, grad_out):
    return (np.where(x >= 0, grad_out, 0.0),)


def _softmax_last_axis(x, axis=-1):
    return softmax(x, -1)


def _softmax_backward_diagonal(x, *, grad_out, axis=-1):
    s = softmax(x, axis)
    return (s * (1 - s) * grad_out,)


def _log_softmax_naive(x, axis=-1):
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def _linear_backward_dw_transposed(x, w, b=None, *, grad_out):
    grads = linear_backward(x, w, b, grad_out=grad_out)
    return (grads[0], grads[1].T, *grads[2:])


def _cross_entropy_always_sum(logits, target, reduction="mean"):
    return cross_entropy(logits, target, "sum" if reduction == "mean" else reduction)


EXTRA: dict[str, tuple[str, Callable, Callable | None, str]] = {
    "backward ignores grad_out": ("conv2d", conv2d, _conv2d_backward_ignoring_grad_out,
                                  "ignores-grad-out"),
    "max-pool ties: the gradient was split": (
        "max_pool2d", max_pool2d, _max_pool2d_backward_split_ties, "ties-split"),
    "max pooling padded with 0": ("max_pool2d", _max_pool2d_zero_padding, None,
                                  "max-pool-zero-padding"),
    "relu'(0) = 1 used": ("relu", relu, _relu_backward_one_at_zero, "relu-grad-at-zero"),
    "softmax taken along the wrong axis": ("softmax", _softmax_last_axis, None, "wrong-axis"),
    "softmax backward uses only the diagonal": (
        "softmax", softmax, _softmax_backward_diagonal, "softmax-diagonal-jacobian"),
    "softmax without the max shift (log_softmax)": (
        "log_softmax", _log_softmax_naive, None, "softmax-without-max-shift"),
    "weight gradient transposed (linear)": (
        "linear", linear, _linear_backward_dw_transposed, "weight-gradient-transposed"),
    "wrong reduction": ("cross_entropy", _cross_entropy_always_sum, None, "loss-reduction"),
}
