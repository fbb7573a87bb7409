"""The documents' claims in words, each turned into something checkable.

Translation equivariance of convolution (an identity on symbols, shifted by one pixel) and
the limited shift invariance of max pooling (a measured property, with its limits);
pooling is non-linear, averaging is linear; a convolution is a sparse, weight-shared fully
connected layer; the linear filter is linear; the beak detector finds its pattern anywhere;
speech filters move along frequency; images as 2-D / 3-D arrays and the 1x784 flatten;
AlphaGo's board encoding and why it has no max pooling; seed 001's deep conv net (its text
keeps only the title: the slide is reconstructed from the course it comes from); Wu's
Kronecker-product chain as printed in seed 004, line by line with symbolic matrices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

from .core import Item, item, printed
from .gradients import symbol_array
from .shapes import output_size

TOPIC = "claims"


def _said(document: str, quote: str, where: str = "") -> Any:
    """A statement the document makes (its words are the value: nothing numeric is read)."""
    return printed(quote, document, quote, where)


def _zero(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and all(sp.expand(u - v) == 0 for u, v in
                                      zip(a.ravel(), b.ravel(), strict=True))


def _conv(x: np.ndarray, k: np.ndarray, **kwargs: Any) -> np.ndarray:
    return F.conv2d(Tensor(x.reshape(1, 1, *x.shape)), Tensor(k.reshape(1, 1, *k.shape)),
                    **kwargs).numpy()[0, 0]


# ------------------------------------------------------------------- equivariance


EQUIVARIANCE_QUOTES = [
    _said("seed 000", "Can build in invariance to certain variations we can expect - "
          "Translations, etc", "'Convolution neural networks'"),
    _said("seed 002", "Replicating units in this way allows for features to be detected "
          "**regardless of their position in the visual field**.", "'Shared Weights'"),
    _said("seed 003", "Same pattern appears in different places:", "'beak' detector"),
]


@item(TOPIC)
def translation_equivariance() -> Item:
    """conv(shift(X)) = shift(conv(X)): an identity on a symbolic image shifted by one pixel."""
    x = symbol_array("x", (5, 6))
    k = symbol_array("k", (3, 3))
    base = _conv(x, k)  # (3, 4)
    results = {}
    for name, (di, dj) in {"down": (1, 0), "right": (0, 1)}.items():
        # X shifted by (di, dj): X'[i, j] = X[i − di, j − dj]; the new first row/column are
        # fresh symbols (what enters the picture), so only the interior is compared
        shifted = symbol_array("y", x.shape)
        shifted[di:, dj:] = x[:x.shape[0] - di, :x.shape[1] - dj]
        out = _conv(shifted, k)
        results[name] = _zero(out[di:, dj:], base[:base.shape[0] - di, :base.shape[1] - dj])
    sample = sp.expand(base[0, 0])
    return Item(
        TOPIC, "translation_equivariance",
        "Convolution is translation-equivariant: shifting the image by one pixel shifts the "
        "feature map by one pixel (where the window sees only shifted pixels). This is what "
        "the documents mean by detecting a feature 'regardless of its position'.",
        "X is a 5x6 array of symbols x0..x29 and K a 3x3 array of symbols; X' = X shifted "
        "down (or right) by one, with fresh symbols entering. The engine's conv2d on the "
        "symbols gives polynomials; conv(X')[i + 1, j] − conv(X)[i, j] expands to 0 for "
        f"every valid (i, j) (and likewise to the right). First cell: {sample}.",
        {"conv(shift X) = shift(conv X)": "identity in x, k"}, results, all(results.values()),
        source="seeds 000, 002, 003", quotes=EQUIVARIANCE_QUOTES,
        details={"first output cell": str(sample)})


POOL_INVARIANCE_QUOTES = [
    _said("seed 002", "if we care more about whether some feature is present than exactly "
          "where it is, thus adds robustness to position", "'Pooling'"),
    _said("seed 003", "Subsampling pixels will not change the object", "'Why Pooling'"),
]


@item(TOPIC)
def max_pool_shift_invariance() -> Item:
    """2x2 max pooling is unchanged by some one-pixel shifts, not all: measured, with limits."""
    rng = np.random.default_rng(0)
    # a single bright pixel: pooling output moves only when the pixel crosses a block border
    stays = moves = 0
    for i in range(7):
        for j in range(7):
            img = np.zeros((1, 1, 8, 8))
            img[0, 0, i, j] = 1.0
            shifted = np.roll(img, 1, axis=3)  # one pixel right (j ≤ 6: nothing wraps)
            a = F.max_pool2d(Tensor(img), 2).numpy()
            b = F.max_pool2d(Tensor(shifted), 2).numpy()
            stays += bool(np.array_equal(a, b))
            moves += not np.array_equal(a, b)
    # the rule: the pooled output is unchanged exactly when the pixel stays in its 2x2 block
    by_rule = sum(j % 2 == 0 for _ in range(7) for j in range(7))
    # random images: the fraction of pooled values unchanged by a one-pixel shift
    fractions = []
    for _ in range(20):
        img = rng.standard_normal((1, 1, 16, 17))
        a = F.max_pool2d(Tensor(img[..., :, :16]), 2).numpy()
        b = F.max_pool2d(Tensor(img[..., :, 1:]), 2).numpy()  # the image moved left by one
        fractions.append(float(np.mean(a == b)))
    mean_unchanged = float(np.mean(fractions))
    # for i.i.d. values a 2x2 max survives a shift when the window's max is in the shared
    # column (probability 1/2), or when the new column's max does not exceed it
    return Item(
        TOPIC, "max_pool_shift_invariance",
        "Max pooling makes the output robust to small shifts, not invariant: a 2x2 max is "
        "unchanged by a one-pixel shift when the maximum stays inside its block, and changes "
        "when it crosses a block border.",
        "One bright pixel at each (i, j) of an 8x8 image, shifted right by one: the pooled "
        f"map is unchanged in {stays} of 49 cases, exactly those with j even (the pixel "
        f"stays in its block: {by_rule}), and moves in {moves}. On 20 random 16x16 images "
        f"shifted by one column, {mean_unchanged:.2f} of the pooled values are unchanged "
        "(measured, between 0 and 1: robustness, not invariance).",
        {"unchanged (bright pixel)": by_rule, "changed": 49 - by_rule},
        {"unchanged (bright pixel)": stays, "changed": moves,
         "random images, mean fraction unchanged": round(mean_unchanged, 3)},
        stays == by_rule and moves == 49 - by_rule and 0.25 < mean_unchanged < 0.95,
        source="seeds 002, 003", quotes=POOL_INVARIANCE_QUOTES,
        details={"fractions unchanged per random image": [round(f, 3) for f in fractions]})


# --------------------------------------------------------------------- linearity


NONLINEAR_QUOTE = _said("seed 002", "Non-linear down-sampling to simplify the information in "
                        "output from convolutional layer.", "'Pooling'")
LINEAR_FILTER_QUOTE = _said("seed 000", "Linear filter (Gaussian)", "'Linear filter'")


@item(TOPIC)
def pooling_is_nonlinear() -> Item:
    """Max pooling is not linear (a counterexample); average pooling is (an identity)."""
    a = np.array([[1, 0], [0, 0]], dtype=np.float64).reshape(1, 1, 2, 2)
    b = np.array([[0, 0], [0, 1]], dtype=np.float64).reshape(1, 1, 2, 2)
    pool = lambda z: F.max_pool2d(Tensor(z), 2).numpy().item()  # noqa: E731
    additive = (pool(a + b), pool(a) + pool(b))  # 1 vs 2
    negative = (pool(-a), -pool(a))  # 0 vs −1
    # symbolic: Max(x + y) ≠ Max(x) + Max(y) as functions; the average pool is linear
    x, y = symbol_array("x", (4, 4)), symbol_array("y", (4, 4))
    c1, c2 = sp.symbols("c1 c2")
    avg = lambda z: F.avg_pool2d(Tensor(z.reshape(1, 1, 4, 4)), 2).numpy()[0, 0]  # noqa: E731
    avg_linear = _zero(avg(c1 * x + c2 * y), c1 * avg(x) + c2 * avg(y))
    ok = additive[0] != additive[1] and negative[0] != negative[1] and avg_linear
    return Item(
        TOPIC, "pooling_is_nonlinear",
        "Max pooling is a non-linear down-sampling: max(a + b) ≠ max(a) + max(b) and "
        "max(−a) ≠ −max(a) in general; average pooling is linear.",
        f"Counterexample, 2x2 blocks a = [[1, 0], [0, 0]], b = [[0, 0], [0, 1]]: pool(a + b) "
        f"= {additive[0]}, pool(a) + pool(b) = {additive[1]}; pool(−a) = {negative[0]}, "
        f"−pool(a) = {negative[1]}. avg_pool2d(c1·X + c2·Y) − (c1·avg_pool2d(X) + "
        "c2·avg_pool2d(Y)) expands to 0 on 4x4 symbol arrays.",
        {"max additive": False, "max homogeneous": False, "avg linear": True},
        {"max(a + b), max a + max b": additive, "max(−a), −max(a)": negative,
         "avg linear": avg_linear},
        bool(ok), source="seed 002", quotes=[NONLINEAR_QUOTE])


@item(TOPIC)
def linear_filter_is_linear() -> Item:
    """conv(c1·X + c2·Y, K) = c1·conv(X, K) + c2·conv(Y, K), and linear in K: identities."""
    x, y = symbol_array("x", (4, 4)), symbol_array("y", (4, 4))
    k, m = symbol_array("k", (2, 2)), symbol_array("m", (2, 2))
    c1, c2 = sp.symbols("c1 c2")
    in_image = _zero(_conv(c1 * x + c2 * y, k), c1 * _conv(x, k) + c2 * _conv(y, k))
    in_kernel = _zero(_conv(x, c1 * k + c2 * m), c1 * _conv(x, k) + c2 * _conv(x, m))
    return Item(
        TOPIC, "linear_filter_is_linear",
        "A linear filter is linear: in the image (superposition) and in the kernel.",
        "The engine's conv2d on 4x4 symbol images and 2x2 symbol kernels with symbolic "
        "coefficients c1, c2: every cell of conv(c1·X + c2·Y, K) − c1·conv(X, K) − "
        "c2·conv(Y, K) expands to 0, and likewise for c1·K + c2·M.",
        {"in the image": True, "in the kernel": True},
        {"in the image": in_image, "in the kernel": in_kernel}, in_image and in_kernel,
        source="seed 000", quotes=[LINEAR_FILTER_QUOTE])


# ------------------------------------------------------ convolution as a sparse layer


SPARSE_QUOTES = [
    _said("seed 001", "In conv. each output pixel only depends on small # of input pixels.",
          "'Why convolutions?'"),
    _said("seed 003", "Convolution v.s. Fully Connected", "the 6 x 6 image"),
    _said("seed 003", "fewer 0 0 parameters!", "'Convolution v.s. Fully Connected'"),
]


@item(TOPIC)
def conv_is_sparse_shared_fully_connected() -> Item:
    """Seed 003's 6x6 image: conv = a 16x36 matrix with 9 non-zeros per row, all rows sharing
    the 9 filter weights."""
    from .documents import SEED_003_FILTER_1, SEED_003_IMAGE

    n, f = 6, 3
    o = output_size(n, f)
    kernel = symbol_array("w", (f, f))
    # the matrix of the layer, column by column: the engine's conv of each basis image
    cols = []
    for idx in range(n * n):
        e = np.zeros(n * n, dtype=object)
        e[:] = sp.Integer(0)
        e[idx] = sp.Integer(1)
        cols.append(_conv(e.reshape(n, n), kernel).ravel())
    matrix = np.array(cols, dtype=object).T  # (16, 36)
    nonzeros = [sum(1 for v in row if v != 0) for row in matrix]
    shared = all(sorted(map(str, (v for v in row if v != 0))) ==
                 sorted(map(str, kernel.ravel())) for row in matrix)
    # the matrix times the flattened image is the convolution (Filter 1, seed 003's image)
    values = {s: v for s, v in zip(kernel.ravel(), np.array(SEED_003_FILTER_1).ravel(),
                                   strict=True)}
    dense = np.array([[sp.sympify(v).xreplace(values) for v in row] for row in matrix])
    image = np.array(SEED_003_IMAGE)
    as_fc = dense.dot(image.ravel()).reshape(o, o)
    as_conv = _conv(image.astype(np.float64), np.array(SEED_003_FILTER_1, dtype=np.float64))
    same = bool(np.array_equal(as_fc.astype(np.float64), as_conv))
    params = {"fully connected": (o * o) * (n * n), "convolution": f * f}
    ok = matrix.shape == (o * o, n * n) and set(nonzeros) == {f * f} and shared and same
    return Item(
        TOPIC, "conv_is_sparse_shared_fully_connected",
        "A convolution is a fully connected layer with most weights zero (each output sees "
        f"{f * f} of the {n * n} inputs) and the rest shared (every output uses the same "
        f"{f * f} weights): {params['fully connected']} weights become {params['convolution']}.",
        f"The engine's conv2d of each of the {n * n} one-hot 6x6 images with a symbolic 3x3 "
        f"kernel gives a column of the layer's {o * o}x{n * n} matrix. Each row has "
        f"{f * f} non-zero entries, and they are the 9 kernel symbols; with Filter 1's values "
        "the matrix times the flattened image equals conv2d of the image.",
        {"matrix": f"{o * o}x{n * n}", "non-zeros per row": f * f, "weights": params},
        {"matrix": "x".join(map(str, matrix.shape)), "non-zeros per row": sorted(set(nonzeros)),
         "rows share the kernel": shared, "matrix · vec(image) = conv2d": same},
        bool(ok), source="seeds 001, 002, 003", quotes=SPARSE_QUOTES,
        details={"first row": [str(v) for v in matrix[0]]})


BEAK_QUOTES = [
    _said("seed 003", "Some patterns are much smaller than the whole image",
          "'Consider learning an image'"),
    _said("seed 003", "\"beak\" detector", "the beak detector"),
    _said("seed 003", "They can be compressed to the same parameters.", "'middle beak'"),
]


@item(TOPIC)
def beak_detector() -> Item:
    """One small shared filter finds a small pattern wherever it is (upper-left or middle)."""
    beak = np.array([[0, 1, 0], [1, 1, 1], [1, 0, 1]], dtype=np.float64)  # constructed
    kernel = 2 * beak - 1  # +1 on the pattern, −1 off it: the pattern's own score is 5
    image = np.zeros((10, 10))
    places = [(0, 0), (4, 5)]  # the upper-left and the middle
    for i, j in places:
        image[i:i + 3, j:j + 3] = beak
    response = _conv(image, kernel)
    best = float(response.max())
    found = sorted(tuple(int(v) for v in p) for p in np.argwhere(response == best))
    score = int(beak.sum())  # the pattern against itself: every +1 hits a 1
    return Item(
        TOPIC, "beak_detector",
        "A small pattern (a 3x3 'beak') is found wherever it appears by one small filter "
        "whose weights are shared by every position: its response peaks exactly where the "
        "pattern is.",
        "Kernel = 2·beak − 1 (+1 on the pattern, −1 elsewhere), so the pattern scores "
        f"Σ beak = {score} and any other 3x3 0/1 window less. The pattern is put at "
        f"{places} of a 10x10 image; the engine's conv2d response peaks at {found}.",
        {"peaks": places, "peak value": score},
        {"peaks": found, "peak value": best},
        found == places and best == score,
        source="seed 003 (the beak is constructed: the slide's picture is not in the text)",
        quotes=BEAK_QUOTES)


# ------------------------------------------------------------- speech, arrays, Go


SPEECH_QUOTE = _said("seed 003", "The filters move in the frequency direction.",
                     "'CNN in speech recognition'")


@item(TOPIC)
def speech_filters_move_along_frequency() -> Item:
    """A filter spanning all time frames slides along frequency only: a 1-D convolution."""
    rng = np.random.default_rng(3)
    freq, frames, k = 12, 5, 3
    spectrogram = rng.standard_normal((freq, frames))
    kernel = rng.standard_normal((k, frames))
    as_2d = F.conv2d(Tensor(spectrogram.reshape(1, 1, freq, frames)),
                     Tensor(kernel.reshape(1, 1, k, frames))).numpy()[0, 0]
    # conv1d over frequency with the time frames as input channels
    as_1d = F.conv1d(Tensor(spectrogram.T.reshape(1, frames, freq)),
                     Tensor(kernel.T.reshape(1, frames, k))).numpy()[0, 0]
    # moving the sound up in frequency moves the response by as much
    up = F.conv1d(Tensor(np.roll(spectrogram, 2, axis=0).T.reshape(1, frames, freq)),
                  Tensor(kernel.T.reshape(1, frames, k))).numpy()[0, 0]
    derived = output_size(freq, k)
    ok = (as_2d.shape == (derived, 1) and np.allclose(as_2d[:, 0], as_1d, rtol=1e-12,
                                                        atol=1e-12)
          and np.allclose(up[2:], as_1d[:-2], rtol=1e-12, atol=1e-12))
    return Item(
        TOPIC, "speech_filters_move_along_frequency",
        "On a spectrogram (frequency x time), a filter as wide as the time axis can only "
        "move in the frequency direction: the layer is a 1-D convolution over frequency, "
        "and a sound moved up in frequency moves the response with it.",
        f"output_size({freq}, {k}) = {derived} positions along frequency, 1 along time. The "
        "engine's conv2d with a (3, 5) kernel on a 12x5 spectrogram equals conv1d over "
        "frequency with the 5 frames as channels (float64, 1e-12); rolling the spectrogram "
        "2 bins up shifts conv1d's output by 2.",
        {"output": (derived, 1)}, {"output": tuple(as_2d.shape)}, bool(ok),
        source="seed 003", quotes=[SPEECH_QUOTE])


ARRAY_QUOTES = [
    _said("seed 004", "B / W Image 2x2px 2d array", "'Convolutional Neural Networks'"),
    _said("seed 004", "Colored Image 2x2px 3d array Red channel Green channel Blue channel",
          "'Convolutional Neural Networks'"),
    printed((28, 28, 784), "seed 002", "Transform a 28x28 image to a 1x784 row vector.",
            "'How Did We Solve MNIST?'"),
]


@item(TOPIC)
def images_as_arrays() -> Item:
    """B/W image = 2-D array, colour = 3-D (a channel axis); a 28x28 image flattens to 1x784."""
    h, w = sp.symbols("H W", integer=True, positive=True)
    size = (h * w).subs({h: 28, w: 28})
    image = np.arange(28 * 28, dtype=np.float64).reshape(1, 28, 28)
    flat = F.flatten(Tensor(image), 1).numpy()
    # row-major: pixel (i, j) lands at i·28 + j
    order_ok = all(flat[0, i * 28 + j] == image[0, i, j] for i in range(28) for j in range(28))
    # a 2x2 colour image, channels first (the engine's NCHW): a filter spanning the three
    # channels sums them into one map; per channel it is three 2-D filters added
    colour = np.arange(12, dtype=np.float64).reshape(1, 3, 2, 2)
    weights = np.arange(1, 13, dtype=np.float64).reshape(1, 3, 2, 2)
    conv_out = F.conv2d(Tensor(colour), Tensor(weights)).numpy()
    per_channel = sum(F.conv2d(Tensor(colour[:, c:c + 1]), Tensor(weights[:, c:c + 1])).numpy()
                      for c in range(3))
    conv_needs = conv_out.shape
    ok = flat.shape == (1, int(size)) and order_ok and conv_needs == (1, 1, 1, 1) \
        and bool(np.array_equal(conv_out, per_channel))
    return Item(
        TOPIC, "images_as_arrays",
        "A black-and-white image is a 2-D array (height x width), a colour image a 3-D array "
        "(a red, a green and a blue 2-D array); a filter on a colour image spans all three "
        "channels and gives one 2-D map. A 28x28 image flattened is a 1x784 row vector.",
        f"28·28 = {size}; the engine's flatten puts pixel (i, j) at i·28 + j (row-major, "
        "checked for all 784); a (1, 3, 2, 2) filter on a 3x2x2 colour image gives one 1x1 "
        "map.",
        {"flatten": (1, int(size)), "colour filter output": (1, 1, 1, 1)},
        {"flatten": tuple(flat.shape), "row-major": order_ok,
         "colour filter output": tuple(conv_needs)},
        bool(ok), source="seeds 002, 004", quotes=ARRAY_QUOTES)


ALPHAGO_QUOTES = [
    printed((19, 1, -1, 0), "seed 003", "19 matrix Black: 1 white: -1 none: 0",
            "AlphaGo: the board as a 19 x 19 matrix"),
    _said("seed 003", "Note: AlphaGo does not use Max Pooling.", "AlphaGo's policy network"),
]


@item(TOPIC)
def alphago_board_no_max_pooling() -> Item:
    """Go boards as 19x19 arrays (black 1, white −1, empty 0); max pooling would merge moves."""
    board = np.zeros((19, 19))
    board[3, 3], board[15, 16] = 1, -1
    other = board.copy()
    other[3, 3], other[2, 2] = 0, 1  # the black stone one point away, in the same 2x2 block
    a = F.max_pool2d(Tensor(board[None, None]), 2).numpy()
    b = F.max_pool2d(Tensor(other[None, None]), 2).numpy()
    merged = bool(np.array_equal(a, b)) and not np.array_equal(board, other)
    # a 3x3 convolution with 'same' padding keeps one value per point: the two stay apart
    w = np.random.default_rng(5).standard_normal((1, 1, 3, 3))
    ca = F.conv2d(Tensor(board[None, None]), Tensor(w), padding=1).numpy()
    cb = F.conv2d(Tensor(other[None, None]), Tensor(w), padding=1).numpy()
    distinct = not np.allclose(ca, cb)
    pooled = output_size(19, 2, 2)
    ok = merged and distinct and ca.shape[2:] == (19, 19) and a.shape[2:] == (pooled, pooled)
    return Item(
        TOPIC, "alphago_board_no_max_pooling",
        "AlphaGo's input is the 19x19 board as a matrix (black 1, white −1, none 0). It uses "
        "no max pooling: pooling would map two different positions (a stone moved by one "
        "point inside a 2x2 block) to the same input of the next layer, and in Go one point "
        "decides the game.",
        f"Two boards that differ by one black stone moved diagonally by one point: "
        f"max_pool2d(2) gives the same {pooled}x{pooled} map for both "
        f"({'checked' if merged else 'NOT so'}); a 3x3 "
        "convolution with padding 1 keeps 19x19 and tells them apart.",
        {"pooled boards equal": True, "convolved boards differ": True},
        {"pooled boards equal": merged, "convolved boards differ": distinct},
        bool(ok), source="seed 003 (AlphaGo, Silver et al. 2016)", quotes=ALPHAGO_QUOTES)


# --------------------------------------------------------- seed 001's deep conv net

DEEP_NET_TITLE = _said("seed 001", "E.g., A deep Conv Net", "the slide's title only")
#: reconstructed, not printed: the course's example (Andrew Ng's CNN course), layer by layer:
#: (filter size, stride, padding, number of filters)
DEEP_NET_LAYERS = ((3, 1, 0, 10), (5, 2, 0, 20), (5, 2, 0, 40))


@item(TOPIC)
def deep_conv_net_reconstructed() -> Item:
    """Seed 001's 'A deep Conv Net' (reconstructed): 39x39x3 -> 37x37x10 -> 17x17x20 ->
    7x7x40 -> 1,960."""
    n = sp.Symbol("n", integer=True, positive=True)
    side, chain = n, [n]
    for f, s, p, _ in DEEP_NET_LAYERS:
        side = output_size(side, f, s, p)
        chain.append(side)
    sizes = [int(e.subs(n, 39)) for e in chain]
    channels = [3] + [k for *_, k in DEEP_NET_LAYERS]
    flat = sizes[-1] ** 2 * channels[-1]
    y = Tensor(np.zeros((1, 3, 39, 39), dtype=np.float32))
    engine = [tuple(y.shape[1:])]
    for (f, s, p, k), c in zip(DEEP_NET_LAYERS, channels, strict=False):
        y = F.conv2d(y, Tensor(np.zeros((k, c, f, f), dtype=np.float32)), stride=s, padding=p)
        engine.append(tuple(y.shape[1:]))
    flat_engine = F.flatten(y, 1).shape[1]
    derived = [(c, s, s) for c, s in zip(channels, sizes, strict=True)]
    return Item(
        TOPIC, "deep_conv_net_reconstructed",
        "RECONSTRUCTED, not printed: seed 001 keeps only the title 'E.g., A deep Conv Net'; "
        "the slide is the course's well-known example 39x39x3 -> (3x3, stride 1, 10 filters) "
        "37x37x10 -> (5x5, stride 2, 20) 17x17x20 -> (5x5, stride 2, 40) 7x7x40 -> 1,960.",
        "Composing output_size: " + " -> ".join(str(e) for e in chain[1:])
        + f"; at n = 39: {sizes}; flatten {sizes[-1]}·{sizes[-1]}·{channels[-1]} = {flat}. "
        "The engine runs the three convolutions (zero weights: only shapes are compared).",
        {"volumes": derived, "flatten": flat}, {"volumes": engine, "flatten": flat_engine},
        derived == engine and flat == flat_engine == 1960,
        source="seed 001 (title only; reconstructed from the course it comes from)",
        quotes=[DEEP_NET_TITLE],
        details={"label": "reconstructed"})


# --------------------------------------------------------------------- Wu's chain

WU_QUOTE = printed("the chain", "seed 004", r"&= \text{vec} \left(I \frac{\partial z}"
                   r"{\partial Y} F^T \right)^T \\ &= \text{vec} \left(\frac{\partial z}"
                   r"{\partial Y} F^T \right)^T,", "Jianxin Wu's derivation, as printed")


@item(TOPIC)
def wu_kronecker_chain() -> Item:
    """Seed 004's chain ∂z/∂vec(y)ᵀ(Fᵀ ⊗ I) = … = vec(∂z/∂Y Fᵀ)ᵀ, line by line, symbolically."""
    m, d, k = 3, 2, 2  # ∂z/∂Y is m x d, F is k x d
    G = sp.Matrix(m, d, lambda i, j: sp.Symbol(f"g{i}{j}"))
    Fm = sp.Matrix(k, d, lambda i, j: sp.Symbol(f"f{i}{j}"))
    eye = sp.eye(m)

    def vec(a: sp.Matrix) -> sp.Matrix:  # column-major, as in Wu
        return sp.Matrix([a[i, j] for j in range(a.cols) for i in range(a.rows)])

    from sympy.physics.quantum import TensorProduct

    g = vec(G)
    lines = [
        g.T * TensorProduct(Fm.T, eye),
        (TensorProduct(Fm, eye) * g).T,
        (TensorProduct(Fm, eye) * vec(G)).T,
        vec(eye * G * Fm.T).T,
        vec(G * Fm.T).T,
    ]
    steps = [sp.simplify(lines[i] - lines[i + 1]) == sp.zeros(*lines[i].shape)
             for i in range(len(lines) - 1)]
    # the engine: the same product with Tensor matmul on the symbols
    engine = (Tensor(np.array(G.tolist(), dtype=object))
              @ Tensor(np.array(Fm.T.tolist(), dtype=object))).numpy()
    engine_ok = sp.Matrix(engine.tolist()) == sp.expand(G * Fm.T)
    return Item(
        TOPIC, "wu_kronecker_chain",
        "Wu's chain as seed 004 prints it: ∂z/∂vec(y)ᵀ(Fᵀ ⊗ I) = ((F ⊗ I)∂z/∂vec(y))ᵀ = "
        "((F ⊗ I)vec(∂z/∂Y))ᵀ = vec(I·∂z/∂Y·Fᵀ)ᵀ = vec(∂z/∂Y·Fᵀ)ᵀ: every line is correct.",
        "With ∂z/∂Y a 3x2 matrix of symbols g_ij, F a 2x2 matrix of symbols f_ij, vec "
        "column-major and ⊗ the Kronecker product (sympy TensorProduct): each line minus "
        "the next simplifies to the zero row (the transpose rule, vec(∂z/∂Y) = ∂z/∂vec(y), "
        "vec(AXB) = (Bᵀ ⊗ A)vec(X), I·A = A). The engine's Tensor matmul of the same "
        "symbols gives ∂z/∂Y·Fᵀ.",
        lines[-1], {"∂z/∂Y·Fᵀ (engine)": [[str(v) for v in row] for row in engine]},
        all(steps) and engine_ok,
        source="seed 004 (Jianxin Wu, Introduction to Convolutional Neural Networks, 2017)",
        quotes=[WU_QUOTE],
        details={"each line equals the next": steps})
