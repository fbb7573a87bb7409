"""Realistic submissions for the oracle, written for this project in four conventions.

- :mod:`cs231n_naive`, :mod:`cs231n_fast`, :mod:`cs231n_buggy`: the CS231n assignment API
  (``conv_forward_naive(x, w, b, conv_param) -> (out, cache)``, ...), with naive loops,
  with im2col / reshape tricks, and with the classic mistakes;
- :mod:`dlfs_layers`: layer objects as in "Deep Learning from Scratch" (``Convolution(W,
  b, stride, pad)`` with ``forward`` / ``backward`` and ``dW`` / ``db``), im2col / col2im;
- :mod:`arrays_numpy`: the oracle's own arrays contract, NCHW;
- :mod:`nhwc_numpy`: the arrays contract in NHWC with HWIO weights (TensorFlow, numpy-ml).

Each correct one implements part of the parameters only (what its convention can say, or
``NotImplementedError`` for the rest); each buggy one has the mistake its name says.
"""
