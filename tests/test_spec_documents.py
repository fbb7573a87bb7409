"""spec.documents: the worked examples of seeds 001, 003 and 004, cell by cell."""

from __future__ import annotations

import numpy as np
import pytest

import spec.documents as D
from spec.core import Erratum
from spec.report import run_all


@pytest.fixture(scope="module")
def items():
    return {it.name: it for it in run_all(["documents"])}


def ints(matrix):
    return [[int(z) for z in row] for row in matrix.tolist()]


def correlate(x, k, stride=1):
    x, k = np.asarray(x), np.asarray(k)
    n = (x.shape[0] - k.shape[0]) // stride + 1
    m = (x.shape[1] - k.shape[1]) // stride + 1
    return [[int((x[i * stride:i * stride + k.shape[0], j * stride:j * stride + k.shape[1]]
                   * k).sum()) for j in range(m)] for i in range(n)]


def test_all_pass(items):
    assert {"seed001_5x5_input_3x3_filter", "seed003_6x6_image_two_filters",
            "seed004_7x7_image_feature_detector", "printed_values_are_quotes"} <= set(items)
    assert all(it.passed for it in items.values())


def test_seed001(items):
    it = items["seed001_5x5_input_3x3_filter"]
    # first window: 3·1 + 9·1 + 7·1 + 6·1 (the filter's ones), as the slide's products say
    assert it.details["first window products (printed)"] == [3, 0, 0, 9, 7, 0, 0, 0, 6]
    assert it.result[0, 0] == 25
    assert ints(it.result) == correlate(D.SEED_001_INPUT, D.SEED_001_FILTER)
    assert ints(it.result)[2][2] == 6 + 7 + 9 + 1  # the last window by hand: 23
    assert [[int(z) for z in row] for row in it.engine] == ints(it.result)
    assert it.errata == []
    assert it.details["engine mismatches per dtype"] == {"float32": [], "float64": [],
                                                         "exact": []}


def test_seed003(items):
    it = items["seed003_6x6_image_two_filters"]
    f1_s1, f2_s1 = (ints(m) for m in it.result["stride 1"])
    # the values of the original lecture (Hung-yi Lee), checked here against a plain loop
    assert f1_s1 == [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]]
    assert f2_s1 == [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]
    assert f1_s1 == correlate(D.SEED_003_IMAGE, D.SEED_003_FILTER_1)
    assert [ints(m) for m in it.result["stride 2"]] == [
        correlate(D.SEED_003_IMAGE, f, stride=2) for f in (D.SEED_003_FILTER_1,
                                                           D.SEED_003_FILTER_2)]
    assert ints(it.result["stride 2"][0]) == [[3, -3], [-3, 0]]
    assert [ints(m) for m in it.result["max pooled (stride-1 maps)"]] == [[[3, 0], [3, 1]],
                                                                          [[-1, 1], [0, 3]]]
    assert it.engine["conv shape"] == [1, 2, 4, 4]  # "Forming 2 x 4 x 4 matrix"
    assert np.array(it.engine["stride 1"], dtype=int).tolist() == [f1_s1, f2_s1]
    assert it.details["image cells garbled as '~' in some copy (1-based)"] == [
        (2, 2), (2, 5), (4, 5)]
    assert it.details["garbled cells are legible elsewhere"] is True
    assert it.details["conflicts between printed copies"] == []
    assert it.errata == []  # no result cell is legible, so nothing printed is compared


def test_seed003_image_reconstruction_detects_conflicts():
    copies = dict(D.SEED_003_IMAGE_COPIES)
    copies["a wrong copy"] = (0, 0, ["0 0 0"])
    merged, _, conflicts = D._reconstruct_image(copies, 6)
    assert conflicts == ["a wrong copy: (1, 1)"]
    only_garbled = {"x": (0, 0, ["~ 1"])}
    merged, garbled, _ = D._reconstruct_image(only_garbled, 2)
    assert merged[0][0] is None and garbled == [(0, 0)]


def test_seed004_map_and_erratum(items):
    it = items["seed004_7x7_image_feature_detector"]
    expected = [[0, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 0, 0, 2, 1], [1, 4, 2, 1, 0],
                [0, 0, 1, 2, 1]]
    assert ints(it.result) == expected
    assert correlate(D.SEED_004_INPUT, D.SEED_004_DETECTOR) == expected
    assert [[int(z) for z in row] for row in it.engine] == expected
    assert it.passed is True  # the erratum does not fail the item
    assert len(it.errata) == 1
    e = it.errata[0]
    assert isinstance(e, Erratum)
    assert "seed 004" in e.document
    assert "row 3, column 3" in e.location
    assert (e.printed, e.correct) == (1, 0)
    key = "cells where the engine differs from the printed map (0-based), per dtype"
    assert it.details[key] == {"float32": [(2, 2)], "float64": [(2, 2)], "exact": [(2, 2)]}
    # the printed map is kept literally: 1 at that cell
    assert D.SEED_004_PRINTED_MAP[2][2] == 1


def test_documents_fail_when_the_engine_is_wrong(monkeypatch):
    real = D.F.conv2d

    def off_by_one(*args, **kwargs):
        out = real(*args, **kwargs)
        data = out.numpy().copy()
        data[0, 0, 0, 0] += 1
        from tinygrad_cnn import Tensor
        return Tensor(data)

    monkeypatch.setattr(D.F, "conv2d", off_by_one)
    it = D.seed004_7x7_image_feature_detector()
    assert it.passed is False
    assert it.details["engine mismatches per dtype"]["float32"] == [(0, 0, 0)]
    assert [(e.printed, e.correct) for e in it.errata] == [(1, 0)]  # still from the math
