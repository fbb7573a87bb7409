"""Classic networks the course names, counted from their layer shapes and from real modules.

Each network is written once as a table of layers (the primary source's architecture).
The spec counts its parameters from the weight and bias shapes, with the spatial sizes
(and so the flatten length) from :func:`spec.output_size`; the engine builds the same
network from ``tinygrad_cnn.nn`` modules and counts ``.parameters()``. The map sizes are
checked by running the same layers, one channel wide, through the engine.

The modules are built without drawing their ~10^8 random initial weights: while they are
built, the module library's initialiser (``_uniform``) gives each parameter a read-only,
zero-stride array of the right shape, so the count comes from the real modules' own
shapes in milliseconds and without gigabytes of memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .core import Erratum, Item, compare_printed, item, printed
from .parameters import count_from_shapes
from .shapes import output_size

TOPIC = "networks"

# a layer: ("conv", out, kernel, stride, padding, groups) | ("pool", kernel, stride)
#          | ("fc", out) | ("relu",)
Layer = tuple[Any, ...]

ALEXNET_TORCHVISION: tuple[Layer, ...] = (
    ("conv", 64, 11, 4, 2, 1), ("relu",), ("pool", 3, 2),
    ("conv", 192, 5, 1, 2, 1), ("relu",), ("pool", 3, 2),
    ("conv", 384, 3, 1, 1, 1), ("relu",), ("conv", 256, 3, 1, 1, 1), ("relu",),
    ("conv", 256, 3, 1, 1, 1), ("relu",), ("pool", 3, 2),
    ("fc", 4096), ("relu",), ("fc", 4096), ("relu",), ("fc", 1000),
)
#: Krizhevsky et al. 2012: the kernels of conv2, conv4 and conv5 see only the maps of their
#: own GPU (groups = 2); conv3 and the fully connected layers see both
ALEXNET_TWO_TOWER: tuple[Layer, ...] = (
    ("conv", 96, 11, 4, 0, 1), ("relu",), ("pool", 3, 2),
    ("conv", 256, 5, 1, 2, 2), ("relu",), ("pool", 3, 2),
    ("conv", 384, 3, 1, 1, 1), ("relu",), ("conv", 384, 3, 1, 1, 2), ("relu",),
    ("conv", 256, 3, 1, 1, 2), ("relu",), ("pool", 3, 2),
    ("fc", 4096), ("relu",), ("fc", 4096), ("relu",), ("fc", 1000),
)


def _vgg16() -> tuple[Layer, ...]:
    layers: list[Layer] = []
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                  512, 512, 512, "M"):
        layers += [("pool", 2, 2)] if width == "M" else [("conv", width, 3, 1, 1, 1), ("relu",)]
    return tuple(layers + [("fc", 4096), ("relu",), ("fc", 4096), ("relu",), ("fc", 1000)])


VGG16 = _vgg16()

NETWORKS = {
    # name: (layers, input (C, H, W), source)
    "alexnet_torchvision": (ALEXNET_TORCHVISION, (3, 224, 224),
                            "torchvision.models.alexnet (after Krizhevsky 2014, 'One weird "
                            "trick'); its AdaptiveAvgPool2d((6, 6)) is the identity at 224x224 "
                            "and has no parameters"),
    "alexnet_two_tower": (ALEXNET_TWO_TOWER, (3, 227, 227),
                          "Krizhevsky, Sutskever, Hinton 2012, ImageNet Classification with "
                          "Deep Convolutional Neural Networks (the two-GPU network; 227x227 "
                          "makes its 55x55 first maps exact)"),
    "vgg16": (VGG16, (3, 224, 224), "Simonyan and Zisserman 2015, Very Deep Convolutional "
                                    "Networks for Large-Scale Image Recognition, configuration D"),
}

#: the published totals: torchvision states the exact counts in its weights' metadata
#: (torchvision/models/alexnet.py and vgg.py, the IMAGENET1K_V1 entries, copied verbatim)
PRINTED_TOTALS = {
    "alexnet_torchvision": printed(61_100_840, "torchvision (torchvision.models source)",
                                   '"num_params": 61100840',
                                   "AlexNet_Weights.IMAGENET1K_V1.meta"),
    "vgg16": printed(138_357_544, "torchvision (torchvision.models source)",
                     '"num_params": 138357544', "VGG16_Weights.IMAGENET1K_V1.meta"),
}
#: the papers' statements, in whole millions (truncated: 60,965,224 is "60 million"). The
#: AlexNet sentence is the abstract's, checked against copies of it; VGG's Table 2 is a table,
#: so its row is paraphrased (the number is the paper's, the wording is not)
PRINTED_MILLIONS = {
    "alexnet_two_tower": printed(60, "Krizhevsky et al. 2012", "The neural network, which has "
                                 "60 million parameters and 650,000 neurons", "abstract"),
    "vgg16": printed(138, "Simonyan and Zisserman 2015", "number of parameters (in millions) of "
                     "configuration D: 138", "Table 2", verbatim=False),
}


def layer_table(layers: tuple[Layer, ...], size: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Each layer with parameters: its weight and bias shapes and count, from the shapes."""
    c, h, w = size
    rows = []
    flat = None
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            _, out, k, s, p, g = layer
            shapes = [(out, c // g, k, k), (out,)]
            h, w = output_size(h, k, s, p), output_size(w, k, s, p)
            c = out
        elif kind == "pool":
            _, k, s = layer
            h, w = output_size(h, k, s), output_size(w, k, s)
            continue
        elif kind == "fc":
            inputs = c * h * w if flat is None else flat
            shapes = [(layer[1], inputs), (layer[1],)]
            flat = layer[1]
        else:
            continue
        rows.append({"layer": f"{kind}{len(rows) + 1}", "weight": shapes[0], "bias": shapes[1],
                     "parameters": int(count_from_shapes(shapes)),
                     "output": (c, h, w) if kind == "conv" else (flat,)})
    return rows


@contextlib.contextmanager
def _weights_without_memory() -> Iterator[None]:
    """While building modules, give each parameter a zero-stride array of its shape."""
    from tinygrad_cnn.nn import modules

    class _Shaped(np.ndarray):
        def copy(self, order: str = "C") -> np.ndarray:  # Parameter copies its data
            return self

    real = modules._uniform

    def shaped(rng: Any, bound: float, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.broadcast_to(np.zeros((), dtype=dtype), shape).view(_Shaped)

    modules._uniform = shaped
    try:
        yield
    finally:
        modules._uniform = real


def build(layers: tuple[Layer, ...], size: tuple[int, int, int], width: int | None = None
          ) -> Any:
    """The network as an ``nn.Sequential`` of real modules (``width``: every layer that many
    channels wide, for a cheap shape run)."""
    from tinygrad_cnn import nn

    c, h, w = size
    c = c if width is None else width
    mods: list[Any] = []
    flat = None
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            _, out, k, s, p, g = layer
            out = out if width is None else width
            mods.append(nn.Conv2d(c, out, k, stride=s, padding=p,
                                  groups=g if width is None else 1))
            h, w, c = output_size(h, k, s, p), output_size(w, k, s, p), out
        elif kind == "pool":
            mods.append(nn.MaxPool2d(layer[1], stride=layer[2]))
            h, w = output_size(h, layer[1], layer[2]), output_size(w, layer[1], layer[2])
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind == "fc":
            if width is not None:
                break
            if flat is None:
                mods.append(nn.Flatten())
            inputs = c * h * w if flat is None else flat
            mods.append(nn.Linear(inputs, layer[1]))
            flat = layer[1]
    return nn.Sequential(*mods)


def _engine_counts(model: Any) -> list[int]:
    """Parameters per module that has any, in order, from ``.parameters()``."""
    counts = []
    for module in model:
        n = sum(int(p.data.size) for p in module.parameters())
        if n:
            counts.append(n)
    return counts


def _check(name: str) -> Item:
    from tinygrad_cnn import Tensor

    layers, size, source = NETWORKS[name]
    rows = layer_table(layers, size)
    total = sum(r["parameters"] for r in rows)
    with _weights_without_memory():
        model = build(layers, size)
    engine_total = sum(int(p.data.size) for p in model.parameters())
    per_module = _engine_counts(model)
    # the map sizes, by the engine: the same layers one channel wide, on zeros
    thin = build(layers, size, width=1)
    y = thin(Tensor(np.zeros((1, 1, size[1], size[2]), dtype=np.float32)))
    last_conv = [r for r in rows if len(r["weight"]) == 4][-1]
    flat = next(r for r in rows if r["layer"].startswith("fc"))["weight"][1]
    engine_flat = int(np.prod(y.shape[2:])) * last_conv["output"][0]
    errata: list[Erratum] = []
    quotes = []
    if name in PRINTED_TOTALS:
        quotes.append(PRINTED_TOTALS[name])
        compare_printed(errata, PRINTED_TOTALS[name], total, "total parameters")
    if name in PRINTED_MILLIONS:
        quotes.append(PRINTED_MILLIONS[name])
        # "60 million" for 60,965,224: the papers give whole millions, truncated
        compare_printed(errata, PRINTED_MILLIONS[name], total // 10**6,
                        "total parameters, in whole millions")
    for r, n in zip(rows, per_module, strict=False):
        r["engine"] = n
    ok = (engine_total == total and per_module == [r["parameters"] for r in rows]
          and engine_flat == flat)
    return Item(
        TOPIC, name,
        f"{name}: {total:,} parameters in {len(rows)} layers with weights, counted from the "
        "primary source's layer shapes and by the engine's modules.",
        "From the weight shapes (conv (out, in/groups, k, k) + bias (out,), fully connected "
        "(out, in) + bias (out,)), with the map sizes from output_size: "
        + "; ".join(f"{r['layer']} {r['weight']}: {r['parameters']:,}" for r in rows)
        + f". The engine: the same network as nn.Conv2d / nn.Linear / nn.MaxPool2d modules, "
        f"Σ p.size over .parameters() = {engine_total:,}; a one-channel copy run on zeros "
        f"gives the last maps {tuple(y.shape[2:])}, so the first fully connected layer reads "
        f"{engine_flat:,} values.",
        total, engine_total, bool(ok), source=source, errata=errata, quotes=quotes,
        details={"layers": [{k: (str(v) if isinstance(v, tuple) else v) for k, v in r.items()}
                            for r in rows],
                 "flatten": flat})


@item(TOPIC)
def alexnet_torchvision() -> Item:
    """AlexNet as torchvision builds it: 61,100,840 parameters."""
    return _check("alexnet_torchvision")


@item(TOPIC)
def alexnet_two_tower() -> Item:
    """The two-GPU AlexNet of Krizhevsky et al. 2012 (conv2, conv4, conv5 grouped): 60,965,224."""
    return _check("alexnet_two_tower")


@item(TOPIC)
def vgg16() -> Item:
    """VGG-16 (configuration D): 138,357,544 parameters."""
    return _check("vgg16")
