"""spec.adjoint: conv_transpose2d is exactly the adjoint of conv2d, and conv2d's input
gradient is a transposed convolution; on Fractions and SymPy symbols, no tolerance."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spec.adjoint as adjoint
import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor


def test_conv_transpose_is_the_adjoint_item_passes():
    it = adjoint.conv_transpose_is_the_adjoint()
    assert it.passed, it.details["failures"]
    assert it.engine == 0 and len(it.details["cases"]) == len(adjoint.CASES)
    assert any(max(case["output_padding"]) > 0 for case in it.details["cases"])
    assert all(case["<conv x, y>"] == case["<x, convT y>"] for case in it.details["cases"])


def test_conv_input_gradient_item_passes():
    it = adjoint.conv_input_gradient_is_a_transposed_conv()
    assert it.passed, it.details["failures"]
    assert it.engine == f"{len(adjoint.CASES)} of {len(adjoint.CASES)} settings equal"


def _unflipped(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """A classic mistake: the kernel not turned by 180°."""
    flipped = np.flip(w.numpy(), axis=(2, 3)).copy()
    return F.conv_transpose2d(x, Tensor(flipped), b, stride, padding, output_padding, groups,
                              dilation)


def _no_output_padding(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1):
    """Another: output_padding ignored (the output is then one row / column short)."""
    return F.conv_transpose2d(x, w, b, stride, padding, 0, groups, dilation)


@pytest.mark.parametrize("broken", [_unflipped, _no_output_padding])
def test_the_items_fail_for_a_wrong_transposed_convolution(monkeypatch, broken):
    real = F.conv_transpose2d
    monkeypatch.setattr(F, "conv_transpose2d",
                        lambda *a, **k: broken(*a, **k) if k else real(*a, **k))
    for make in (adjoint.conv_transpose_is_the_adjoint,
                 adjoint.conv_input_gradient_is_a_transposed_conv):
        it = make()
        assert not it.passed and it.details["failures"]


def test_output_padding_restores_the_input_size():
    for n in range(1, 12):
        for k in range(1, 4):
            for s in range(1, 4):
                for p in range(0, 3):
                    for d in range(1, 3):
                        out = (n + 2 * p - d * (k - 1) - 1) // s + 1
                        if out < 1:
                            continue
                        op = adjoint.output_padding_for(n, k, s, p, d)
                        assert 0 <= op < s
                        assert (out - 1) * s - 2 * p + d * (k - 1) + op + 1 == n


def _fractions(shape, rng):
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(rng.integers(-5, 6)), int(rng.integers(1, 4)))
    return out


@settings(max_examples=2 * settings.default.max_examples // 3)
@given(groups=st.integers(1, 2), cg=st.integers(1, 2), og=st.integers(1, 2),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       extra=st.tuples(st.integers(0, 3), st.integers(0, 3)), seed=st.integers(0, 2**16))
def test_adjoint_identity_on_drawn_settings(groups, cg, og, kernel, stride, dilation,
                                            padding, extra, seed):
    hw = tuple(max(1, d * (k - 1) + 1 - 2 * p) + e for k, d, p, e in
               zip(kernel, dilation, padding, extra, strict=True))
    rng = np.random.default_rng(seed)
    x = _fractions((1, groups * cg, *hw), rng)
    w = _fractions((groups * og, cg, *kernel), rng)
    y_shape = F.conv2d(Tensor(x), Tensor(w), None, stride, padding, dilation, groups).shape
    y = _fractions(y_shape, rng)
    op = tuple(adjoint.output_padding_for(n, k, s, p, d) for n, k, s, p, d in
               zip(hw, kernel, stride, padding, dilation, strict=True))
    forward = F.conv2d(Tensor(x), Tensor(w), None, stride, padding, dilation, groups).numpy()
    back = F.conv_transpose2d(Tensor(y), Tensor(w), None, stride, padding, op, groups,
                              dilation).numpy()
    assert back.shape == x.shape
    assert (forward * y).sum() == (x * back).sum()
