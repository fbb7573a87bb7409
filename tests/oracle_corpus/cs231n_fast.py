"""CS231n-style fast layers: convolution by im2col and one matrix product, max pooling by
a reshape (which only works when the windows tile the input: it says so)."""

import numpy as np


def _im2col(x_pad, HH, WW, stride, H_out, W_out):
    """Rows: (c, p, q) kernel offsets; columns: (n, i, j) window positions."""
    N, C = x_pad.shape[:2]
    cols = np.empty((C, HH, WW, N, H_out, W_out))
    for p in range(HH):
        for q in range(WW):
            cols[:, p, q] = x_pad[:, :, p:p + stride * H_out:stride,
                                  q:q + stride * W_out:stride].transpose(1, 0, 2, 3)
    return cols.reshape(C * HH * WW, N * H_out * W_out)


def conv_forward_im2col(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = (H + 2 * pad - HH) // stride + 1
    W_out = (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    x_cols = _im2col(x_pad, HH, WW, stride, H_out, W_out)
    out = w.reshape(F, -1) @ x_cols + b[:, None]
    out = out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)
    cache = (x, w, b, conv_param, x_cols)
    return np.ascontiguousarray(out), cache


def conv_backward_im2col(dout, cache):
    x, w, b, conv_param, x_cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    db = dout.sum(axis=(0, 2, 3))
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(F, -1)
    dw = (dout_mat @ x_cols.T).reshape(w.shape)
    dx_cols = (w.reshape(F, -1).T @ dout_mat).reshape(C, HH, WW, N, H_out, W_out)
    dx_pad = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for p in range(HH):  # col2im: windows overlap, so add
        for q in range(WW):
            dx_pad[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride] += \
                dx_cols[:, p, q].transpose(1, 0, 2, 3)
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, db


def max_pool_forward_reshape(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    if not (ph == pw == stride and H % ph == 0 and W % pw == 0):
        raise NotImplementedError("the reshape trick needs square windows that tile the "
                                  "input (pool_height == pool_width == stride)")
    x_reshaped = x.reshape(N, C, H // ph, ph, W // pw, pw)
    out = x_reshaped.max(axis=3).max(axis=4)
    cache = (x, x_reshaped, pool_param)
    return out, cache


def max_pool_backward_reshape(dout, cache):
    x, x_reshaped, pool_param = cache
    N, C, Ho, ph, Wo, pw = x_reshaped.shape
    windows = x_reshaped.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, Ho, Wo, ph * pw)
    first = np.argmax(windows, axis=-1)  # the first maximum of each window
    dwin = np.zeros_like(windows)
    np.put_along_axis(dwin, first[..., None], dout[..., None], axis=-1)
    dx = dwin.reshape(N, C, Ho, Wo, ph, pw).transpose(0, 1, 2, 4, 3, 5)
    return dx.reshape(x.shape)
