"""Tests of spec.shapes: the output-size formula, its derivation and the documents' sizes."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from conftest import optional
from hypothesis import given, settings
from hypothesis import strategies as st

import spec
import spec.shapes as shapes


def test_output_size_ints() -> None:
    assert spec.output_size(7, 3) == 5
    assert spec.output_size(6, 3, stride=2) == 2
    assert spec.output_size(32, 5) == 28
    assert spec.output_size(19, 5, padding=2) == 19
    assert spec.output_size(10, 3, stride=2, padding=1, dilation=2) == 4  # 12 cells, span 5
    assert isinstance(spec.output_size(5, 3), int)
    assert spec.output_size(np.int64(6), np.int32(3), stride=np.int64(2)) == 2
    assert type(spec.output_size(np.int64(6), 3)) is int


def test_output_size_rejects_non_ints() -> None:
    with pytest.raises(TypeError, match="kernel"):
        spec.output_size(5, 3.0)
    with pytest.raises(TypeError, match="stride"):
        spec.output_size(5, 3, stride=True)


def test_output_size_symbolic_is_the_floor_expression() -> None:
    n, k, s, p, d = sp.symbols("n k s p d", integer=True, positive=True)
    expr = spec.output_size(n, k, s, p, d)
    assert sp.simplify(expr - (sp.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1)) == 0
    m = sp.Symbol("m", integer=True, positive=True)
    assert sp.simplify(spec.output_size(m, 3) - (m - 2)) == 0


def test_count_positions_matches_enumeration() -> None:
    for n in range(1, 10):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(3):
                    for d in range(1, 3):
                        starts = [i for i in range(0, n + 2 * p, s)
                                  if i + d * (k - 1) <= n + 2 * p - 1]
                        assert shapes.count_positions(n, k, s, p, d) == len(starts)


def test_output_size_by_counting_item() -> None:
    it = shapes.output_size_by_counting()
    assert it.passed
    n, k, s, d = sp.symbols("n k s d", integer=True, positive=True)
    p = sp.Symbol("p", integer=True, nonnegative=True)
    assert sp.simplify(it.result - (sp.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1)) == 0
    assert it.details["mismatches"] == []
    assert it.details["grid_points"] > 1000


def test_engine_shape_items_pass() -> None:
    conv = shapes.conv_output_size_engine()
    assert conv.passed and conv.details["cases"] > 100
    pool = shapes.pool_output_size_engine()
    assert pool.passed and pool.details["cases"] > 50
    assert pool.result == sp.Symbol("m", integer=True, positive=True)  # k·m cells: m windows
    assert "simplifies it to $m$" in pool.derivation


def test_engine_shape_item_catches_a_wrong_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shapes.output_size
    monkeypatch.setattr(shapes, "output_size",
                        lambda n, k, s=1, p=0, d=1: real(n, k, s, p, d) + (s == 2))
    assert not shapes.conv_output_size_engine().passed


def test_same_padding_item() -> None:
    it = shapes.same_padding()
    assert it.passed
    k, d = sp.symbols("k d", integer=True, positive=True)
    assert sp.simplify(it.result - d * (k - 1)) == 0
    rows = {(r["k"], r["d"]): r for r in it.details["rows"]}
    assert (rows[(4, 1)]["left"], rows[(4, 1)]["right"]) == (1, 2)  # odd total: extra after
    assert rows[(6, 3)]["engine_left"] == (7, 7)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_split_matches_torch() -> None:
    torch = optional("torch", "the cross-check of PyTorch's 'same' split")
    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    rng = np.random.default_rng(0)
    for k in (2, 3, 4):
        x = rng.standard_normal((1, 1, 6, 7))
        w = rng.standard_normal((1, 1, k, k))
        ours = F.conv2d(Tensor(x), Tensor(w), padding="same").numpy()
        theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                            padding="same").numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_document_sizes() -> None:
    it = shapes.document_sizes()
    assert it.passed
    printed = {r["case"]: (r["printed"], r["quote"]) for r in it.details["rows"]}
    assert printed["7x7 input, 3x3 filter, stride 2"][0] == (3, 3)  # seed 001's 'Strides'
    assert printed["6x6 image, 3x3 filter, stride 1"][0] == (4, 4)
    assert printed["7x7 image, 3x3 feature detector"][0] == (5, 5)  # rows of the printed map
    assert printed["32x32x3 image, six 5x5x3 filters"][0] == (28, 28, 6)
    assert printed["6x6x3 volume, one 3x3x3 filter"][0] == (4, 4, 1)
    derived = {r["case"]: r["derived"] for r in it.details["derived rows"]}
    assert derived == {"5x5 input, 3x3 filter": (3, 3, 1),
                       "6x6 image, 3x3 filter, stride 2": (2, 2, 1),
                       "32x32x3 image, one 5x5x3 filter": (28, 28, 1),
                       "6x6x3 volume, two 3x3x3 filters": (4, 4, 2)}
    assert it.engine == it.result and it.errata == []


def test_document_sizes_a_misprint_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from spec.core import Printed
    from spec.report import run_item

    cases = list(shapes._DOCUMENT_SIZES)
    desc, seed, inp, filters, k, s, shown = cases[1]
    cases[1] = (desc, seed, inp, filters, k, s, Printed((4, 4), shown.document, shown.quote))
    monkeypatch.setattr(shapes, "_DOCUMENT_SIZES", tuple(cases))
    it = run_item("shapes", shapes.document_sizes)
    assert not it.passed and [(e.printed, e.correct) for e in it.errata] == [((4, 4), (3, 3))]


def test_volume_formula() -> None:
    it = shapes.volume_formula()
    assert it.passed
    n, f = sp.symbols("n f", integer=True, positive=True)
    assert sp.simplify(it.result[0] - (n - f + 1)) == 0
    # rendered with parentheses: (n − f + 1) × (n − f + 1) × n_f, not −f+n+1 × −f+n+1 × n_f
    assert it.details["volume (latex)"] == r"(- f + n + 1) \times (- f + n + 1) \times n_{f}"
    assert r"$(- f + n + 1) \times (- f + n + 1) \times n_{f}$" in it.derivation


def test_keras_chain() -> None:
    it = shapes.keras_chain()
    assert it.passed
    assert it.result == {"sizes": [28, 26, 13, 11, 5], "flatten": 1250, "filters_2": 50}
    assert it.details["printed"] == {"input": (28, 28, 1), "conv1 filters": (25, 3, 3),
                                     "conv1 maps": (25, 26, 26), "flatten": 1250}
    assert it.engine["shapes"][-1] == (1, 50, 5, 5)
    assert it.engine["flatten"] == (1, 1250)


def test_alphago_padding() -> None:
    it = shapes.alphago_padding()
    assert it.passed
    assert it.result == {5: 2, 3: 1}
    assert it.details["padded"] == {5: 23, 3: 21}
    assert all(s[2:] == (19, 19) for s in it.engine)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5), p=st.integers(0, 3),
       d=st.integers(1, 4))
def test_formula_counts_positions_and_matches_conv1d(n: int, k: int, s: int, p: int,
                                                     d: int) -> None:
    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    formula = spec.output_size(n, k, s, p, d)
    assert shapes.count_positions(n, k, s, p, d) == max(0, formula)
    if formula >= 1:
        y = F.conv1d(Tensor(np.zeros((1, 1, n))), Tensor(np.zeros((1, 1, k))), stride=s,
                     padding=p, dilation=d)
        assert y.shape == (1, 1, formula)
