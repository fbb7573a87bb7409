"""spec.claims: the documents' claims in words, each as a checked item."""

from __future__ import annotations

import numpy as np
import pytest

import spec.claims as C
import tinygrad_cnn.nn.functional as F
from spec.report import run_all
from tinygrad_cnn import Tensor


@pytest.fixture(scope="module")
def items():
    return {it.name: it for it in run_all(["claims"])}


def test_all_pass_and_quote_their_seed(items):
    assert len(items) >= 11
    for it in items.values():
        assert it.passed, it.name
        assert it.quotes, f"{it.name} quotes no document"


def test_deep_conv_net_is_reconstructed_never_printed(items):
    it = items["deep_conv_net_reconstructed"]
    assert it.result == {"volumes": [(3, 39, 39), (10, 37, 37), (20, 17, 17), (40, 7, 7)],
                         "flatten": 1960}
    assert it.statement.startswith("RECONSTRUCTED, not printed")
    assert it.details["label"] == "reconstructed"
    assert [q.quote for q in it.quotes] == ["E.g., A deep Conv Net"]  # only the title


def test_sparse_layer_and_pool_invariance_numbers(items):
    it = items["conv_is_sparse_shared_fully_connected"]
    assert it.engine["matrix"] == "16x36" and it.engine["non-zeros per row"] == [9]
    inv = items["max_pool_shift_invariance"]
    assert inv.engine["unchanged (bright pixel)"] == 28  # j even: 4 of 7 columns, 7 rows


def test_equivariance_fails_for_a_layer_that_is_not_shift_invariant(monkeypatch):
    real = F.conv2d

    def position_dependent(x, w, *args, **kwargs):
        out = real(x, w, *args, **kwargs)
        ramp = np.arange(out.shape[-1], dtype=object).reshape(1, 1, 1, -1)
        return out * Tensor(ramp + 1)

    monkeypatch.setattr(F, "conv2d", position_dependent)
    assert not C.translation_equivariance().passed


def test_wu_chain_fails_with_a_wrong_kronecker_order(monkeypatch):
    import sympy.physics.quantum as quantum
    from sympy.physics.quantum import TensorProduct

    monkeypatch.setattr(quantum, "TensorProduct", lambda a, b: TensorProduct(b, a))
    assert not C.wu_kronecker_chain().passed
