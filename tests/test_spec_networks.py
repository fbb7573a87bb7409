"""spec.networks: AlexNet (torchvision and two-tower) and VGG-16, from shapes and from modules."""

from __future__ import annotations

import numpy as np
import pytest

import spec.networks as N
from spec.report import run_item
from tinygrad_cnn.nn import modules


@pytest.mark.parametrize("name, total", [("alexnet_torchvision", 61_100_840),
                                         ("alexnet_two_tower", 60_965_224),
                                         ("vgg16", 138_357_544)])
def test_totals_from_shapes_and_modules(name, total):
    it = run_item("networks", getattr(N, name))
    assert it.passed, it.details
    assert it.result == it.engine == total
    assert sum(r["parameters"] for r in it.details["layers"]) == total
    assert all(r["engine"] == r["parameters"] for r in it.details["layers"])


def test_building_without_memory_restores_the_initialiser():
    real = modules._uniform
    with N._weights_without_memory():
        model = N.build(N.VGG16, (3, 224, 224))
        assert modules._uniform is not real
    assert modules._uniform is real
    weight = next(iter(model.parameters())).data
    assert weight.strides == (0, 0, 0, 0)  # no memory behind the 1,728 weights
    conv = modules.Conv2d(2, 3, 3)  # later modules draw real random weights again
    assert np.unique(conv.weight.data).size > 1


def test_a_wrong_architecture_is_caught_by_the_printed_total(monkeypatch):
    layers = list(N.ALEXNET_TWO_TOWER)
    layers[3] = ("conv", 256, 5, 1, 2, 1)  # conv2 not split across the two GPUs
    monkeypatch.setitem(N.NETWORKS, "alexnet_two_tower",
                        (tuple(layers), *N.NETWORKS["alexnet_two_tower"][1:]))
    it = run_item("networks", N.alexnet_two_tower)
    assert it.result == 60_965_224 + 256 * 48 * 25  # the shapes and modules still agree ...
    assert not it.passed  # ... but the paper's "60 million" no longer does


def test_spec_and_engine_are_independent(monkeypatch):
    monkeypatch.setattr(N, "count_from_shapes",
                        lambda shapes: sum(int(np.prod(s)) for s in shapes[:1]))  # no bias
    assert not run_item("networks", N.vgg16).passed
