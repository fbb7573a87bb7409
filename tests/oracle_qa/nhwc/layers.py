"""numpy-ml-like convolution, NHWC input, HWIO weights (fr, fc, in_ch, out_ch)."""
import numpy as np


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _im2col(X, fr, fc, s, p, d):
    n_ex, in_rows, in_cols, in_ch = X.shape
    (sr, sc), (pr, pc), (dr, dc) = _pair(s), _pair(p), _pair(d)
    Xp = np.pad(X, ((0, 0), (pr, pr), (pc, pc), (0, 0)))
    _fr, _fc = fr + (fr - 1) * (dr - 1), fc + (fc - 1) * (dc - 1)
    out_rows = (in_rows + 2 * pr - _fr) // sr + 1
    out_cols = (in_cols + 2 * pc - _fc) // sc + 1
    cols = np.empty((n_ex, out_rows, out_cols, fr, fc, in_ch))
    for i in range(fr):
        for j in range(fc):
            cols[:, :, :, i, j, :] = Xp[:, i * dr:i * dr + sr * out_rows:sr,
                                        j * dc:j * dc + sc * out_cols:sc, :]
    return cols.reshape(n_ex * out_rows * out_cols, fr * fc * in_ch), (out_rows, out_cols)


def conv2D(X, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise NotImplementedError("groups")
    fr, fc, in_ch, out_ch = W.shape
    X_col, (out_rows, out_cols) = _im2col(X, fr, fc, stride, padding, dilation)
    Z = X_col @ W.reshape(-1, out_ch)
    if b is not None:
        Z = Z + b
    return Z.reshape(X.shape[0], out_rows, out_cols, out_ch)


def conv2D_backward(X, W, b=None, *, grad_out, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise NotImplementedError("groups")
    fr, fc, in_ch, out_ch = W.shape
    n_ex, in_rows, in_cols, _ = X.shape
    (sr, sc), (pr, pc), (dr, dc) = _pair(stride), _pair(padding), _pair(dilation)
    X_col, (out_rows, out_cols) = _im2col(X, fr, fc, stride, padding, dilation)
    dZ = grad_out.reshape(-1, out_ch)
    dW = (X_col.T @ dZ).reshape(W.shape)
    dcols = (dZ @ W.reshape(-1, out_ch).T).reshape(n_ex, out_rows, out_cols, fr, fc, in_ch)
    dXp = np.zeros((n_ex, in_rows + 2 * pr, in_cols + 2 * pc, in_ch))
    for i in range(fr):
        for j in range(fc):
            dXp[:, i * dr:i * dr + sr * out_rows:sr, j * dc:j * dc + sc * out_cols:sc, :] += \
                dcols[:, :, :, i, j, :]
    dX = dXp[:, pr:pr + in_rows, pc:pc + in_cols, :]
    if b is None:
        return dX, dW
    return dX, dW, dZ.sum(axis=0)


def conv2D_wrong_weights(X, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """bug: treats the weights as (out_ch, in_ch, fr, fc) (PyTorch order) but reshapes as HWIO."""
    fr, fc, in_ch, out_ch = W.shape
    X_col, (out_rows, out_cols) = _im2col(X, fr, fc, stride, padding, dilation)
    Wm = W.transpose(3, 2, 0, 1).reshape(out_ch, -1).T   # (C, fr, fc) order, X_col is (fr, fc, C)
    Z = X_col @ Wm
    if b is not None:
        Z = Z + b
    return Z.reshape(X.shape[0], out_rows, out_cols, out_ch)
