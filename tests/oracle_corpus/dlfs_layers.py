"""Layer objects in the convention of "Deep Learning from Scratch": ``Convolution(W, b,
stride, pad)``, ``Pooling(pool_h, pool_w, stride, pad)``, ``Affine(W, b)``, ``Relu()``,
``SoftmaxWithLoss()``, each with ``forward`` and ``backward`` and the weight gradients in
``dW`` / ``db``; convolution and pooling by im2col / col2im."""

import numpy as np


def im2col(images, fh, fw, stride=1, pad=0, fill=0.0):
    """(N, C, H, W) -> (N * out_h * out_w, C * fh * fw): one row per window."""
    N, C, H, W = images.shape
    out_h = (H + 2 * pad - fh) // stride + 1
    out_w = (W + 2 * pad - fw) // stride + 1
    padded = np.pad(images, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=fill)
    col = np.zeros((N, C, fh, fw, out_h, out_w))
    for dy in range(fh):
        for dx in range(fw):
            col[:, :, dy, dx] = padded[:, :, dy:dy + stride * out_h:stride,
                                       dx:dx + stride * out_w:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, shape, fh, fw, stride=1, pad=0, accumulate=True):
    """The adjoint of im2col: every window's row is added back onto the image."""
    N, C, H, W = shape
    out_h = (H + 2 * pad - fh) // stride + 1
    out_w = (W + 2 * pad - fw) // stride + 1
    col = col.reshape(N, out_h, out_w, C, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for dy in range(fh):
        for dx in range(fw):
            target = (slice(None), slice(None), slice(dy, dy + stride * out_h, stride),
                      slice(dx, dx + stride * out_w, stride))
            if accumulate:
                img[target] += col[:, :, dy, dx]
            else:  # the bug: '=' keeps only the last kernel offset's contribution
                img[target] = col[:, :, dy, dx]
    return img[:, :, pad:H + pad, pad:W + pad]


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.dW = self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = (H + 2 * self.pad - FH) // self.stride + 1
        out_w = (W + 2 * self.pad - FW) // self.stride + 1
        self.x = x
        self.col = im2col(x, FH, FW, self.stride, self.pad)
        self.col_W = self.W.reshape(FN, -1).T
        out = self.col @ self.col_W + self.b
        return out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class ConvolutionOverwrite(Convolution):
    """col2im with '=': where windows overlap, the last kernel offset's gradient wins."""

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad, accumulate=False)


class Pooling:
    """Max pooling; padding with -inf (a padded element is never the maximum)."""

    fill = -np.inf
    accumulate = True

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        N, C, H, W = x.shape
        out_h = (H + 2 * self.pad - self.pool_h) // self.stride + 1
        out_w = (W + 2 * self.pad - self.pool_w) // self.stride + 1
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad, self.fill)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.reshape(-1)
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad,
                      self.accumulate)


class PoolingZeroPad(Pooling):
    """The book's padding: np.pad's zeros, which win over negative values."""

    fill = 0.0


class PoolingOverwrite(Pooling):
    """col2im with '=' (overlapping windows overwrite each other's gradient)."""

    accumulate = False


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.dW = self.db = None

    def forward(self, x):
        self.original_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = np.sum(dout, axis=0)
        return (dout @ self.W.T).reshape(self.original_shape)


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class SoftmaxWithLoss:
    """Mean cross-entropy of softmax(x) against labels t, by log-sum-exp."""

    def forward(self, x, t):
        self.t = t
        shifted = x - x.max(axis=1, keepdims=True)
        log_y = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.y = np.exp(log_y)
        return -log_y[np.arange(len(t)), t].mean()

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx * dout / batch_size


class SoftmaxWithLossDelta(SoftmaxWithLoss):
    """The book's cross_entropy_error: -log(y + 1e-7) "so that log(0) never happens"."""

    def forward(self, x, t):
        super().forward(x, t)
        delta = 1e-7
        return -np.sum(np.log(self.y[np.arange(len(t)), t] + delta)) / len(t)


class ConvolutionGrads(Convolution):
    """The same layer storing its gradients as grad_W / grad_b (check(grads=...))."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grad_W, self.grad_b = self.dW, self.db
        del self.dW, self.db
        return dx
