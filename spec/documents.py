"""The worked examples of the course documents, reproduced cell by cell.

Each input and filter is transcribed literally from the seed text (``/shared/seeds``), as
is every result the document prints legibly. The engine computes each example in float32,
float64 and exact arithmetic (object arrays of ``fractions.Fraction``) and is compared, cell
by cell, with SymPy's exact sum and with the printed values. A printed value that disagrees
with the math is reported as an :class:`~spec.core.Erratum`; it does not fail the item as
long as the engine agrees with the math. Nothing printed is ever adjusted, and no value the
extraction lost is filled in as if it had been printed.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

from .convolution import as_fractions, sympy_correlate2d
from .core import Erratum, Item, item, printed

TOPIC = "documents"

SEED_001 = "seed 001 (CNN lecture: 'Convolutional filters')"
SEED_003 = "seed 003 (CNN lecture: 'Convolution' / 'Max Pooling', 6 x 6 image)"
SEED_004 = "seed 004 (SuperDataScience slides: 'Step 1 - Convolution')"

DTYPES = ("float32", "float64", "exact")


# --------------------------------------------------------------------------- helpers


def _engine(x: Any, w: Any, dtype: str, **kwargs: Any) -> Tensor:
    """Run ``F.conv2d`` on (N, C, H, W) / (O, C, KH, KW) integer arrays in the given dtype."""
    x, w = np.asarray(x), np.asarray(w)
    if dtype == "exact":
        xx, ww = as_fractions(x), as_fractions(w)
    else:
        xx, ww = x.astype(dtype), w.astype(dtype)
    return F.conv2d(Tensor(xx), Tensor(ww), **kwargs)


def _exact(z: Any) -> sp.Rational:
    """An engine value (Fraction or float holding an integer) as a SymPy rational, exactly."""
    if isinstance(z, Fraction):
        return sp.Rational(z.numerator, z.denominator)
    if isinstance(z, (float, np.floating)):
        return sp.Rational(*float(z).as_integer_ratio())
    return sp.Rational(z)


def _compare(engine: np.ndarray, exact: sp.Matrix) -> list[tuple[int, int]]:
    """Cells (0-based) where the engine's value is not exactly SymPy's value."""
    rows, cols = exact.shape
    return [(i, j) for i in range(rows) for j in range(cols)
            if _exact(engine[i, j]) != exact[i, j]]


def _printed_errata(document: str, what: str, printed: list[list[Any]],
                    exact: sp.Matrix) -> tuple[list[Erratum], int]:
    """Errata for printed cells that differ from the math; ``None`` marks an illegible cell."""
    errata, compared = [], 0
    for i, row in enumerate(printed):
        for j, value in enumerate(row):
            if value is None:
                continue
            compared += 1
            if sp.sympify(value) != exact[i, j]:
                errata.append(Erratum(document, f"{what}, row {i + 1}, column {j + 1} "
                                      "(1-based)", value, int(exact[i, j])))
    return errata, compared


def _all_dtypes(x: Any, w: Any, exact: list[sp.Matrix], outputs: dict | None = None,
                **kwargs: Any) -> tuple[dict[str, list], bool, np.ndarray]:
    """Engine output per dtype, and whether every output channel matches ``exact`` exactly.

    Returns the mismatching cells (channel, row, column; 0-based) per dtype, whether there
    are none, and the exact (Fraction) output; ``outputs`` collects every dtype's output.
    """
    mismatches: dict[str, list] = {}
    outputs = {} if outputs is None else outputs
    for dtype in DTYPES:
        out = _engine(x, w, dtype, **kwargs).numpy()[0]
        bad = [(o, *cell) for o, m in enumerate(exact) for cell in _compare(out[o], m)]
        mismatches[dtype] = bad
        outputs[dtype] = out
    ok = all(not bad for bad in mismatches.values())
    return mismatches, ok, outputs["exact"]


def _strs(a: Any) -> list:
    return np.vectorize(str, otypes=[object])(np.asarray(a, dtype=object)).tolist()


# ---------------------------------------------------------------------------- seed 001

SEED_001_INPUT = [[3, 5, 2, 8, 1], [9, 7, 5, 4, 3], [2, 0, 6, 1, 6], [6, 3, 7, 9, 2],
                  [1, 4, 9, 5, 1]]
SEED_001_FILTER = [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
SEED_001_QUOTES = [
    printed(SEED_001_INPUT, "seed 001", "Input Feature Map 3 5 2 8 1 9 7 5 4 3 2 0 6 1 6 6 3 7 9 "
            "2 1 4 9 5 1 Convolutional Filter", "'Convolutional filters'"),
    printed(SEED_001_FILTER, "seed 001", "Convolutional Filter 1 0 0 1 1 0 0 0 1 Input Feature "
            "Map", "'Convolutional filters'"),
]
#: the "Input Feature Map" with the first window's products, rows as the text prints them
SEED_001_FIRST_WINDOW = ["3×1\t5×0\t2×0\t8\t1", "9×1\t7×1\t5×0\t4\t3", "2×0\t0×0\t6×1\t1\t6",
                         "6\t3\t7\t9\t2", "1\t4\t9\t5\t1"]
SEED_001_QUOTES.append(printed(SEED_001_FIRST_WINDOW, "seed 001",
                               "\n".join(SEED_001_FIRST_WINDOW), "the first window's products"))


@item(TOPIC)
def seed001_5x5_input_3x3_filter() -> Item:
    """Seed 001: the 5x5 input map and the 3x3 filter; the first window's products."""
    exact = sympy_correlate2d(SEED_001_INPUT, SEED_001_FILTER)
    # the printed first window: "a×b" cells must be (input, filter) pairs at their positions
    products, pairs_ok = [], True
    for i, line in enumerate(SEED_001_FIRST_WINDOW):
        for j, cell in enumerate(line.split("\t")):
            if "×" in cell:
                a, b = (int(z) for z in cell.split("×"))
                pairs_ok = pairs_ok and a == SEED_001_INPUT[i][j] and b == SEED_001_FILTER[i][j]
                products.append(a * b)
            else:
                pairs_ok = pairs_ok and int(cell) == SEED_001_INPUT[i][j]
    window_ok = len(products) == 9 and sum(products) == exact[0, 0]
    x = np.array(SEED_001_INPUT).reshape(1, 1, 5, 5)
    w = np.array(SEED_001_FILTER).reshape(1, 1, 3, 3)
    mismatches, ok, out = _all_dtypes(x, w, [exact])
    return Item(
        TOPIC, "seed001_5x5_input_3x3_filter",
        "Seed 001's 5x5 input feature map convolved (cross-correlated) with its 3x3 filter: the "
        "first window's products 3×1 5×0 2×0 / 9×1 7×1 5×0 / 2×0 0×0 6×1 sum to the first "
        "output cell; the full output is 3x3.",
        "SymPy's exact sum Y[i, j] = Σ_{p,q} X[i + p, j + q]·K[p, q] over the 3x3 windows; "
        f"the printed products are {products}, sum {sum(products)}. Engine: F.conv2d in "
        "float32, float64 and Fractions, compared cell by cell.",
        exact, _strs(out[0]), bool(ok and pairs_ok and window_ok),
        source=SEED_001, quotes=SEED_001_QUOTES,
        details={"first window products (printed)": products,
                 "printed pairs are (input, filter) at their positions": pairs_ok,
                 "engine mismatches per dtype": mismatches,
                 "printed result cells": "none: the document prints only the first window's "
                                         "products, not the output map"})


# ---------------------------------------------------------------------------- seed 003

#: every printed copy (or fragment) of the 6x6 image: (first row, first column, rows).
#: The extraction renders some 1s as "~"; each copy is transcribed as printed.
SEED_003_IMAGE_COPIES = {
    "'A filter' slide": (0, 0, ["1 0 0 0 0 1", "0 ~ 0 0 ~ 0", "0 0 1 1 0 0",
                                "1 0 0 0 1 0", "0 1 0 0 1 0", "0 0 1 0 1 0"]),
    "'stride=1' slide, first window": (0, 0, ["1 0 0", "0 1 0"]),
    "'stride=2' slide": (1, 0, ["0 1 0 0 1", "0 0 1 1 0", "1 0 0 0 1", "0 1 0 0 1",
                                "0 0 1 0 1"]),
    "'Convolution stride=1' slide": (0, 0, ["1 0 0 0 0 1", "0 ~ 0 0 1 0", "0 0 1 1 0 0",
                                            "1 0 0 0 1 0", "0 1 0 0 1 0", "0 0 1 0 1 0"]),
    "'Convolution v.s. Fully Connected' slide": (0, 0, ["1 0 0 0 0 1", "0 ~ 0 0 ~ 0",
                                                        "0 0 1 1 0 0", "1 0 0 0 ~ 0",
                                                        "0 1 0 0 1 0", "0 0 1 0 1 0"]),
    "'Convolution v.s. Fully Connected' slide, inset": (0, 0, ["1 0 0 0", "0 1 0 0",
                                                               "0 0 1 1", "1 0 0 0"]),
}
SEED_003_IMAGE = [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0],
                  [1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]]
SEED_003_FILTER_1 = [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
SEED_003_FILTER_2 = [[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]]
#: shapes printed legibly on the 'Repeat this for each filter' slide
SEED_003_PRINTED_SHAPES = ["6 x 6 image", "Two 4 x 4 images", "Forming 2 x 4 x 4 matrix"]
#: a printed fragment of a feature map ("Convolution / 3 -1 / ... / Max Pooling" on the 'CNN
#: in Keras' slide); its position in the map is not legible
SEED_003_FRAGMENT = [3, -1]
#: the exact text of each copy of the image (whitespace normalised), by copy
_COPY_QUOTES = {
    "'A filter' slide": "1 0 0 0 0 1 0 ~ 0 0 ~ 0 0 0 1 1 0 0 1 0 0 0 1 0 0 1 0 0 1 0 0 0 1 0 1 0 "
                        "Filter 1",
    "'stride=1' slide, first window": "1 0 0 <sup>C</sup> 6 x 6 image 0 1 0 C",
    "'stride=2' slide": "0 1 0 0 1 6 x 6 ima ige 0 0 1 1 0 1 0 0 0 1 0 1 0 0 1 0 0 1 0 1",
    "'Convolution stride=1' slide": "1 0 0 0 0 1 0 ~ 0 0 1 0 0 0 1 1 0 0 1 0 0 0 1 0 0 1 0 0 1 "
                                    "0 0 0 1 0 1 0",
    "'Convolution v.s. Fully Connected' slide": "Convolution v.s. Fully Connected 1 0 0 0 0 1 0 "
                                                "~ 0 0 ~ 0 0 0 1 1 0 0 1 0 0 0 ~ 0 0 1 0 0 1 "
                                                "0 0 0 1 0 1 0",
    "'Convolution v.s. Fully Connected' slide, inset": "1 0 0 0 0 1 0 0 0 0 1 1 1 0 0 0 fewer",
}
SEED_003_QUOTES = [printed(rows, "seed 003", _COPY_QUOTES[name], f"{name}, the 6x6 image")
                   for name, (_, _, rows) in SEED_003_IMAGE_COPIES.items()] + [
    printed(SEED_003_FILTER_1, "seed 003", "These are the network parameters to be learned. "
            "1 -1 -1 -1 1 -1 -1 -1 1", "'A filter' slide, Filter 1"),
    printed(SEED_003_FILTER_2, "seed 003", "-1 1 -1 -1 1 -1 -1 1 -1 Filter 2",
            "'A filter' slide, Filter 2"),
]
SEED_003_SHAPES = {
    "input": printed((6, 6), "seed 003", "6 x 6 image Each filter detects a small pattern "
                     "(3 x 3).", "'A filter' slide"),
    "one map per filter": printed((4, 4), "seed 003", "Two 4 x 4 images",
                                  "'Repeat this for each filter'"),
    "stacked maps": printed((2, 4, 4), "seed 003", "Forming 2 x 4 x 4 matrix",
                            "'Repeat this for each filter'"),
}
SEED_003_FRAGMENT_QUOTE = printed(SEED_003_FRAGMENT, "seed 003", "Convolution 3 -1 3",
                                  "'CNN in Keras' slide")


def _reconstruct_image(copies: dict[str, tuple[int, int, list[str]]], size: int
                       ) -> tuple[list[list[int | None]], list[tuple[int, int]], list[str]]:
    """Merge the printed copies: every legible digit counts, "~" is illegible.

    Returns the merged image (None where no copy is legible), the cells some copy garbles,
    and any conflicts between legible copies.
    """
    merged: list[list[int | None]] = [[None] * size for _ in range(size)]
    garbled, conflicts = set(), []
    for name, (r0, c0, rows) in copies.items():
        for i, line in enumerate(rows):
            for j, cell in enumerate(line.split()):
                r, c = r0 + i, c0 + j
                if cell == "~":
                    garbled.add((r, c))
                    continue
                if merged[r][c] is not None and merged[r][c] != int(cell):
                    conflicts.append(f"{name}: ({r + 1}, {c + 1})")
                merged[r][c] = int(cell)
    return merged, sorted(garbled), conflicts


def _sympy_max_pool(m: sp.Matrix, k: int) -> sp.Matrix:
    rows, cols = m.shape[0] // k, m.shape[1] // k
    return sp.Matrix(rows, cols, lambda i, j: sp.Max(*[m[i * k + p, j * k + q]
                                                         for p in range(k) for q in range(k)]))


@item(TOPIC)
def seed003_6x6_image_two_filters() -> Item:
    """Seed 003: the 6x6 image, Filter 1 and Filter 2 at stride 1 and 2, then 2x2 max pooling."""
    merged, garbled, conflicts = _reconstruct_image(SEED_003_IMAGE_COPIES, 6)
    image_ok = merged == SEED_003_IMAGE and not conflicts
    filters = [SEED_003_FILTER_1, SEED_003_FILTER_2]
    x = np.array(SEED_003_IMAGE).reshape(1, 1, 6, 6)
    w = np.array(filters).reshape(2, 1, 3, 3)
    exact, mismatches, ok = {}, {}, True
    outputs = {}
    for stride in (1, 2):
        maps = [sympy_correlate2d(SEED_003_IMAGE, f, stride=stride) for f in filters]
        exact[f"stride {stride}"] = maps
        bad, good, out = _all_dtypes(x, w, maps, stride=stride)
        mismatches[f"stride {stride}"] = bad
        outputs[stride] = out
        ok = ok and good
    # 2x2 max pooling of the stride-1 maps, in every dtype
    pooled = [_sympy_max_pool(m, 2) for m in exact["stride 1"]]
    pool_bad, pooled_out = {}, None
    for dtype in DTYPES:
        out = F.max_pool2d(_engine(x, w, dtype), 2).numpy()[0]
        pooled_out = out if dtype == "exact" else pooled_out
        pool_bad[dtype] = [(o, *cell) for o, m in enumerate(pooled) for cell in _compare(out[o], m)]
        ok = ok and not pool_bad[dtype]
    # the printed shapes against the derived ones (output_size), the derived against the engine
    from .core import compare_printed
    from .shapes import output_size

    side = output_size(len(SEED_003_IMAGE), len(SEED_003_FILTER_1))
    derived_shapes = {"input": (len(SEED_003_IMAGE), len(SEED_003_IMAGE[0])),
                      "one map per filter": (side, side),
                      "stacked maps": (len(filters), side, side)}
    errata: list[Erratum] = []
    for key, value in SEED_003_SHAPES.items():
        compare_printed(errata, value, derived_shapes[key], f"shape: {key}")
    shape_out = _engine(x, w, "float32").shape
    shapes_ok = tuple(shape_out[1:]) == derived_shapes["stacked maps"]
    map1 = exact["stride 1"][0]
    fragment_found = any(list(map1[i, j:j + 2]) == SEED_003_FRAGMENT
                         for i in range(4) for j in range(3))
    return Item(
        TOPIC, "seed003_6x6_image_two_filters",
        "Seed 003's 6x6 image with Filter 1 (diagonal) and Filter 2 (vertical line), stride 1 "
        "and stride 2, then 2x2 max pooling; 'Two 4 x 4 images, forming 2 x 4 x 4 matrix'.",
        "The image is merged from every printed copy (the extraction garbles some 1s as '~'; "
        "each garbled cell is legible in another copy). SymPy's exact sums for each filter "
        "and stride, Max over each 2x2 block; F.conv2d with both filters as one (2, 1, 3, 3) "
        "weight, then F.max_pool2d(2), in float32, float64 and Fractions.",
        {"stride 1": exact["stride 1"], "stride 2": exact["stride 2"],
         "max pooled (stride-1 maps)": pooled},
        {"conv shape": list(shape_out), "stride 1": outputs[1], "stride 2": outputs[2],
         "max pooled": pooled_out},
        bool(ok and image_ok and shapes_ok and fragment_found),
        source=SEED_003, errata=errata,
        quotes=[*SEED_003_QUOTES, *SEED_003_SHAPES.values(), SEED_003_FRAGMENT_QUOTE],
        details={
            "printed shapes": SEED_003_PRINTED_SHAPES,
            "derived shapes (output_size)": derived_shapes,
            "engine conv output shape (N, O, H, W)": list(shape_out),
            "image cells garbled as '~' in some copy (1-based)":
                [(r + 1, c + 1) for r, c in garbled],
            "garbled cells are legible elsewhere": all(merged[r][c] is not None
                                                       for r, c in garbled),
            "conflicts between printed copies": conflicts,
            "engine mismatches per dtype": {"conv": mismatches, "max pool": pool_bad},
            "printed result cells": "not legible: the extracted text of the feature maps and "
                                    "the pooled maps is scrambled, so no cell is compared; "
                                    "only the printed shapes are",
            "printed fragment '3 -1' (position not legible)": SEED_003_FRAGMENT,
            "fragment occurs in a row of the Filter 1, stride-1 map": fragment_found})


#: a kernel that a 180° turn changes (constructed, not in the documents): a corner detector
CORNER_KERNEL = [[1, -1, -1], [1, -1, -1], [1, 1, 1]]


@item(TOPIC)
def seed003_asymmetric_cross_correlation() -> Item:
    """Seed 003's image with a kernel a 180° turn changes: only cross-correlation matches."""
    from .convolution import sympy_convolve2d

    k = sp.Matrix(CORNER_KERNEL)
    rot = k[::-1, ::-1]
    printed_filters_symmetric = [sp.Matrix(f) == sp.Matrix(f)[::-1, ::-1]
                                 for f in (SEED_003_FILTER_1, SEED_003_FILTER_2)]
    xcorr = sympy_correlate2d(SEED_003_IMAGE, CORNER_KERNEL)
    true_conv = sympy_convolve2d(SEED_003_IMAGE, CORNER_KERNEL)
    differs = [(i, j) for i in range(xcorr.rows) for j in range(xcorr.cols)
               if xcorr[i, j] != true_conv[i, j]]
    x = np.array(SEED_003_IMAGE).reshape(1, 1, 6, 6)
    w = np.array(CORNER_KERNEL).reshape(1, 1, 3, 3)
    mismatches, ok, out = _all_dtypes(x, w, [xcorr])
    return Item(
        TOPIC, "seed003_asymmetric_cross_correlation",
        "Seed 003's filters are unchanged by a 180° turn, so its example cannot tell a "
        "convolution from a cross-correlation; with a corner-detector kernel that a turn "
        "changes, the engine's conv2d matches the cross-correlation on every cell and the "
        "true convolution differs.",
        "SymPy: each printed filter F equals its 180° rotation; the exact sums "
        "Σ X[i + p, j + q]·K[p, q] (cross-correlation) and Σ X[i − p, j − q]·K[p, q] (true "
        f"convolution, valid part) of the 6x6 image with K = {CORNER_KERNEL} (constructed; "
        f"rot180(K) = {rot.tolist()}); F.conv2d in float32, float64 and Fractions.",
        xcorr, _strs(out[0]),
        bool(ok and differs and all(printed_filters_symmetric) and k != rot),
        source=SEED_003 + "; the kernel is constructed",
        details={"printed filters unchanged by a 180° turn": printed_filters_symmetric,
                 "true convolution": true_conv.tolist(),
                 "cells where the true convolution differs (0-based)": differs,
                 "engine mismatches per dtype": mismatches})


# ---------------------------------------------------------------------------- seed 004

SEED_004_INPUT = [[0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 1, 1, 0, 0],
                  [0, 0, 0, 0, 0, 0, 0]]
SEED_004_DETECTOR = [[0, 0, 1], [1, 0, 0], [0, 1, 1]]
SEED_004_QUOTES = [
    printed(SEED_004_INPUT, "seed 004", " ".join(str(v) for row in SEED_004_INPUT for v in row)
            + " Input Image", "'Step 1 - Convolution', Input Image"),
    printed(SEED_004_DETECTOR, "seed 004", "0 0 1 1 0 0 0 1 1 Feature Detector",
            "'Step 1 - Convolution', Feature Detector"),
]
#: the last frame of the animation, as printed
SEED_004_PRINTED_MAP = [[0, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 0, 1, 2, 1], [1, 4, 2, 1, 0],
                        [0, 0, 1, 2, 1]]
SEED_004_QUOTES.append(printed(
    SEED_004_PRINTED_MAP, "seed 004",
    " ".join(str(v) for row in SEED_004_PRINTED_MAP for v in row) + " Feature Map",
    "'Step 1 - Convolution', the last frame's Feature Map"))


@item(TOPIC)
def seed004_7x7_image_feature_detector() -> Item:
    """Seed 004: the 7x7 input image, the 3x3 feature detector and the printed feature map."""
    exact = sympy_correlate2d(SEED_004_INPUT, SEED_004_DETECTOR)
    x = np.array(SEED_004_INPUT).reshape(1, 1, 7, 7)
    w = np.array(SEED_004_DETECTOR).reshape(1, 1, 3, 3)
    per_dtype: dict[str, np.ndarray] = {}
    mismatches, ok, out = _all_dtypes(x, w, [exact], outputs=per_dtype)
    errata, compared = _printed_errata(SEED_004, "feature map", SEED_004_PRINTED_MAP, exact)
    printed = sp.Matrix(SEED_004_PRINTED_MAP)
    engine_vs_printed = {dtype: _compare(o[0], printed) for dtype, o in per_dtype.items()}
    window = [[SEED_004_INPUT[2 + p][2 + q] for q in range(3)] for p in range(3)]
    return Item(
        TOPIC, "seed004_7x7_image_feature_detector",
        "Seed 004's 7x7 input image with the 3x3 feature detector gives a 5x5 feature map; "
        "the slides print it cell by cell.",
        "SymPy's exact sum Y[i, j] = Σ_{p,q} X[i + p, j + q]·K[p, q]; F.conv2d in float32, "
        f"float64 and Fractions; {compared} printed cells compared with the math.",
        exact, _strs(out[0]), bool(ok),
        source=SEED_004, errata=errata, quotes=SEED_004_QUOTES,
        details={"printed feature map": SEED_004_PRINTED_MAP,
                 "engine mismatches per dtype": mismatches,
                 "cells where the engine differs from the printed map (0-based), per dtype":
                     engine_vs_printed,
                 "window at row 3, column 3 (1-based)": window,
                 "why": "that window holds a single 1 (its centre), and the detector's centre "
                        "weight is 0, so the sum is 0; every animation frame that shows the "
                        "cell prints 1"})


@item(TOPIC)
def printed_values_are_quotes() -> Item:
    """Every value the spec calls printed is read, in order, in a text found in its seed."""
    from .core import PRINTED, quote_problems
    from .report import load_topics

    load_topics()  # every module's printed values are declared at import time
    rows = []
    for p in PRINTED:
        problems = quote_problems(p)
        rows.append({"document": p.document, "where": p.where, "value": p.value,
                     "quote": " ".join(p.quote.split()), "ok": not problems,
                     "problems": problems})
    seeds = sum(r["document"].startswith("seed ") for r in rows)
    bad = [r for r in rows if not r["ok"]]
    return Item(
        TOPIC, "printed_values_are_quotes",
        "Each value labelled 'printed' carries the exact text it was transcribed from; that "
        "text occurs in the seed file (whitespace normalised) and the value's numbers are "
        "read in it, in order. Values the spec derives are never labelled printed.",
        f"For each of the {len(rows)} declared printed values ({seeds} from the seeds, the "
        "rest from papers, whose text is not in the seeds: quoted where the wording was checked "
        "against a copy, otherwise marked as a paraphrase): normalise whitespace, "
        "search the quote in spec/seeds/<seed>.txt, and read the numbers of the quote "
        "(10^{12}, 10,000, 1M, -1, …) to find the value's numbers as an ordered sub-sequence.",
        f"{len(rows)} quotes", f"{len(rows) - len(bad)} found and legible",
        not bad,
        source="seeds 000-004",
        details={"quotes": [{k: r[k] for k in ("document", "where", "quote")} for r in rows],
                 "FAILED quotes" if bad else "problems": [r["problems"] for r in bad]})
