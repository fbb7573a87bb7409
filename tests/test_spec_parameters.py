"""Tests of spec.parameters: counts from weight shapes, against modules and the documents."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import spec.parameters as params
from tinygrad_cnn import Tensor


def test_count_from_shapes() -> None:
    assert params.count_from_shapes([(2, 3), (3,)]) == 9
    assert params.count_from_shapes([]) == 0
    a, b = sp.symbols("a b", positive=True)
    assert sp.expand(params.count_from_shapes([(a, b), (a,)]) - (a * b + a)) == 0


def test_layer_types() -> None:
    it = params.layer_types()
    assert it.passed
    # 6x6x2 input, 3x3 patches, 4 filters, 16 hidden units (one per valid position)
    assert it.result["fully connected"] == {"params": 16 * 72 + 16, "no_bias": 16 * 72,
                                            "connections": 16 * 72}
    assert it.result["locally connected"] == {"params": 16 * 18 + 16, "no_bias": 16 * 18,
                                              "connections": 16 * 18}
    assert it.result["convolutional"] == {"params": 4 * 18 + 4, "no_bias": 4 * 18,
                                          "connections": 16 * 4 * 18}
    assert it.engine == it.result
    rows = {r["layer"]: r for r in it.details["rows"]}
    assert rows["convolutional"]["engine"]["uses_per_weight"] == [16.0]
    assert rows["locally connected"]["engine"]["uses_per_weight"] == [1.0]
    assert it.details["shared_locally_connected_equals_conv"]


def test_locally_connected_layer_by_hand() -> None:
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    w = np.zeros((2, 2, 1, 3, 3))
    w[0, 1, 0, 2, 2] = 1.0  # the unit at (0, 1) reads x[0 + 2, 1 + 2]
    w[1, 0, 0, 0, 0] = 2.0  # the unit at (1, 0) reads 2·x[1, 0]
    y = params.locally_connected(Tensor(x), Tensor(w)).numpy()
    assert y.tolist() == [[[0.0, x[0, 0, 2, 3]], [2 * x[0, 0, 1, 0], 0.0]]]


def test_engine_connections_of_a_conv() -> None:
    import tinygrad_cnn.nn.functional as F

    w = Tensor(np.ones((3, 2, 2, 2)))
    counted = params.engine_connections(lambda x: F.conv2d(x, w), (1, 2, 4, 5))
    assert counted["weighted"] == 3 * 4 * 3 * 8  # 3x4 positions, 3 filters, 8 weights
    assert counted["output_shape"] == (1, 3, 3, 4)


def test_seed000_progression() -> None:
    it = params.seed000_progression()
    assert it.passed
    assert it.errata == []
    assert it.result == {"fully connected": 10**12, "locally connected": 10**8,
                         "convolutional, 1 filter": 100, "convolutional, 100 filters": 10**4}
    assert it.engine == {"fully connected": 64 * 64, "locally connected": 64 * 9,
                         "convolutional, 1 filter": 9, "convolutional, 4 filters": 36}
    # the small instance has K = 4 filters: no row of it may be named for the slide's 100
    assert "100 filters" not in it.derivation.split("Small instance")[1]
    assert it.details["small_instance_derived"] == it.engine


def test_seed000_an_unlisted_misprint_fails_the_item(monkeypatch: pytest.MonkeyPatch) -> None:
    from spec.core import Printed
    from spec.report import run_item

    old = params._SEED000_PRINTED["locally connected"]
    printed = dict(params._SEED000_PRINTED,
                   **{"locally connected": Printed(10**7, old.document, old.quote)})
    monkeypatch.setattr(params, "_SEED000_PRINTED", printed)
    it = params.seed000_progression()
    assert [(e.location, e.printed, e.correct) for e in it.errata] == [
        ("locally connected", 10**7, 10**8)]
    it = run_item("parameters", params.seed000_progression)
    assert not it.passed  # not on the list of known errata: a failure, never an erratum
    assert it.errata[0].known is False


def test_seed000_wrong_number_of_filters_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from spec.core import Printed
    from spec.report import run_item

    monkeypatch.setattr(params, "SEED000_FILTERS", Printed(10, "seed 000", "100 Filters"))
    it = run_item("parameters", params.seed000_progression)
    assert not it.passed
    assert [(e.printed, e.correct) for e in it.errata] == [(10_000, 1_000)]


def test_conv_layer_formula() -> None:
    it = params.conv_layer_formula()
    assert it.passed
    f, nc, nf = sp.symbols("f n_c n_f", integer=True, positive=True)
    assert sp.expand(it.result - (f * f * nc + 1) * nf) == 0
    assert {"f": 5, "n_c": 1, "n_f": 6, "formula": (156, 150), "engine": (156, 150)} in it.engine


def test_fully_connected_neuron() -> None:
    it = params.fully_connected_neuron()
    assert it.passed and it.result == 3072 == 32 * 32 * 3


def test_keras_filters() -> None:
    it = params.keras_filters()
    assert it.passed and it.errata == []
    assert it.result == {"conv1": {"per_filter": 9, "weights": 225, "total": 250},
                         "conv2": {"per_filter": 225, "weights": 11250, "total": 11300}}


def test_lenet_c3_table() -> None:
    mask = params.lenet_c3_mask()
    assert mask.shape == (16, 6)
    inputs = mask.sum(axis=1).tolist()
    assert inputs == [3] * 6 + [4] * 9 + [6]
    # the first six maps take three contiguous S2 maps, cyclically
    for j in range(6):
        assert set(np.flatnonzero(mask[j])) == {j % 6, (j + 1) % 6, (j + 2) % 6}


def test_lenet5() -> None:
    it = params.lenet5()
    assert it.passed
    assert it.errata == []
    assert it.result == {"C1": (156, 122_304), "S2": (12, 5_880), "C3": (1_516, 151_600),
                         "S4": (32, 2_000), "C5": (48_120, 48_120), "F6": (10_164, 10_164)}
    assert it.engine == it.result
    assert it.details["map_sizes"] == [32, 28, 14, 10, 5, 1]


def test_lenet5_reports_a_misprint(monkeypatch: pytest.MonkeyPatch) -> None:
    printed = dict(params.LENET_PRINTED, C3=(1_516, 151_500))
    monkeypatch.setattr(params, "LENET_PRINTED", printed)
    it = params.lenet5()
    assert [(e.location, e.printed, e.correct) for e in it.errata] == [
        ("C3 connections", 151_500, 151_600)]
    from spec.report import run_item

    assert not run_item("parameters", params.lenet5).passed
