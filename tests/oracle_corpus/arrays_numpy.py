"""Submissions in the oracle's own arrays contract (NCHW, the keyword names of
``tinygrad_cnn.nn.functional``), in plain NumPy: sliding windows and einsum."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


# ------------------------------------------------------------- conv2d: part of the options

def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Strides and paddings (also per axis); no dilation, no groups."""
    if dilation not in (1, (1, 1)) or groups != 1:
        raise NotImplementedError("dilation and groups are not supported")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    y = np.einsum("nchwpq,ocpq->nohw", windows, w)
    return y if b is None else y + b[None, :, None, None]


def conv2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1):
    if dilation not in (1, (1, 1)) or groups != 1:
        raise NotImplementedError("dilation and groups are not supported")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = grad_out.shape[2:]
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :oh, :ow]
    dw = np.einsum("nohw,nchwpq->ocpq", grad_out, windows)
    dxp = np.zeros_like(xp)
    for p in range(kh):
        for q in range(kw):
            dxp[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += np.einsum(
                "nohw,oc->nchw", grad_out, w[:, :, p, q])
    dx = dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    return (dx, dw) if b is None else (dx, dw, grad_out.sum(axis=(0, 2, 3)))


# --------------------------------------------------------------------- the loss, three ways

def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(logits, target, reduction="mean"):
    losses = -_log_softmax(logits)[np.arange(len(target)), target]
    if reduction == "none":
        return losses
    return np.asarray(losses.sum() if reduction == "sum" else losses.mean())


def _dlogits(logits, target, grad_out, reduction):
    d = np.exp(_log_softmax(logits))
    d[np.arange(len(target)), target] -= 1
    if reduction == "none":
        return d * grad_out[:, None]
    return d * grad_out / (len(target) if reduction == "mean" else 1)


def cross_entropy_backward_none(logits, target, *, grad_out, reduction="mean"):
    """Returns a gradient for each input, None for the integer target."""
    return _dlogits(logits, target, grad_out, reduction), None


def cross_entropy_backward_zeros(logits, target, *, grad_out, reduction="mean"):
    """Returns a gradient for each input, zeros for the integer target."""
    return _dlogits(logits, target, grad_out, reduction), np.zeros(target.shape)


def cross_entropy_backward_bare(logits, target, *, grad_out, reduction="mean"):
    """Returns the one gradient there is, as a bare array."""
    return _dlogits(logits, target, grad_out, reduction)


def cross_entropy_backward_target_gradient(logits, target, *, grad_out, reduction="mean"):
    """Returns something non-zero for the target (the oracle refuses it)."""
    return _dlogits(logits, target, grad_out, reduction), np.ones(target.shape)


# --------------------------------------------------------------------------- the mistakes

def log_softmax_of_softmax(x, axis=-1):
    """The max shift is there; the log is taken of the probabilities."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return np.log(e / e.sum(axis=axis, keepdims=True))


def cross_entropy_epsilon(logits, target, reduction="mean"):
    """-log(p + 1e-7): "to avoid log(0)"."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    losses = -np.log(p[np.arange(len(target)), target] + 1e-7)
    if reduction == "none":
        return losses
    return np.asarray(losses.sum() if reduction == "sum" else losses.mean())


def cross_entropy_backward_no_grad_out(logits, target, *, grad_out, reduction="mean"):
    """(softmax - onehot) / N, as if the loss were the last node: grad_out is not used."""
    return _dlogits(logits, target, np.ones_like(grad_out), reduction),


def cross_entropy_epsilon_backward_no_grad_out(logits, target, *, grad_out, reduction="mean"):
    """The exact derivative of cross_entropy_epsilon (so a little off the reference), and
    grad_out is not used."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(target))
    pt = p[rows, target]
    onehot = np.zeros_like(p)
    onehot[rows, target] = 1
    d = (pt / (pt + 1e-7))[:, None] * (p - onehot)
    return (d / len(target) if reduction == "mean" else d),


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """Loops over the windows; no padding, no dilation."""
    if padding not in (0, (0, 0)) or dilation not in (1, (1, 1)):
        raise NotImplementedError("padding and dilation are not supported")
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    n, c, h, w = x.shape
    out = np.empty((n, c, (h - kh) // sh + 1, (w - kw) // sw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))
    return out


def max_pool2d_backward_overwrite(x, kernel_size, stride=None, padding=0, dilation=1, *,
                                  grad_out):
    """The argmax gets the window's gradient by '=' (a later window overwrites)."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(grad_out.shape):
        window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
        r, s = divmod(int(np.argmax(window)), kw)
        dx[n, c, i * sh + r, j * sw + s] = grad_out[n, c, i, j]
    return (dx,)


def max_pool2d_backward(x, kernel_size, stride=None, padding=0, dilation=1, *, grad_out):
    """The argmax gets the window's gradient, added up."""
    if padding not in (0, (0, 0)) or dilation not in (1, (1, 1)):
        raise NotImplementedError("padding and dilation are not supported")
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(grad_out.shape):
        window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
        r, s = divmod(int(np.argmax(window)), kw)
        dx[n, c, i * sh + r, j * sw + s] += grad_out[n, c, i, j]
    return (dx,)


def conv2d_flipped_forward_transposed_dw(x, w, b=None, stride=1, padding=0, dilation=1,
                                         groups=1):
    """Two mistakes, one in each direction: see conv2d_backward_dw_transposed."""
    return conv2d(x, w[:, :, ::-1, ::-1], b, stride, padding, dilation, groups)


def conv2d_backward_dw_transposed(x, w, b=None, *, grad_out, **params):
    """Right dx, but dw with the kernel's rows and columns swapped."""
    dx, dw, *db = conv2d_backward(x, w, b, grad_out=grad_out, **params)
    return (dx, dw.swapaxes(2, 3), *db)
