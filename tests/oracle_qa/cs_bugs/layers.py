"""A student with several classic mistakes (each function a different one)."""
import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    # bug: db sums over the wrong axis
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=1)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    # bug: passes the gradient where x is negative too (uses out instead of mask)
    x = cache
    dx = dout.copy()
    dx[x < -1] = 0
    return dx


def softmax_loss(x, y):
    # bug: dx is not divided by N
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx


def conv_forward_naive(x, w, b, conv_param):
    # bug: the window moves by one pixel, whatever the stride (output size is right)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0,), (0,), (pad,), (pad,)), 'constant')
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, f, i, j] = np.sum(x_pad[n, :, i:i+HH, j:j+WW] * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    # bug: dx keeps the padding (not cropped)
    x, w, b, conv_param = cache
    F, _, HH, WW = w.shape
    pad = conv_param['pad']
    N, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0,), (0,), (pad,), (pad,)), 'constant')
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    dw[f] += x_pad[n, :, i:i+HH, j:j+WW] * dout[n, f, i, j]
                    dx_pad[n, :, i:i+HH, j:j+WW] += w[f] * dout[n, f, i, j]
    return dx_pad, dw, db


def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    H_out, W_out = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i*s:i*s+ph, j*s:j*s+pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    # bug: unravel with pool_height for both axes (wrong for non-square windows)
    x, pool_param = cache
    N, C, H, W = x.shape
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i*s:i*s+ph, j*s:j*s+pw]
                    k = np.argmax(window)
                    dx[n, c, i*s + k // ph, j*s + k % ph] += dout[n, c, i, j]
    return dx


def max_pool_forward_steps_by_one(x, pool_param):
    # bug: the window starts at (i, j) instead of (i*stride, j*stride)
    N, C, H, W = x.shape
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    H_out, W_out = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i:i+ph, j:j+pw].max(axis=(2, 3))
    return out, (x, pool_param)
