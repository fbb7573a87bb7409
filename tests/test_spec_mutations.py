"""Planted bugs: each one, alone, must make ``verify`` fail and name the right item.

Each case plants one bug by monkeypatching (the engine or the spec), runs verify in-process
on the few items it should break (plus, as a control, on them without the bug), and asserts
the exit code is 1 and the report marks the expected item FAILED. A verify that passes with
the bug planted is a verify that could not have caught it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import sympy

import spec.errata as errata
import spec.parameters as params
import spec.report as R
import spec.shapes as shapes
import tinygrad_cnn.nn.functional as F
from spec.core import Printed
from tinygrad_cnn import Tensor
from tinygrad_cnn import primitives as P


def verify(only: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = R.main(argparse.Namespace(json=False, only=only, list=False, quiet=True), out=out)
    return code, out.getvalue()


# ---------------------------------------------------------------------------- the bugs


def ceil_output_size(mp: pytest.MonkeyPatch) -> None:
    """The spec's output size with ceil instead of floor."""
    def output_size(n, kernel, stride=1, padding=0, dilation=1):
        span = n + 2 * padding - dilation * (kernel - 1) - 1
        if any(type(v).__module__.startswith("sympy")
               for v in (n, kernel, stride, padding, dilation)):
            return sympy.ceiling(span / stride) + 1
        return -(-span // stride) + 1

    mp.setattr(shapes, "output_size", output_size)


def ceil_engine_output_size(mp: pytest.MonkeyPatch) -> None:
    """The engine's output size (the one its shape checks use) with ceil instead of floor."""
    mp.setattr(F, "output_size", lambda n, k, s=1, p=0, d=1: -(-(n + p - d * (k - 1) - 1) // s)
               + 1)


def same_padding_split_wrong(mp: pytest.MonkeyPatch) -> None:
    """'same' padding with the odd extra zero before instead of after."""
    real = F._padding

    def padding(padding, kernel, stride, dilation, fn):
        pads = real(padding, kernel, stride, dilation, fn)
        return tuple((hi, lo) for lo, hi in pads) if padding == "same" else pads

    mp.setattr(F, "_padding", padding)


def tanh_prime_one_minus_tanh(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(P.Tanh, "vjp", lambda self, g, out, a: (g * (1 - out),))


def conv_is_true_convolution(mp: pytest.MonkeyPatch) -> None:
    """conv2d flips its kernel (a true convolution instead of a cross-correlation)."""
    real = F.conv2d

    def conv2d(x, w, *args, **kwargs):
        w = w if isinstance(w, Tensor) else Tensor(np.asarray(w))
        flipped = Tensor(np.ascontiguousarray(w.numpy()[:, :, ::-1, ::-1]))
        return real(x, flipped, *args, **kwargs)

    mp.setattr(F, "conv2d", conv2d)


def parameters_without_bias(mp: pytest.MonkeyPatch) -> None:
    real = params.convolutional_shapes
    mp.setattr(params, "convolutional_shapes",
               lambda filters, f, channels=1, bias=True: real(filters, f, channels, False))


def max_pool_ties_to_last(mp: pytest.MonkeyPatch) -> None:
    """Max over an axis remembers the last maximal element (the gradient follows it)."""
    def forward(self, a):
        idx = a.shape[self.axis] - 1 - np.argmax(np.flip(a, axis=self.axis), axis=self.axis,
                                                 keepdims=True)
        self._index = idx
        out = np.take_along_axis(a, idx, axis=self.axis)
        return out if self.keepdims else np.squeeze(out, axis=self.axis)

    mp.setattr(P.Max, "forward", forward)


def relu_prime_at_zero_is_one(mp: pytest.MonkeyPatch) -> None:
    """relu as maximum(x, 0): the tie at 0 goes to x, so relu'(0) = 1."""
    mp.setattr(Tensor, "relu", lambda self: self._binary(P.MAXIMUM_FIRST, 0))


def log_softmax_without_max_shift(mp: pytest.MonkeyPatch) -> None:
    """No max shift in the value (the gradient would be the same: the shift is a constant)."""
    mp.setattr(F, "_shifted", lambda x, axis, fn="softmax": x)


def avg_pool_divides_by_k(mp: pytest.MonkeyPatch) -> None:
    """Average pooling divides by k instead of k² (for square windows)."""
    real = F._reciprocal
    mp.setattr(F, "_reciprocal", lambda count, like: real(math.isqrt(count), like))


def seed000_wrong_number_of_filters(mp: pytest.MonkeyPatch) -> None:
    """Seed 000's fourth count evaluated with 10 filters instead of the printed 100."""
    mp.setattr(params, "SEED000_FILTERS", Printed(10, "seed 000", "100 Filters"))


def softmax_without_normalisation(mp: pytest.MonkeyPatch) -> None:
    """softmax returns exp(x - max) without dividing by the sum (the value only)."""
    mp.setattr(F, "softmax", lambda x, axis=-1: F._shifted(F._as_tensor(x, "input", "softmax"),
                                                         axis).exp())


def cross_entropy_gradient_sign(mp: pytest.MonkeyPatch) -> None:
    """The cross-entropy value is right, its gradient has the wrong sign (y - p)."""
    real = F.cross_entropy

    def cross_entropy(logits, target, reduction="mean"):
        loss = real(logits, target, reduction)
        return Tensor(2 * loss.numpy()) - loss  # value 2v - v = v, gradient -1 times

    mp.setattr(F, "cross_entropy", cross_entropy)


def conv_padding_off_by_one(mp: pytest.MonkeyPatch) -> None:
    """An explicit padding p pads p before and p + 1 after (the engine only)."""
    real = F._padding

    def padding(padding, kernel, stride, dilation, fn):
        pads = real(padding, kernel, stride, dilation, fn)
        return tuple((lo, hi + 1) if lo or hi else (lo, hi) for lo, hi in pads)

    mp.setattr(F, "_padding", padding)


def lenet_table_row_dropped(mp: pytest.MonkeyPatch) -> None:
    """LeNet's C3 connection table with its last C3 map's connections lost."""
    real = params.lenet_c3_mask

    def mask():
        m = real().copy()
        m[-1] = 0
        return m

    mp.setattr(params, "lenet_c3_mask", mask)


#: (bug, the item that must fail, a few other items that the run includes)
CASES: list[tuple[Callable[[pytest.MonkeyPatch], None], str, list[str]]] = [
    (ceil_output_size, "shapes/output_size_by_counting", []),
    (ceil_engine_output_size, "shapes/conv_output_size_engine", []),
    (same_padding_split_wrong, "shapes/same_padding", []),
    (tanh_prime_one_minus_tanh, "rules/tanh_derivative", []),
    (conv_is_true_convolution, "convolution/cnn_layer_is_cross_correlation", []),
    (conv_is_true_convolution, "documents/seed003_asymmetric_cross_correlation", []),
    (parameters_without_bias, "parameters/conv_layer_formula", []),
    (max_pool_ties_to_last, "gradients/pooling_backward", []),
    (relu_prime_at_zero_is_one, "rules/relu", []),
    (log_softmax_without_max_shift, "rules/log_softmax_value", []),
    (avg_pool_divides_by_k, "rules/pooling_forward", []),
    (seed000_wrong_number_of_filters, "parameters/seed000_progression", []),
    (softmax_without_normalisation, "rules/softmax_values", []),
    (cross_entropy_gradient_sign, "gradients/softmax_cross_entropy", []),
    (conv_padding_off_by_one, "shapes/conv_output_size_engine", []),
    (conv_padding_off_by_one, "gradients/conv_backward", []),
    (lenet_table_row_dropped, "parameters/lenet5", []),
]


@pytest.mark.parametrize("bug, expected, others", CASES,
                         ids=[f"{c[0].__name__}-{c[1].split('/')[1]}" for c in CASES])
def test_verify_fails_on_the_planted_bug(bug, expected, others, monkeypatch):
    only = [expected, *others]
    code, text = verify(only)  # the control: without the bug these items pass
    assert code == 0, text
    bug(monkeypatch)
    with np.errstate(all="ignore"):  # a planted bug may overflow (log_softmax without shift)
        code, text = verify(only)
    assert code == 1, text
    assert f"[FAIL] {expected}" in text, text


def test_wrong_filters_is_a_failure_not_an_erratum(monkeypatch):
    seed000_wrong_number_of_filters(monkeypatch)
    code, text = verify(["parameters/seed000_progression"])
    assert code == 1
    assert "NOT A KNOWN ERRATUM" in text and "printed 10000, correct 1000" in text
    assert "1 printed values disagree, not listed" in text.splitlines()[-1]


def test_tanh_bug_also_fails_the_derivative_table(monkeypatch):
    tanh_prime_one_minus_tanh(monkeypatch)
    code, text = verify(["gradients/derivative_table"])
    assert code == 1 and "[FAIL] gradients/derivative_table" in text


def test_the_planted_relu_bug_really_changes_relu_prime_at_zero(monkeypatch):
    """The plant itself: with it, the gradient of relu at 0 is 1 (so the test means it)."""
    relu_prime_at_zero_is_one(monkeypatch)
    x = Tensor(np.array([Fraction(0)], dtype=object), requires_grad=True)
    x.relu().backward(np.array([Fraction(1)], dtype=object))
    assert x.grad.numpy().tolist() == [1]


# ------------------------------------------------- an erratum listed to silence a spec bug


def _list_erratum(mp: pytest.MonkeyPatch, **fields) -> None:
    """Add one entry to the known errata (as an edit of spec/errata.py would)."""
    entry = dict(item="parameters/seed000_progression",
                 document="seed 000", location="convolutional, 100 filters",
                 printed=10000, correct=1000,
                 reason="looks like a typo", seed="seed 000", quote="10,000 parameters",
                 by_hand=lambda: 100 * 10 * 10)  # an honest hand count gives the printed value
    entry.update(fields)
    mp.setattr(errata, "KNOWN_ERRATA", (*errata.KNOWN_ERRATA, errata.KnownErratum(**entry)))


def test_a_spec_bug_listed_as_an_erratum_still_fails(monkeypatch):
    """The bug of seed000_wrong_number_of_filters, 'explained' by a new erratum: the entry's
    hand computation gives the printed 10,000 back, so the item fails (not confirmed)."""
    seed000_wrong_number_of_filters(monkeypatch)
    _list_erratum(monkeypatch)
    code, text = verify(["parameters/seed000_progression"])
    assert code == 1, text
    assert "[FAIL] parameters/seed000_progression" in text
    flat = " ".join(text.split())  # the report wraps its lines
    assert "the hand computation gives 10000" in flat and "the document is right" in flat


@pytest.mark.parametrize("fields, words", [
    ({"quote": "10.000 parameters"}, "is not in seed 000"),
    ({"quote": "Learn multiple filters"}, "cannot be read in the quote"),
    ({"seed": "LeCun et al. 1998"}, "is not a seed"),
    ({"by_hand": lambda: 999}, "not the listed correct value 1000"),
    ({"by_hand": lambda: 1 / 0}, "the hand computation raised"),
], ids=["quote-not-in-seed", "printed-not-in-quote", "paper", "hand-disagrees", "hand-raises"])
def test_an_erratum_without_its_evidence_is_not_confirmed(monkeypatch, fields, words):
    seed000_wrong_number_of_filters(monkeypatch)
    _list_erratum(monkeypatch, **fields)
    code, text = verify(["parameters/seed000_progression"])
    assert code == 1 and "[FAIL] parameters/seed000_progression" in text, text
    assert words in " ".join(text.split()), text


# ------------------------------------------------------------ an item quietly taken away

#: every item verify had when the review pinned it: deleting one (or renaming it) must be a
#: visible change of this list, not a verify that still says "all passed" with less checked
PINNED_ITEMS = {
    "convolution": ["box_with_box_is_a_triangle", "gaussians_variances_add",
                    "one_sided_exponentials", "commutativity", "shift_property",
                    "discrete_sum_from_the_integral", "cnn_layer_is_cross_correlation",
                    "gaussian_linear_filter", "conv_transpose_is_the_adjoint",
                    "conv_input_gradient_is_a_transposed_conv"],
    "shapes": ["output_size_by_counting", "conv_output_size_engine", "pool_output_size_engine",
               "same_padding", "document_sizes", "volume_formula", "keras_chain",
               "alphago_padding", "ceil_mode_output_size"],
    "parameters": ["layer_types", "seed000_progression", "conv_layer_formula",
                   "fully_connected_neuron", "keras_filters", "lenet5"],
    "networks": ["alexnet_torchvision", "alexnet_two_tower", "vgg16"],
    "rules": ["relu", "tanh_derivative", "softmax_values", "log_softmax_value",
              "cross_entropy_value", "pooling_forward"],
    "gradients": ["derivative_table", "softmax_cross_entropy", "conv_backward",
                  "pooling_backward"],
    "documents": ["seed001_5x5_input_3x3_filter", "seed003_6x6_image_two_filters",
                  "seed003_asymmetric_cross_correlation", "seed004_7x7_image_feature_detector",
                  "printed_values_are_quotes"],
    "claims": ["translation_equivariance", "max_pool_shift_invariance", "pooling_is_nonlinear",
               "linear_filter_is_linear", "conv_is_sparse_shared_fully_connected",
               "beak_detector", "speech_filters_move_along_frequency", "images_as_arrays",
               "alphago_board_no_max_pooling", "deep_conv_net_reconstructed",
               "wu_kronecker_chain"],
    "winograd": ["winograd_f2x2_3x3", "winograd_f4x4_3x3"],
}


def test_no_item_is_quietly_taken_away():
    out = io.StringIO()
    assert R.main(argparse.Namespace(json=True, only=None, list=True, quiet=False),
                  out=out) == 0
    listed = {(e["topic"], e["name"]) for e in json.loads(out.getvalue())}
    pinned = {(topic, name) for topic, names in PINNED_ITEMS.items() for name in names}
    assert pinned - listed == set(), "items removed or renamed: update PINNED_ITEMS on purpose"
