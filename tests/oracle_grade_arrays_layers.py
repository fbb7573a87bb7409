"""Alice's CNN layers: loops over the output positions, NumPy inside."""

import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    return out if b is None else out + b[None, :, None, None]


def conv2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    _, _, kh, kw = w.shape
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            g = grad_out[:, :, i, j]
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    return (dx, dw) if b is None else (dx, dw, grad_out.sum(axis=(0, 2, 3)))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))
    return out


def max_pool2d_backward(x, *, grad_out, kernel_size, stride=None, padding=0, dilation=1):
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    dx = np.zeros_like(x)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            flat = window.reshape(*window.shape[:2], -1)
            first = flat.argmax(axis=2)  # the first maximum gets the gradient
            r, s = np.unravel_index(first, (kh, kw))
            for ni in range(x.shape[0]):
                for ci in range(x.shape[1]):
                    dx[ni, ci, i * sh + r[ni, ci], j * sw + s[ni, ci]] += grad_out[ni, ci, i, j]
    return dx


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits, target, reduction="mean"):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_p[np.arange(len(target)), target]
    return {"mean": losses.mean, "sum": losses.sum}.get(reduction, lambda: losses)()


def cross_entropy_backward(logits, target, *, grad_out, reduction="mean"):
    d = _softmax(logits)
    d[np.arange(len(target)), target] -= 1
    if reduction == "none":
        return (d * grad_out[:, None],)
    scale = grad_out / len(target) if reduction == "mean" else grad_out
    return (d * scale,)
