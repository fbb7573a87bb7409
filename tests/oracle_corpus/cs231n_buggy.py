"""CS231n-style layers with the classic mistakes, one per function (the rest is right)."""

import numpy as np

from .cs231n_naive import conv_backward_naive, max_pool_forward_naive


def conv_forward_flipped(x, w, b, conv_param):
    """A "real" convolution: the kernel is rotated by 180 degrees (np.flip) first."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kernel = np.flip(w, axis=(2, 3))
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_flipped(dout, cache):
    """The backward that belongs to conv_forward_flipped (consistent with its forward)."""
    x, w, b, conv_param = cache
    dx, dw, db = conv_backward_naive(dout, (x, np.flip(w, axis=(2, 3)), b, conv_param))
    return dx, np.flip(dw, axis=(2, 3)), db


def conv_backward_assign(dout, cache):
    """The naive loops with '=' for dx: a later window (or filter) overwrites the region."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for n, f, i, j in np.ndindex(dout.shape):
        hs, ws = i * stride, j * stride
        dx_pad[n, :, hs:hs + HH, ws:ws + WW] = w[f] * dout[n, f, i, j]
        dw[f] += x_pad[n, :, hs:hs + HH, ws:ws + WW] * dout[n, f, i, j]
    dx = dx_pad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def max_pool_backward_mask_assign(dout, cache):
    """The mask idiom with '=': every tied maximum gets dout, and a window overwrites
    what an overlapping earlier window put there."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = x[n, c, hs:hs + ph, ws:ws + pw]
                    mask = window == np.max(window)
                    dx[n, c, hs:hs + ph, ws:ws + pw] = mask * dout[n, c, i, j]
    return dx


def max_pool_backward_mask_add(dout, cache):
    """The mask idiom with '+=': right where windows overlap, but every tied maximum gets
    the gradient."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            hs, ws = i * stride, j * stride
            window = x[:, :, hs:hs + ph, ws:ws + pw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, hs:hs + ph, ws:ws + pw] += mask * dout[:, :, i, j][:, :, None, None]
    return dx


max_pool_forward = max_pool_forward_naive


def relu_backward_ge(dout, cache):
    """relu'(0) taken as 1."""
    return dout * (cache >= 0)


def relu_forward(x):
    return np.maximum(0, x), x


def softmax_loss_epsilon(x, y):
    """Probabilities, then -log(p + 1e-7) "to avoid log(0)"."""
    probs = np.exp(x - np.max(x, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y] + 1e-7)) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def softmax_loss_log_probs(x, y):
    """Shifted by the max, but the log is taken of the probabilities."""
    probs = np.exp(x - np.max(x, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.mean(np.log(probs[np.arange(N), y]))
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def softmax_loss_unshifted(x, y):
    """exp of the raw scores (overflows for large scores)."""
    probs = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
