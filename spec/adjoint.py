"""Transposed convolution is the adjoint of convolution, exactly.

For a fixed kernel ``w`` (with its stride ``s``, padding ``p``, dilation ``d`` and groups),
``conv2d`` is a linear map ``A`` from input images to output maps. Its adjoint ``Aᵀ`` is
the one linear map with ``⟨A x, y⟩ = ⟨x, Aᵀ y⟩`` for every ``x`` and ``y``, and the
gradient of any loss ``L(A x)`` with respect to ``x`` is ``Aᵀ ḡ``. The engine composes
``conv_transpose2d`` from other primitives (spread by the stride, pad by ``d(k−1) − p``,
convolve with the flipped kernel, its channel axes swapped); this module checks that the
composition *is* ``Aᵀ``:

1. :func:`conv_transpose_is_the_adjoint`: ``⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩``
   on random exact rationals (NumPy object arrays of ``Fraction``, the very code path
   that runs in float32), over strides, paddings, dilations and groups, with the
   ``output_padding`` that gives back the size of ``x``; and symbolically (SymPy
   symbols for every entry) on a small strided, padded 1-D case.
2. :func:`conv_input_gradient_is_a_transposed_conv`: the engine's backward of
   ``conv2d`` with respect to its input, for an upstream gradient ``ḡ``, equals
   ``conv_transpose2d(ḡ, w)`` exactly.

Both return a :class:`spec.core.Item`; neither is registered here (the report decides
which topic lists them).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .core import Item, item

#: (input shape, weight shape, stride, padding, dilation, groups): strides that leave a
#: remainder (output_padding > 0), paddings up to d(k-1), groups and depthwise
CASES: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, int], tuple[int, int],
                   tuple[int, int], int], ...] = (
    ((1, 1, 4, 4), (1, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((2, 2, 5, 6), (3, 2, 2, 3), (2, 1), (1, 2), (1, 1), 1),
    ((1, 2, 7, 6), (2, 2, 3, 2), (3, 2), (1, 0), (1, 1), 1),
    ((1, 4, 7, 8), (4, 2, 3, 2), (2, 3), (2, 1), (2, 1), 2),
    ((2, 3, 6, 5), (6, 1, 2, 2), (1, 2), (1, 1), (1, 2), 3),
    ((1, 2, 9, 9), (2, 2, 3, 3), (3, 3), (2, 2), (2, 2), 1),
)


def output_padding_for(n: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The ``output_padding`` with which conv_transpose maps conv2d's output back to ``n``.

    conv2d drops the last ``(n + 2p − d(k−1) − 1) mod s`` cells (no window starts there);
    conv_transpose adds them back as output padding.
    """
    return (n + 2 * padding - dilation * (kernel - 1) - 1) % stride


def _fractions(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = Fraction(int(rng.integers(-7, 8)), int(rng.integers(1, 6)))
    return out


def _inner(a: np.ndarray, b: np.ndarray) -> Any:
    return sum((u * v for u, v in zip(a.ravel(), b.ravel(), strict=True)), Fraction(0))


def _transpose_params(case) -> dict[str, Any]:
    xs, ws, stride, padding, dilation, groups = case
    op = tuple(output_padding_for(n, k, s, p, d) for n, k, s, p, d in
               zip(xs[2:], ws[2:], stride, padding, dilation, strict=True))
    return {"stride": stride, "padding": padding, "output_padding": op, "groups": groups,
            "dilation": dilation}


def _symbolic_1d() -> tuple[Any, Any, str]:
    """⟨conv1d(x), y⟩ − ⟨x, conv_transpose1d(y)⟩ with SymPy symbols for every entry."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    n, k, s, p = 6, 3, 2, 1
    xs = sp.symbols(f"x0:{n}")
    ws = sp.symbols(f"w0:{k}")
    x = Tensor(np.array(xs, dtype=object).reshape(1, 1, n))
    w = Tensor(np.array(ws, dtype=object).reshape(1, 1, k))
    forward = F.conv1d(x, w, stride=s, padding=p).numpy().ravel()
    ys = sp.symbols(f"y0:{forward.size}")
    y = Tensor(np.array(ys, dtype=object).reshape(1, 1, forward.size))
    op = output_padding_for(n, k, s, p, 1)
    back = F.conv_transpose1d(y, w, stride=s, padding=p, output_padding=op).numpy().ravel()
    difference = sp.expand(sum(a * b for a, b in zip(forward, ys, strict=True))
                           - sum(a * b for a, b in zip(xs, back, strict=True)))
    shown = ",\\ ".join(f"z_{i} = {sp.latex(sp.expand(back[i]))}" for i in range(3))
    return difference, back, shown


@item("convolution")
def conv_transpose_is_the_adjoint() -> Item:
    """⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩, exactly, on rationals and symbols."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    rng = np.random.default_rng(15)
    rows, failures = [], []
    for case in CASES:
        xs, ws, stride, padding, dilation, groups = case
        x, w = _fractions(xs, rng), _fractions(ws, rng)
        forward = F.conv2d(Tensor(x), Tensor(w), None, stride, padding, dilation, groups)
        y = _fractions(forward.shape, rng)
        # the same array: conv2d's (O, C/G, KH, KW) is conv_transpose2d's (C_in, C_out/G, …)
        back = F.conv_transpose2d(Tensor(y), Tensor(w), **_transpose_params(case))
        left = _inner(forward.numpy(), y)
        right = _inner(x, back.numpy()) if back.shape == xs else f"shape {back.shape}"
        exact = all(isinstance(v, Fraction) for v in back.numpy().ravel())
        ok = back.shape == xs and left == right and exact
        rows.append({"input": xs, "weight": ws, "stride": stride, "padding": padding,
                     "dilation": dilation, "groups": groups,
                     "output_padding": _transpose_params(case)["output_padding"],
                     "<conv x, y>": str(left), "<x, convT y>": str(right), "equal": ok})
        if not ok:
            failures.append(rows[-1])
    difference, _, shown = _symbolic_1d()
    symbolic = difference == 0
    return Item(
        topic="convolution", name="conv_transpose_is_the_adjoint",
        statement="conv_transpose2d is the adjoint (transpose) of conv2d with the same "
                  "kernel, stride, padding, dilation and groups: <conv2d(x), y> = "
                  "<x, conv_transpose2d(y)> for all x, y.",
        derivation=(
            "With every entry a SymPy symbol (a 1-D input of 6, kernel 3, stride 2, "
            "padding 1, output_padding (6 + 2 − 2 − 1) mod 2 = 1), the engine's "
            f"z = conv_transpose1d(y) begins ${shown}$, …; "
            "expand(<conv1d(x), y> − <x, conv_transpose1d(y)>) = "
            f"${sp.latex(difference)}$. Then on random Fractions (exact, no tolerance) "
            f"for {len(CASES)} settings of stride, padding, dilation and groups, "
            "output_padding = (n + 2p − d(k−1) − 1) mod s, the cells conv2d drops."),
        result=sp.Integer(0),
        engine=difference,
        passed=bool(symbolic and not failures),
        details={"cases": rows, "failures": failures},
    )


@item("convolution")
def conv_input_gradient_is_a_transposed_conv() -> Item:
    """The backward of conv2d with respect to x is conv_transpose2d of the upstream ḡ."""
    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    rng = np.random.default_rng(16)
    rows, failures = [], []
    for case in CASES:
        xs, ws, stride, padding, dilation, groups = case
        x = Tensor(_fractions(xs, rng), requires_grad=True)
        w = Tensor(_fractions(ws, rng))
        out = F.conv2d(x, w, None, stride, padding, dilation, groups)
        g = _fractions(out.shape, rng)
        out.backward(g)
        transposed = F.conv_transpose2d(Tensor(g), w, **_transpose_params(case)).numpy()
        ok = x.grad.numpy().tolist() == transposed.tolist()
        rows.append({"input": xs, "weight": ws, "stride": stride, "padding": padding,
                     "dilation": dilation, "groups": groups, "equal": ok})
        if not ok:
            failures.append(rows[-1])
    return Item(
        topic="convolution", name="conv_input_gradient_is_a_transposed_conv",
        statement="The gradient of conv2d with respect to its input, for an upstream "
                  "gradient ḡ, is conv_transpose2d(ḡ, w) with the same stride, padding, "
                  "dilation and groups.",
        derivation=(
            "x̄ = Aᵀ ḡ for the linear map A = conv2d(·, w). The engine's backward (the "
            "window primitive's scatter-add after the matmul's transpose) and the "
            "composed conv_transpose2d (spread, pad, flipped kernel) are compared entry "
            f"by entry on Fractions for {len(CASES)} settings."),
        result="x̄ = conv_transpose2d(ḡ, w)",
        engine=f"{len(CASES) - len(failures)} of {len(CASES)} settings equal",
        passed=not failures,
        details={"cases": rows, "failures": failures},
    )
