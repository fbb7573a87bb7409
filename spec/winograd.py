"""Winograd's minimal filtering F(m, r), derived from the Toom–Cook construction.

A 1-D correlation of ``m`` outputs with an ``r``-tap filter reads ``n = m + r − 1`` inputs
and, done directly, costs ``m·r`` multiplications. Winograd's algorithm costs ``n``:

    y = Aᵀ [ (G g) ⊙ (Bᵀ d) ]          (1-D)
    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A    (2-D, the nesting of the 1-D one)

Derivation (Toom–Cook, then transposition):

1. The product ``s(x) = g(x) h(x)`` of a polynomial ``g`` of degree ``r − 1`` (the filter)
   and ``h`` of degree ``m − 1`` has degree ``n − 1``, so it is fixed by its values at
   ``n`` points. Evaluate both at the chosen points (∞ meaning the leading coefficient):
   ``V_r g``, ``V_m h``; multiply pointwise (``n`` multiplications); interpolate with the
   inverse of the ``n × n`` Vandermonde matrix ``V_n``:
   ``s = V_n⁻¹ [(V_r g) ⊙ (V_m h)]`` — the linear convolution ``s = g * h``.
2. Correlation is the transpose of convolution: for every ``h``,
   ``Σ_i y_i h_i = Σ_{i,k} g_k d_{i+k} h_i = Σ_j d_j s_j = dᵀ V_n⁻¹ [(V_r g) ⊙ (V_m h)]``,
   so ``y = V_mᵀ [ (V_r g) ⊙ (V_n⁻ᵀ d) ]``: ``Aᵀ = V_mᵀ``, ``G = V_r``, ``Bᵀ = V_n⁻ᵀ``.
3. A diagonal scaling may move between ``Bᵀ`` and ``G`` (``(D a) ⊙ b = a ⊙ (D b)``). Each
   row ``t`` of ``V_n⁻ᵀ`` is divided by its content (the positive rational that leaves
   coprime integers) and ``G``'s row ``t`` multiplied by it, so the transforms applied to
   the data (``Bᵀ``, ``Aᵀ``) have integer entries and the fractions sit in the filter
   transform, computed once per filter.

With the points 0, 1, −1, ∞ (F(2, 3)) and 0, 1, −1, 2, −2, ∞ (F(4, 3)) this gives the
matrices of Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016), up
to the sign of some rows of ``Bᵀ`` and ``G`` (a sign, like any scale, may move between
them) and of ``Aᵀ``'s column at ∞ (a convention of that point).
Everything here is exact: SymPy rationals, and each result is checked against the direct
correlation on symbols.

This module is the derivation; ``tinygrad_cnn.winograd`` holds the same matrices as exact
constants (the engine does not import SymPy) and a test asserts they are equal.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from .core import Item, item

#: The interpolation points of each output tile size (``sp.oo`` is the point at infinity).
POINTS: dict[int, tuple[Any, ...]] = {
    2: (0, 1, -1, sp.oo),
    4: (0, 1, -1, 2, -2, sp.oo),
}


def evaluation_matrix(points: tuple[Any, ...], k: int) -> sp.Matrix:
    """Rows ``[1, a, a², …, a^{k−1}]`` per point ``a``; ``[0, …, 0, 1]`` for ∞.

    Applied to the coefficients of a polynomial of degree ``k − 1`` it gives the
    polynomial's values at the points (its leading coefficient at ∞).
    """
    rows = []
    for a in points:
        if a is sp.oo:
            rows.append([0] * (k - 1) + [1])
        else:
            rows.append([sp.Rational(a) ** j for j in range(k)])
    return sp.Matrix(rows)


def _content(row: list[sp.Rational]) -> sp.Rational:
    """The positive rational ``c`` with ``row / c`` coprime integers (1 for a zero row)."""
    nonzero = [sp.Rational(v) for v in row if v != 0]
    if not nonzero:
        return sp.Integer(1)
    numerators = math.gcd(*(int(abs(v.p)) for v in nonzero))
    denominators = math.lcm(*(int(v.q) for v in nonzero))
    return sp.Rational(numerators, denominators)


@functools.cache
def derive(m: int, r: int = 3) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """The transforms ``(Aᵀ, G, Bᵀ)`` of F(m, r), derived from Toom–Cook at `POINTS`.

    Returns
    -------
    AT : Matrix (m, n)    output transform
    G : Matrix (n, r)     filter transform
    BT : Matrix (n, n)    input transform,  with n = m + r − 1
    """
    if m not in POINTS:
        raise ValueError(f"derive: m must be one of {sorted(POINTS)}, got {m!r}")
    points = POINTS[m]
    n = m + r - 1
    if len(points) != n:
        raise ValueError(f"derive: F({m}, {r}) needs {n} points, POINTS has {len(points)}")
    v_r, v_m, v_n = (evaluation_matrix(points, k) for k in (r, m, n))
    interpolate = v_n.inv()  # exact: rational entries
    bt_raw = interpolate.T
    scale = [_content(list(bt_raw.row(t))) for t in range(n)]
    bt = sp.Matrix(n, n, lambda t, j: bt_raw[t, j] / scale[t])
    g = sp.Matrix(n, r, lambda t, k: v_r[t, k] * scale[t])
    at = v_m.T
    return at, g, bt


def as_fractions(matrix: sp.Matrix) -> tuple[tuple[Fraction, ...], ...]:
    """A SymPy matrix of rationals as nested tuples of `fractions.Fraction`."""
    return tuple(tuple(Fraction(int(v.p), int(v.q)) for v in (sp.Rational(x) for x in row))
                 for row in matrix.tolist())


# ----------------------------------------------------------------------- exact checks


def correlation_1d(m: int, r: int = 3) -> tuple[sp.Matrix, sp.Matrix]:
    """Winograd's 1-D result and the direct correlation, on symbols ``d_j``, ``g_k``."""
    at, g, bt = derive(m, r)
    n = m + r - 1
    d = sp.Matrix(sp.symbols(f"d0:{n}"))
    w = sp.Matrix(sp.symbols(f"g0:{r}"))
    fast = at * (g * w).multiply_elementwise(bt * d)
    direct = sp.Matrix([sum(w[k] * d[i + k] for k in range(r)) for i in range(m)])
    return fast.applyfunc(sp.expand), direct


def correlation_2d(m: int, r: int = 3) -> tuple[sp.Matrix, sp.Matrix]:
    """Winograd's 2-D tile ``Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`` and the direct 2-D correlation."""
    at, g, bt = derive(m, r)
    n = m + r - 1
    d = sp.Matrix(n, n, sp.symbols(f"d0:{n * n}"))
    w = sp.Matrix(r, r, sp.symbols(f"g0:{r * r}"))
    fast = at * (g * w * g.T).multiply_elementwise(bt * d * bt.T) * at.T
    direct = sp.Matrix(m, m, lambda i, j: sum(w[p, q] * d[i + p, j + q]
                                              for p in range(r) for q in range(r)))
    return fast.applyfunc(sp.expand), direct


def multiplications(m: int, r: int = 3) -> dict[str, Any]:
    """Multiplications per output tile of F(m×m, r×r): direct, Winograd, and their ratio."""
    n = m + r - 1
    direct, fast = m * m * r * r, n * n
    return {"direct": direct, "winograd": fast, "ratio": sp.Rational(direct, fast)}


def _engine_agrees(m: int) -> tuple[bool, dict[str, Any]]:
    """The engine's constants equal the derivation, and its conv on Fractions is exact."""
    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor, winograd

    at, g, bt = derive(m)
    constants = winograd.TRANSFORMS[m]
    same = (constants.AT == as_fractions(at) and constants.G == as_fractions(g)
            and constants.BT == as_fractions(bt))
    rng = np.random.default_rng(m)
    x = np.vectorize(lambda v: Fraction(int(v), 5), otypes=[object])(
        rng.integers(-9, 10, (2, 3, 2 * m + 1, 2 * m + 3)))
    w = np.vectorize(lambda v: Fraction(int(v), 7), otypes=[object])(
        rng.integers(-9, 10, (2, 3, 3, 3)))
    fast = winograd.conv2d_3x3(Tensor(x), Tensor(w), None, ((1, 1), (1, 1)), m=m).numpy()
    direct = F.conv2d(Tensor(x), Tensor(w), padding=1).numpy()  # small: im2col
    exact = fast.shape == direct.shape and bool((fast == direct).all())
    return same and exact, {"constants equal the derivation": same,
                            "engine on Fractions equals direct conv exactly": exact}


def transforms_item(m: int) -> Item:
    """F(m×m, 3×3): the derived transforms compute the correlation exactly."""
    at, g, bt = derive(m)
    fast1, direct1 = correlation_1d(m)
    fast2, direct2 = correlation_2d(m)
    ok1 = (fast1 - direct1).applyfunc(sp.expand) == sp.zeros(m, 1)
    ok2 = (fast2 - direct2).applyfunc(sp.expand) == sp.zeros(m, m)
    engine_ok, engine_details = _engine_agrees(m)
    count = multiplications(m)
    points = ", ".join("∞" if a is sp.oo else str(a) for a in POINTS[m])
    return Item(
        topic="winograd", name=f"winograd_f{m}x{m}_3x3",
        statement=(f"Winograd's F({m}×{m}, 3×3) with transforms derived by Toom–Cook at the "
                   f"points {points} equals the direct 3×3 correlation exactly, with "
                   f"{count['winograd']} multiplications per {m}×{m} tile instead of "
                   f"{count['direct']} ({count['ratio']}× fewer)."),
        derivation=(f"Aᵀ = V_{m}ᵀ = ${sp.latex(at)}$, G = D·V_3 = ${sp.latex(g)}$, "
                    f"Bᵀ = D⁻¹·V_{m + 2}⁻ᵀ = ${sp.latex(bt)}$; checked on symbols in 1-D "
                    f"and 2-D, then the engine on Fractions."),
        result={"AT": at, "G": g, "BT": bt},
        engine=engine_details,
        passed=bool(ok1 and ok2 and engine_ok),
        source="Lavin & Gray, Fast Algorithms for Convolutional Neural Networks (2016)",
        details={"1-D exact": bool(ok1), "2-D exact": bool(ok2), **engine_details,
                 "multiplications per tile": {k: str(v) for k, v in count.items()}},
    )


@item("winograd")
def winograd_f2x2_3x3() -> Item:
    """F(2×2, 3×3): derived transforms, exact on symbols and in the engine."""
    return transforms_item(2)


@item("winograd")
def winograd_f4x4_3x3() -> Item:
    """F(4×4, 3×3): derived transforms, exact on symbols and in the engine."""
    return transforms_item(4)


def checks() -> list[Item]:
    """The specification's Winograd items (registered under "winograd" in ``verify``)."""
    return [winograd_f2x2_3x3(), winograd_f4x4_3x3()]
