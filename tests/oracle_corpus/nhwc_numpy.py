"""Submissions in NHWC with HWIO weights (TensorFlow's and numpy-ml's layout), in the
arrays contract's keyword names: check(..., layout="NHWC")."""

import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow):
    """(N, Hp, Wp, C) -> (N, oh, ow, kh, kw, C): the window of every output position."""
    n, _, _, c = xp.shape
    cols = np.empty((n, oh, ow, kh, kw, c))
    for p in range(kh):
        for q in range(kw):
            cols[:, :, :, p, q, :] = xp[:, p * dh:p * dh + sh * (oh - 1) + 1:sh,
                                        q * dw:q * dw + sw * (ow - 1) + 1:sw, :]
    return cols


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """x (N, H, W, C), w (KH, KW, C, O) -> (N, OH, OW, O); any stride, padding and dilation,
    no groups."""
    if groups != 1:
        raise NotImplementedError("groups")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw, _, _ = w.shape
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    y = np.tensordot(_im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow), w, axes=3)
    return y if b is None else y + b


def conv2d_backward(x, w, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise NotImplementedError("groups")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw, _, _ = w.shape
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    _, oh, ow, _ = grad_out.shape
    cols = _im2col(xp, kh, kw, sh, sw, dh, dw, oh, ow)
    dW = np.tensordot(cols, grad_out, axes=([0, 1, 2], [0, 1, 2]))
    dcols = np.tensordot(grad_out, w, axes=([3], [3]))  # (N, oh, ow, kh, kw, C)
    dxp = np.zeros_like(xp)
    for p in range(kh):
        for q in range(kw):
            dxp[:, p * dh:p * dh + sh * (oh - 1) + 1:sh,
                q * dw:q * dw + sw * (ow - 1) + 1:sw, :] += dcols[:, :, :, p, q, :]
    dX = dxp[:, ph:ph + x.shape[1], pw:pw + x.shape[2], :]
    return (dX, dW) if b is None else (dX, dW, grad_out.sum(axis=(0, 1, 2)))


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """x (N, H, W, C); padding with -inf; no dilation."""
    if dilation not in (1, (1, 1)):
        raise NotImplementedError("dilation")
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    ph, pw = _pair(padding)
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=-np.inf)
    oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    return _im2col(xp, kh, kw, sh, sw, 1, 1, oh, ow).max(axis=(3, 4))


def _pool_grad(x, kernel_size, stride, padding, grad_out, every_max):
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride or kernel_size)
    ph, pw = _pair(padding)
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=-np.inf)
    n, oh, ow, c = grad_out.shape
    cols = _im2col(xp, kh, kw, sh, sw, 1, 1, oh, ow).reshape(n, oh, ow, kh * kw, c)
    if every_max:  # the mask idiom: every element equal to the maximum
        mask = cols == cols.max(axis=3, keepdims=True)
    else:  # argmax: the first maximum
        mask = np.zeros(cols.shape, dtype=bool)
        np.put_along_axis(mask, cols.argmax(axis=3)[:, :, :, None, :], True, axis=3)
    dcols = (mask * grad_out[:, :, :, None, :]).reshape(n, oh, ow, kh, kw, c)
    dxp = np.zeros_like(xp)
    for p in range(kh):
        for q in range(kw):
            dxp[:, p:p + sh * (oh - 1) + 1:sh, q:q + sw * (ow - 1) + 1:sw, :] += \
                dcols[:, :, :, p, q, :]
    return (dxp[:, ph:ph + x.shape[1], pw:pw + x.shape[2], :],)


def max_pool2d_backward(x, kernel_size, stride=None, padding=0, dilation=1, *, grad_out):
    if dilation not in (1, (1, 1)):
        raise NotImplementedError("dilation")
    return _pool_grad(x, kernel_size, stride, padding, grad_out, every_max=False)


def max_pool2d_backward_mask(x, kernel_size, stride=None, padding=0, dilation=1, *,
                             grad_out):
    """(window == max) * dout: every tied maximum gets the gradient."""
    if dilation not in (1, (1, 1)):
        raise NotImplementedError("dilation")
    return _pool_grad(x, kernel_size, stride, padding, grad_out, every_max=True)


def conv2d_true_convolution(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """The textbook convolution, as scipy.signal.convolve computes it: the kernel rotated by
    180 degrees (deep learning layers compute cross-correlation)."""
    return conv2d(x, w[::-1, ::-1], b, stride, padding, dilation, groups)


class Conv2D:
    """A layer object in NHWC / HWIO (numpy-ml's layout), in the "layer" style's
    convention: Conv2D(W, b, stride, pad), forward(X), backward(dLdY) -> dX, then dW, db."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, X):
        self.X = X
        return conv2d(X, self.W, self.b, self.stride, self.pad)

    def backward(self, dLdY):
        dX, self.dW, self.db = conv2d_backward(self.X, self.W, self.b, grad_out=dLdY,
                                               stride=self.stride, padding=self.pad)
        return dX
