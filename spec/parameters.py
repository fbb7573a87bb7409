"""Parameter and connection counts, derived from the shapes of the weights.

A layer's parameters are the entries of its weight and bias arrays, so their number is the
sum of the products of those shapes. Its connections are the (input unit, output unit)
pairs joined by a weight (plus one per output unit for the bias, as LeCun et al. count
them). Fully connected, locally connected and convolutional layers differ only in the
shapes: a hidden unit of a fully connected layer has a weight for every input, one of a
locally connected layer has its own f×f×C patch, and a convolutional layer shares one
f×f×C patch per filter across all positions, so its weights are used many times each.

The engine counts the same things: ``.parameters()`` of real modules give the parameter
count, and a backward pass with all inputs, weights and upstream gradients equal to one
counts connections (each input's gradient is the number of weighted connections leaving
it; each bias's gradient is the number of units it feeds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .core import Erratum, Item, compare_printed, item, printed
from .shapes import output_size

# ----------------------------------------------------------------------- from shapes


def count_from_shapes(shapes: Sequence[Sequence[Any]]) -> Any:
    """Number of entries of arrays with these shapes: ``Σ Π shape`` (ints or SymPy)."""
    total: Any = 0
    for shape in shapes:
        size: Any = 1
        for n in shape:
            size = size * n
        total = total + size
    return total


def fully_connected_shapes(inputs: Any, hidden: Any, bias: bool = True) -> list[tuple]:
    """Weight (hidden, inputs): every input to every hidden unit; bias (hidden,)."""
    return [(hidden, inputs)] + ([(hidden,)] if bias else [])


def locally_connected_shapes(hidden: Any, f: Any, channels: Any = 1,
                             bias: bool = True) -> list[tuple]:
    """Weight (hidden, channels, f, f): each hidden unit its own patch; bias (hidden,)."""
    return [(hidden, channels, f, f)] + ([(hidden,)] if bias else [])


def convolutional_shapes(filters: Any, f: Any, channels: Any = 1,
                         bias: bool = True) -> list[tuple]:
    """Weight (filters, channels, f, f): one shared patch per filter; bias (filters,)."""
    return [(filters, channels, f, f)] + ([(filters,)] if bias else [])


# ------------------------------------------------------------------- engine counting


def _module_count(module: Any) -> int:
    return sum(int(p.data.size) for p in module.parameters())


def _modules() -> tuple[Any, Any]:
    """``(Conv2d, Linear)`` from the engine, or a clear error if they are missing."""
    try:
        from tinygrad_cnn.nn import Conv2d, Linear
    except ImportError as exc:  # pragma: no cover - only while the modules are being built
        raise RuntimeError(f"tinygrad_cnn.nn.Conv2d / Linear are not available: {exc}") \
            from exc
    return Conv2d, Linear


def _ones_like_params(module: Any) -> None:
    for p in module.parameters():
        p.data[...] = 1


def engine_connections(layer: Callable[[Any], Any], input_shape: tuple[int, ...],
                       biases: Sequence[Any] = ()) -> dict[str, int]:
    """Count connections by one backward pass with every value and gradient equal to 1.

    ``layer(x)`` must use weights equal to 1 (or to a 0/1 connection mask). Then
    ``Σ x.grad`` is the number of (input, output) pairs joined by a weight and ``Σ b.grad``
    over the biases the number of (bias, output) pairs.
    """
    from tinygrad_cnn import Tensor

    x = Tensor(np.ones(input_shape), requires_grad=True)
    y = layer(x)
    y.backward(np.ones(y.shape))
    weighted = int(round(float(x.grad.numpy().sum())))
    bias = sum(int(round(float(b.grad.numpy().sum()))) for b in biases)
    return {"weighted": weighted, "bias": bias, "total": weighted + bias,
            "output_shape": tuple(y.shape)}


def trainable_count(layer: Any, weights: Sequence[Any], input_shape: tuple[int, ...],
                    seed: int = 0) -> int:
    """Entries of ``weights`` whose gradient is non-zero after one backward pass of
    ``layer`` on a random input with a random upstream gradient: the weights the layer
    really uses, counted by the engine (not read off the tensors' shapes)."""
    from tinygrad_cnn import Tensor

    rng = np.random.default_rng(seed)
    for w in weights:
        w.grad = None
        w.requires_grad = True
    y = layer(Tensor(rng.standard_normal(input_shape)))
    y.backward(rng.standard_normal(y.shape))
    return sum(int(np.count_nonzero(w.grad.numpy())) for w in weights)


def locally_connected(x: Any, weight: Any, bias: Any = None, padding: int = 0) -> Any:
    """A locally connected layer built from engine ops: a convolution without sharing.

    ``x`` (N, C, H, W); ``weight`` (OH, OW, C, f, f), one patch per output position;
    ``y[n, i, j] = Σ_{c,p,q} weight[i, j, c, p, q] · x_pad[n, c, i + p, j + q] + bias[i, j]``.
    """
    f = weight.shape[-1]
    if padding:
        x = x.pad(((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = x.windows((f, f), (1, 1))  # (N, C, OH, OW, f, f)
    cols = cols.permute(0, 2, 3, 1, 4, 5)  # (N, OH, OW, C, f, f)
    y = (cols * weight).sum(axis=(3, 4, 5))  # every position its own weights
    return y if bias is None else y + bias


# ------------------------------------------------------------------------------ items


@item("parameters")
def layer_types() -> Item:
    """Fully connected vs locally connected vs convolutional, symbolically and in the engine."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    Conv2d, Linear = _modules()
    H, W, C, M, f, K = sp.symbols("H W C M f K", integer=True, positive=True)
    OH, OW = sp.symbols("O_H O_W", integer=True, positive=True)  # positions of the window
    positions = {OH: output_size(H, f), OW: output_size(W, f)}
    formulas = {
        "fully connected": count_from_shapes(fully_connected_shapes(H * W * C, M)),
        "locally connected": count_from_shapes(locally_connected_shapes(M, f, C)),
        "convolutional": count_from_shapes(convolutional_shapes(K, f, C)),
    }
    no_bias = {
        "fully connected": count_from_shapes(fully_connected_shapes(H * W * C, M, False)),
        "locally connected": count_from_shapes(locally_connected_shapes(M, f, C, False)),
        "convolutional": count_from_shapes(convolutional_shapes(K, f, C, False)),
    }
    connections = {  # weighted connections: each hidden unit times the inputs it sees
        "fully connected": M * H * W * C,
        "locally connected": M * f**2 * C,
        "convolutional": OH * OW * K * f**2 * C,
    }
    sharing = {name: sp.factor(sp.cancel(connections[name] / no_bias[name]))
               for name in connections}

    # small instance: 6x6x2 input, 3x3 patches, 4 filters; hidden units = valid positions
    h = w = 6
    c, ff, k = 2, 3, 4
    oh, ow = output_size(h, ff), output_size(w, ff)
    m = oh * ow
    values = {H: h, W: w, C: c, M: m, f: ff, K: k, OH: oh, OW: ow}
    rng = np.random.default_rng(0)
    checks: dict[str, dict[str, Any]] = {}

    fc = Linear(h * w * c, m, dtype=np.float64)
    fc_nb = Linear(h * w * c, m, bias=False, dtype=np.float64)
    _ones_like_params(fc)
    conn = engine_connections(lambda x: fc(x.reshape(1, -1)), (1, c, h, w), [fc.bias])
    checks["fully connected"] = {"params": _module_count(fc), "no_bias": _module_count(fc_nb),
                                 "connections": conn["weighted"]}

    lc_w = Tensor(rng.standard_normal((oh, ow, c, ff, ff)))
    lc_b = Tensor(rng.standard_normal((oh, ow)))
    x = Tensor(rng.standard_normal((1, c, h, w)))
    y = locally_connected(x, lc_w, lc_b).numpy()
    xn = x.numpy()[0]
    reference = np.array([[np.sum(xn[:, i:i + ff, j:j + ff] * lc_w.numpy()[i, j])
                           + lc_b.numpy()[i, j] for j in range(ow)] for i in range(oh)])
    lc_applies = bool(np.allclose(y[0], reference, rtol=1e-12, atol=1e-12))
    ones_w = Tensor(np.ones(lc_w.shape), requires_grad=True)
    conn = engine_connections(lambda t: locally_connected(t, ones_w), (1, c, h, w))
    uses_lc = ones_w.grad.numpy()  # how many connections each weight serves
    used = trainable_count(lambda t: locally_connected(t, lc_w, lc_b), [lc_w, lc_b],
                           (1, c, h, w))
    used_nb = trainable_count(lambda t: locally_connected(t, lc_w), [lc_w], (1, c, h, w))
    checks["locally connected"] = {"params": used, "no_bias": used_nb,
                                   "connections": conn["weighted"],
                                   "uses_per_weight": sorted(set(uses_lc.ravel().tolist()))}

    conv = Conv2d(c, k, ff, dtype=np.float64)
    conv_nb = Conv2d(c, k, ff, bias=False, dtype=np.float64)
    _ones_like_params(conv)
    conn = engine_connections(lambda t: F.conv2d(t, conv.weight), (1, c, h, w))
    uses_conv = conv.weight.grad.numpy()
    checks["convolutional"] = {"params": _module_count(conv), "no_bias": _module_count(conv_nb),
                               "connections": conn["weighted"],
                               "uses_per_weight": sorted(set(uses_conv.ravel().tolist()))}

    # a locally connected layer whose positions all hold the same filter is a convolution
    shared = Tensor(np.broadcast_to(conv.weight.numpy()[0], (oh, ow, c, ff, ff)).copy())
    same_as_conv = bool(np.allclose(locally_connected(x, shared).numpy()[0],
                                    F.conv2d(x, Tensor(conv.weight.numpy()[:1])).numpy()[0, 0],
                                    rtol=1e-12, atol=1e-12))

    rows = []
    ok = lc_applies and same_as_conv
    for name in formulas:
        derived = {"params": int(formulas[name].subs(values)),
                   "no_bias": int(no_bias[name].subs(values)),
                   "connections": int(connections[name].subs(values))}
        engine = {key: checks[name][key] for key in derived}
        good = derived == engine
        ok = ok and good
        rows.append({"layer": name, "params": str(formulas[name]),
                     "connections": str(connections[name].subs(positions)),
                     "connections_per_parameter": str(sharing[name].subs(positions)),
                     "derived": derived,
                     "engine": checks[name], "ok": good})
    ok = ok and checks["locally connected"]["uses_per_weight"] == [1.0] \
        and checks["convolutional"]["uses_per_weight"] == [float(oh * ow)]
    return Item(
        topic="parameters", name="layer_types",
        statement="Parameters (with biases): fully connected M(HWC + 1); locally connected "
                  "M(f²C + 1); convolutional K(f²C + 1). Only the convolution reuses its "
                  "weights: each serves OH·OW connections.",
        derivation=(
            "Counting the entries of the weight and bias shapes: "
            + "; ".join(f"{name} ${sp.latex(sp.factor(formulas[name]))}$, connections "
                        f"${sp.latex(connections[name])}$, connections per weight "
                        f"${sp.latex(sharing[name])}$" for name in formulas)
            + f", where ${sp.latex(OH)} = {sp.latex(positions[OH])}$ and "
            f"${sp.latex(OW)} = {sp.latex(positions[OW])}$ (output_size, stride 1)"
            + f". Engine on a {h}x{w}x{c} input, {ff}x{ff} patches, {k} filters, {m} hidden "
            "units: parameter counts from Linear / Conv2d .parameters() and from the "
            "locally connected weight tensor; connections from a backward pass of ones."),
        result={r["layer"]: r["derived"] for r in rows},
        engine={r["layer"]: {key: r["engine"][key] for key in r["derived"]} for r in rows},
        passed=bool(ok),
        details={"rows": rows, "locally_connected_applies": lc_applies,
                 "shared_locally_connected_equals_conv": same_as_conv},
    )


#: seed 000's example, as printed: the inputs of the counts ...
SEED000_IMAGE = printed(1000, "seed 000", "1000x1000 image", "every slide of the example")
SEED000_HIDDEN = printed(10**6, "seed 000", "1M hidden units", "fully / locally connected")
SEED000_FILTER_SIZE = printed(10, "seed 000", "Filter size: 10x10", "locally connected, CNN")
SEED000_FILTERS = printed(100, "seed 000", "100 Filters", "'Learn multiple filters'")
#: ... and the counts it prints
_SEED000_PRINTED = {
    "fully connected": printed(10**12, "seed 000",
                               r"$$\rightarrow 10^{12} (= 10^6 \times 10^6)$$ parameters!",
                               "'Fully connected neural network'"),
    "locally connected": printed(10**8, "seed 000",
                                 r"$$\rightarrow 10^8 (= 10^6 \times 10 \times 10)$$ "
                                 "parameters!", "'Locally connected neural net'"),
    "convolutional, 1 filter": printed(10**2, "seed 000", r"$\rightarrow 10^2$ parameters",
                                       "'Convolution neural networks'"),
    "convolutional, 100 filters": printed(10_000, "seed 000", "10,000 parameters",
                                          "'Learn multiple filters'"),
}


def _relabel_filters(counts: dict[str, int], k: int) -> dict[str, int]:
    """The counts with the row "convolutional, 100 filters" named for k filters."""
    return {name.replace("100 filters", f"{k} filters"): v for name, v in counts.items()}


@item("parameters")
def seed000_progression() -> Item:
    """1000x1000 image, 1M hidden units: 10^12, 10^8 (10x10 patches), 10^2, 10^4 (100 filters)."""
    import sympy as sp

    Conv2d, Linear = _modules()
    N, f, K = sp.symbols("N f K", integer=True, positive=True)
    M = N**2  # one hidden unit per pixel (1M units for 1000x1000)
    formulas = {
        "fully connected": count_from_shapes(fully_connected_shapes(N**2, M, bias=False)),
        "locally connected": count_from_shapes(locally_connected_shapes(M, f, bias=False)),
        "convolutional, 1 filter": count_from_shapes(convolutional_shapes(1, f, bias=False)),
        "convolutional, 100 filters": count_from_shapes(convolutional_shapes(K, f,
                                                                             bias=False)),
    }
    at = {N: SEED000_IMAGE.value, f: SEED000_FILTER_SIZE.value, K: SEED000_FILTERS.value}
    hidden_ok = int(M.subs(at)) == SEED000_HIDDEN.value  # 1M hidden units = one per pixel
    at_docs = {name: int(expr.subs(at)) for name, expr in formulas.items()}
    n0, f0, k0 = (int(at[s]) for s in (N, f, K))
    with_bias = {
        "fully connected": int(count_from_shapes(fully_connected_shapes(n0**2, n0**2))),
        "locally connected": int(count_from_shapes(locally_connected_shapes(n0**2, f0))),
        "convolutional, 1 filter": int(count_from_shapes(convolutional_shapes(1, f0))),
        "convolutional, 100 filters": int(count_from_shapes(convolutional_shapes(k0, f0))),
    }

    # small instance with real modules: 8x8 image, 64 hidden units, 3x3 patches, 4 filters
    n, ff, k = 8, 3, 4
    small = {N: n, f: ff, K: k}
    from tinygrad_cnn import Tensor

    # one 3x3 patch per pixel: the input comes already padded with real values, so every
    # weight meets an input; the engine's backward says how many weights are used
    lc_weight = Tensor(np.zeros((n, n, 1, ff, ff)))
    used = trainable_count(lambda t: locally_connected(t, lc_weight), [lc_weight],
                           (1, 1, n + ff - 1, n + ff - 1))
    engine_small = {
        "fully connected": _module_count(Linear(n * n, n * n, bias=False)),
        "locally connected": used,
        "convolutional, 1 filter": _module_count(Conv2d(1, 1, ff, bias=False)),
        "convolutional, 100 filters": _module_count(Conv2d(1, k, ff, bias=False)),
    }
    derived_small = {name: int(expr.subs(small)) for name, expr in formulas.items()}
    errata: list[Erratum] = []
    for name in formulas:
        compare_printed(errata, _SEED000_PRINTED[name], at_docs[name], name)
    ok = derived_small == engine_small and hidden_ok
    return Item(
        topic="parameters", name="seed000_progression",
        statement="A 1000x1000 image with 1M hidden units needs 10^12 weights fully "
                  "connected, 10^8 with 10x10 local patches, 10^2 with one shared 10x10 "
                  "filter, 10^4 with 100 filters (no biases).",
        derivation=("From the weight shapes (N×N image, M = N² hidden units, f×f patches, K "
                    "filters): " + "; ".join(f"{name}: ${sp.latex(expr)}$"
                                            for name, expr in formulas.items())
                    + f". At the printed N = {n0}, f = {f0}, K = {k0}: {at_docs}, each "
                    "compared with the printed count (a difference fails the item unless it "
                    f"is a known erratum). With biases: {with_bias}. "
                    f"Small instance (N = {n}, f = {ff}, K = {k}) against Linear / Conv2d "
                    "modules and a locally connected weight tensor: "
                    f"{_relabel_filters(engine_small, k)}."),
        result=at_docs,
        # the small instance (N = 8, f = 3, K = 4), its rows named for it: see the derivation
        engine=_relabel_filters(engine_small, k),
        passed=bool(ok),
        source="seed 000",
        errata=errata,
        quotes=[SEED000_IMAGE, SEED000_HIDDEN, SEED000_FILTER_SIZE, SEED000_FILTERS,
                *_SEED000_PRINTED.values()],
        details={"printed": {k: v.value for k, v in _SEED000_PRINTED.items()},
                 "small_instance_derived": _relabel_filters(derived_small, k),
                 "with_biases": with_bias},
    )


@item("parameters")
def conv_layer_formula() -> Item:
    """Seed 001: a conv layer with n_f filters of f×f×n_c has (f·f·n_c + 1)·n_f parameters."""
    import sympy as sp

    Conv2d, _ = _modules()
    f, nc, nf = sp.symbols("f n_c n_f", integer=True, positive=True)
    count = count_from_shapes(convolutional_shapes(nf, f, nc))
    factored = sp.factor(count)
    ok = sp.expand(factored - (f * f * nc + 1) * nf) == 0
    grid = []
    for ff, cc, kk in ((3, 3, 2), (5, 3, 6), (1, 4, 7), (3, 25, 50), (5, 1, 6)):
        values = {f: ff, nc: cc, nf: kk}
        want = int(count.subs(values))
        want_nb = int((f * f * nc * nf).subs(values))
        got = _module_count(Conv2d(cc, kk, ff))
        got_nb = _module_count(Conv2d(cc, kk, ff, bias=False))
        grid.append({"f": ff, "n_c": cc, "n_f": kk, "formula": (want, want_nb),
                     "engine": (got, got_nb)})
        ok = ok and (want, want_nb) == (got, got_nb)
    return Item(
        topic="parameters", name="conv_layer_formula",
        statement="A convolutional layer of n_f filters of size f×f×n_c has (f·f·n_c + 1)·n_f "
                  "parameters (f·f·n_c·n_f without biases).",
        derivation=f"Weight (n_f, n_c, f, f) plus bias (n_f,): ${sp.latex(count)}$ = "
                   f"${sp.latex(factored)}$. Checked against Conv2d(...).parameters().",
        result=factored,
        engine=grid,
        passed=bool(ok),
        source="seed 001",
        details={"grid": grid},
    )


SEED002_STRETCH = printed((3072, 1), "seed 002", "32x32x3 image -> stretch to 3072 x 1",
                          "'Fully Connected Layer'")


@item("parameters")
def fully_connected_neuron() -> Item:
    """Seed 002: a 32x32x3 image stretched to 3072 inputs: 3072 weights per neuron."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    _, Linear = _modules()
    H, W, C = sp.symbols("H W C", integer=True, positive=True)
    per_neuron = count_from_shapes(fully_connected_shapes(H * W * C, 1, bias=False))
    derived = int(per_neuron.subs({H: 32, W: 32, C: 3}))
    stretched = F.flatten(Tensor(np.zeros((1, 3, 32, 32), dtype=np.float32)), 1).shape
    neuron = Linear(stretched[1], 1)
    engine = int(neuron.weight.size)
    patch = 5 * 5 * 3  # a 5x5x3 filter: one 75-number dot product (+ bias) per position
    errata: list[Erratum] = []
    compare_printed(errata, SEED002_STRETCH, (derived, 1), "stretched vector")
    ok = derived == engine and stretched == (1, derived)
    return Item(
        topic="parameters", name="fully_connected_neuron",
        statement="Stretching a 32x32x3 image to 3072 x 1, one fully connected neuron has 3072 "
                  "weights (a 5x5x3 filter has 75).",
        derivation=f"Weight row of one hidden unit: ${sp.latex(per_neuron)}$ entries; at "
                   f"32x32x3: {derived}. A 5x5x3 filter: 5·5·3 = {patch} (+1 bias).",
        result=derived,
        engine={"flatten": tuple(stretched), "Linear(3072, 1).weight.size": engine},
        passed=bool(ok),
        source="seed 002", errata=errata, quotes=[SEED002_STRETCH],
        details={"printed": SEED002_STRETCH.value[0], "filter_5x5x3 (derived)": patch},
    )


@item("parameters")
def keras_filters() -> Item:
    """Seed 003: 25 filters of 3x3x1 (9 weights each) then 50 of 3x3x25 (225 each), derived."""
    import sympy as sp

    from .shapes import KERAS_FILTERS_1, keras_chain

    Conv2d, _ = _modules()
    f, nc, nf = sp.symbols("f n_c n_f", integer=True, positive=True)
    per_filter = count_from_shapes([(nc, f, f)])
    filters2 = keras_chain().result["filters_2"]  # derived from the printed 1250
    first, k = KERAS_FILTERS_1.value[0], KERAS_FILTERS_1.value[1]
    layers = {"conv1": (1, first), "conv2": (first, filters2)}
    rows = {}
    ok = filters2 is not None
    for name, (cc, kk) in layers.items():
        if kk is None:
            continue
        each = int(per_filter.subs({f: k, nc: cc}))
        weights = each * kk
        module = Conv2d(cc, kk, k)
        engine = {"per_filter": int(module.weight[0].size), "weights": int(module.weight.size),
                  "total": _module_count(module)}
        derived = {"per_filter": each, "weights": weights, "total": weights + kk}
        rows[name] = {"derived": derived, "engine": engine}
        ok = ok and derived == engine
    return Item(
        topic="parameters", name="keras_filters",
        statement="Keras example: 25 filters of 3x3 on 1 channel have 9 weights each (225, "
                  "250 with biases); the 50 filters of 3x3 on 25 channels have 225 each "
                  "(11,250, 11,300 with biases). Printed in seed 003: 25 filters of 3x3; "
                  "derived: the 50 (from the printed 1250) and every count.",
        derivation=f"A filter spans every input channel: ${sp.latex(per_filter)}$ weights; at "
                   f"f = 3: n_c = 1 -> 9, n_c = 25 -> 225; times the number of filters, plus "
                   "one bias each. Engine: Conv2d(...).weight[0].size, .weight.size and "
                   ".parameters().",
        result={name: r["derived"] for name, r in rows.items()},
        engine={name: r["engine"] for name, r in rows.items()},
        passed=bool(ok),
        source="seed 003 (CNN in Keras)",
        quotes=[KERAS_FILTERS_1],
        details={"derived_per_filter": {name: r["derived"]["per_filter"]
                                        for name, r in rows.items()},
                 "second layer's filters": "derived: 1250 / (5·5) = 50 (shapes/keras_chain)"},
    )


# --------------------------------------------------------------------------- LeNet-5

#: LeCun et al. 1998, Table I: which S2 feature maps (rows 0-5) each C3 map (columns 0-15)
#: takes as input, transcribed row by row ("X" = connected).
LENET_C3_TABLE = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)

#: The paper's stated (trainable parameters, connections) per layer, as printed.
LENET_PRINTED = {
    "C1": (156, 122_304),
    "S2": (12, 5_880),
    "C3": (1_516, 151_600),
    "S4": (32, 2_000),
    "C5": (48_120, 48_120),
    "F6": (10_164, 10_164),
}


LENET_PAPER = "LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition"
#: the paper's statement of each layer's numbers (Section II-B) and of the totals (Section
#: II), paraphrased: the paper is not among the seeds and its wording could not be checked
#: here, so only the numbers (read in order) are the paper's
LENET_QUOTES = {
    "C1": printed(LENET_PRINTED["C1"], LENET_PAPER,
                  "C1: 156 trainable parameters, 122,304 connections", "Section II-B",
                  verbatim=False),
    "S2": printed(LENET_PRINTED["S2"], LENET_PAPER,
                  "S2: 12 trainable parameters, 5,880 connections", "Section II-B",
                  verbatim=False),
    "C3": printed(LENET_PRINTED["C3"], LENET_PAPER,
                  "C3: 1,516 trainable parameters, 151,600 connections", "Section II-B",
                  verbatim=False),
    "S4": printed(LENET_PRINTED["S4"], LENET_PAPER,
                  "S4: 32 trainable parameters, 2,000 connections", "Section II-B",
                  verbatim=False),
    "C5": printed(LENET_PRINTED["C5"][:1], LENET_PAPER,
                  "C5: 48,120 trainable connections", "Section II-B", verbatim=False),
    "F6": printed(LENET_PRINTED["F6"][:1], LENET_PAPER,
                  "F6: 10,164 trainable parameters", "Section II-B", verbatim=False),
}
LENET_TOTALS = printed((340_908, 60_000), LENET_PAPER,
                       "the network has 340,908 connections but only 60,000 trainable free "
                       "parameters, because of the weight sharing", "Section II",
                       verbatim=False)


def lenet_c3_mask() -> np.ndarray:
    """(16, 6) 0/1 matrix: ``mask[j, i] = 1`` when C3 map j takes S2 map i as input."""
    rows = [[1 if ch == "X" else 0 for ch in row] for row in LENET_C3_TABLE]
    return np.array(rows, dtype=np.int64).T


def _subsampling(x: Any, coefficient: Any, bias: Any) -> Any:
    """LeNet's subsampling: the sum of each 2x2 block times a coefficient, plus a bias."""
    c = x.shape[1]
    import tinygrad_cnn.nn.functional as F

    total = F.avg_pool2d(x, 2) * 4.0
    return total * coefficient.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1)


@item("parameters")
def lenet5() -> Item:
    """LeNet-5 (LeCun et al. 1998): parameters and connections of C1, S2, C3, S4, C5, F6."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    Conv2d, Linear = _modules()
    mask = lenet_c3_mask()
    inputs_per_c3 = mask.sum(axis=1)  # how many S2 maps each C3 map sees

    # symbolic per-layer rules from the shapes
    k, n_in, n_out, o = sp.symbols("k n_in n_out o", integer=True, positive=True)
    conv_params = n_out * (n_in * k**2 + 1)  # weight (n_out, n_in, k, k) + bias
    conv_conn = o**2 * conv_params  # every output unit of an o×o map uses its weights + bias
    sub_params = 2 * n_out  # one coefficient and one bias per map
    sub_conn = o**2 * n_out * (4 + 1)  # 4 inputs + bias per output unit
    sizes = [32]
    for kernel, stride in ((5, 1), (2, 2), (5, 1), (2, 2), (5, 1)):
        sizes.append(output_size(sizes[-1], kernel, stride))  # 28, 14, 10, 5, 1
    c3_params = sum(int(s) * 25 + 1 for s in inputs_per_c3)  # Σ_j (|S_j|·k² + 1)
    derived = {
        "C1": (conv_params.subs({n_out: 6, n_in: 1, k: 5}),
               conv_conn.subs({n_out: 6, n_in: 1, k: 5, o: sizes[1]})),
        "S2": (sub_params.subs(n_out, 6), sub_conn.subs({n_out: 6, o: sizes[2]})),
        "C3": (c3_params, sizes[3] ** 2 * c3_params),
        "S4": (sub_params.subs(n_out, 16), sub_conn.subs({n_out: 16, o: sizes[4]})),
        "C5": (conv_params.subs({n_out: 120, n_in: 16, k: 5}),
               conv_conn.subs({n_out: 120, n_in: 16, k: 5, o: sizes[5]})),
        "F6": (84 * (120 + 1), 84 * (120 + 1)),
    }
    derived = {name: (int(p), int(c)) for name, (p, c) in derived.items()}

    # the engine: real modules and a backward pass of ones
    def conv_layer(cin: int, cout: int, size: int, weight_mask: np.ndarray | None = None):
        module = Conv2d(cin, cout, 5, dtype=np.float64)
        _ones_like_params(module)
        w = module.weight if weight_mask is None else \
            module.weight * Tensor(np.broadcast_to(weight_mask[:, :, None, None],
                                                   module.weight.shape).astype(np.float64))
        conn = engine_connections(lambda x: F.conv2d(x, w, module.bias), (1, cin, size, size),
                                  [module.bias])
        if weight_mask is None:
            params = _module_count(module)
        else:  # trainable = weights whose gradient can be non-zero, plus the biases
            random = Tensor(np.random.default_rng(0).standard_normal(module.weight.shape),
                            requires_grad=True)
            masked = random * Tensor(w.numpy())
            F.conv2d(Tensor(np.ones((1, cin, size, size))), masked).sum().backward()
            params = int(np.count_nonzero(random.grad.numpy())) + int(module.bias.size)
        return params, conn

    def sub_layer(maps: int, size: int):
        coefficient = Tensor(np.ones(maps), requires_grad=True)
        bias = Tensor(np.ones(maps), requires_grad=True)
        conn = engine_connections(lambda x: _subsampling(x, coefficient, bias),
                                  (1, maps, size, size), [bias])
        return coefficient.size + bias.size, conn

    engine: dict[str, tuple[int, int]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, (params, conn) in {
        "C1": conv_layer(1, 6, 32),
        "S2": sub_layer(6, 28),
        "C3": conv_layer(6, 16, 14, mask),
        "S4": sub_layer(16, 10),
        "C5": conv_layer(16, 120, 5),
    }.items():
        engine[name] = (int(params), conn["total"])
        shapes[name] = conn["output_shape"]
    f6 = Linear(120, 84, dtype=np.float64)
    _ones_like_params(f6)
    conn = engine_connections(f6, (1, 120), [f6.bias])
    engine["F6"] = (_module_count(f6), conn["total"])
    shapes["F6"] = conn["output_shape"]

    errata = []
    for name, (p, c) in LENET_PRINTED.items():
        if derived[name][0] != p:
            errata.append(Erratum("LeCun et al. 1998 (cited by seed 004)",
                                  f"{name} trainable parameters", p, derived[name][0]))
        if derived[name][1] != c:
            errata.append(Erratum("LeCun et al. 1998 (cited by seed 004)",
                                  f"{name} connections", c, derived[name][1]))
    # the totals: C1..F6 hold every trainable parameter; the output layer's 10 Euclidean RBF
    # units each compare the 84 F6 outputs with a fixed (not trained) code: 840 connections
    total_params = sum(p for p, _ in derived.values())
    total_conn = sum(c for _, c in derived.values()) + 10 * 84
    engine_total = sum(p for p, _ in engine.values())
    compare_printed(errata, LENET_TOTALS, (total_conn, total_params),
                    "totals (connections, trainable parameters)")
    expected_shapes = {"C1": (1, 6, 28, 28), "S2": (1, 6, 14, 14), "C3": (1, 16, 10, 10),
                       "S4": (1, 16, 5, 5), "C5": (1, 120, 1, 1), "F6": (1, 84)}
    ok = derived == engine and shapes == expected_shapes and sizes == [32, 28, 14, 10, 5, 1] \
        and engine_total == total_params
    table_counts = {int(s): int((inputs_per_c3 == s).sum()) for s in sorted(set(inputs_per_c3))}
    return Item(
        topic="parameters", name="lenet5",
        statement="LeNet-5's layers have (trainable parameters, connections): C1 (156, "
                  "122,304), S2 (12, 5,880), C3 (1,516, 151,600), S4 (32, 2,000), C5 (48,120, "
                  "48,120), F6 (10,164, 10,164).",
        derivation=(
            f"Map sizes from output_size: {sizes}. Convolution: parameters "
            f"${sp.latex(conv_params)}$, connections ${sp.latex(conv_conn)}$ (the bias counts "
            f"as a connection). Subsampling: ${sp.latex(sub_params)}$ parameters (one "
            f"coefficient, one bias per map), ${sp.latex(sub_conn)}$ connections. C3 follows "
            f"Table I: {table_counts} (number of S2 inputs: number of C3 maps), so its "
            f"parameters are Σ_j (|S_j|·25 + 1) = {c3_params}. F6: 84·(120 + 1). Totals: "
            "the parameters of C1..F6 add up to the paper's 60,000; their connections plus the "
            "output layer's 10·84 = 840 (fixed RBF codes, not trained) to its 340,908. Engine: "
            "Conv2d / Linear modules (C3 with its weights masked by the table; trainable = "
            "weights with a non-zero gradient), subsampling as 4·avg_pool2d·coefficient + "
            "bias, connections from a backward pass of ones."),
        result=derived,
        engine=engine,
        passed=bool(ok),
        source="LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition "
               "(seed 004's additional reading)",
        errata=errata, quotes=[*LENET_QUOTES.values(), LENET_TOTALS],
        details={"printed": LENET_PRINTED,
                 "totals": {"trainable parameters (C1..F6)": total_params,
                            "engine parameters (C1..F6)": engine_total,
                            "connections (C1..F6 + 840 of the output RBF layer)": total_conn},
                 "c3_inputs_per_map": inputs_per_c3.tolist(),
                 "c3_table": list(LENET_C3_TABLE), "output_shapes": shapes,
                 "map_sizes": sizes},
    )
