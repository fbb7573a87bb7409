"""Winograd's minimal filtering for 3×3 convolutions, composed from the primitives.

A stride-1 3×3 correlation computes each m×m output tile from an (m+2)×(m+2) input tile.
Directly that is ``9·m²`` multiplications per tile and channel pair; Winograd's
F(m×m, 3×3) needs ``(m+2)²``: 16 instead of 36 for m = 2 (2.25× fewer), 36 instead of 144
for m = 4 (4× fewer)::

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

The transforms are constant matrices, derived exactly in ``spec/winograd.py`` (Toom–Cook
at the points 0, 1, −1, ∞, and 0, ±1, ±2, ∞); the exact fractions are written out below
and a test asserts they equal the derivation. Over a whole layer the algorithm is four
products, each a primitive of the derivative table, so the gradients need nothing new:

1. input tiles: pad, a window view with kernel m+2 and stride m, one copy to
   ``D`` of shape ((m+2)², C·T) (T tiles over the batch), then ``V = (Bᵀ⊗Bᵀ) D``;
2. filter: ``U = (G⊗G) w`` with w as (9, O·C);
3. the element-wise stage, summed over channels: one matrix product per tile position
   ξ, ``M[ξ] = U[ξ] (O×C) @ V[ξ] (C×T)``, i.e. (m+2)² GEMMs in one batched matmul;
4. output: ``Y = (Aᵀ⊗Aᵀ) M``, reshaped and permuted back to NCHW, cropped to the output.

Accuracy: the transforms add and subtract inputs with weights up to 5 (F(4, 3)) before
the product, so the rounding error in float grows; `error_bound` states a rigorous bound
per output element (tested against float64 direct convolution) and
``docs/fast-convolution.md`` measures it. On exact element types (object arrays of
`Fraction`) the result equals the direct convolution exactly.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from .tensor import Tensor


class Transforms(NamedTuple):
    """The exact transforms of F(m×m, 3×3): ``AT`` (m, n), ``G`` (n, 3), ``BT`` (n, n)."""

    AT: tuple[tuple[Fraction, ...], ...]
    G: tuple[tuple[Fraction, ...], ...]
    BT: tuple[tuple[Fraction, ...], ...]


def _rows(text: str) -> tuple[tuple[Fraction, ...], ...]:
    return tuple(tuple(Fraction(v) for v in row.split()) for row in text.split(";"))


#: As derived by ``spec.winograd.derive(m)`` (tests/test_winograd.py asserts equality).
TRANSFORMS: dict[int, Transforms] = {
    2: Transforms(
        AT=_rows("1 1 1 0; 0 1 -1 1"),
        G=_rows("1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1"),
        BT=_rows("1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1"),
    ),
    4: Transforms(
        AT=_rows("1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1"),
        G=_rows("1/4 0 0; 1/6 1/6 1/6; 1/6 -1/6 1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1"),
        BT=_rows("4 0 -5 0 1 0; 0 4 4 -1 -1 0; 0 -4 4 1 -1 0; 0 -2 -1 2 1 0; "
                 "0 2 -1 -2 1 0; 0 4 0 -5 0 1"),
    ),
}


def _kron(a: tuple[tuple[Fraction, ...], ...], b: tuple[tuple[Fraction, ...], ...]
          ) -> list[list[Fraction]]:
    """The Kronecker product, exact: ``(a ⊗ b)[i·p + k, j·q + l] = a[i, j] · b[k, l]``."""
    return [[x * y for x in ra for y in rb] for ra in a for rb in b]


@functools.cache
def _constants(m: int, dtype: np.dtype, absolute: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Aᵀ⊗Aᵀ, G⊗G, Bᵀ⊗Bᵀ) as arrays of ``dtype`` (exact Fractions for object arrays);
    with ``absolute``, the absolute values of their entries (for `error_bound`)."""
    t = TRANSFORMS[m]
    out = []
    for a in (t.AT, t.G, t.BT):
        k = _kron(a, a)
        if absolute:
            k = [[abs(v) for v in row] for row in k]
        if np.dtype(dtype).kind == "O":
            arr = np.empty((len(k), len(k[0])), dtype=object)
            arr[...] = k  # each entry a Fraction
        else:
            arr = np.array([[float(v) for v in row] for row in k], dtype=dtype)
        arr.flags.writeable = False
        out.append(arr)
    return out[0], out[1], out[2]


def conv2d_3x3(x: Tensor, w: Tensor, b: Tensor | None, pads: tuple[tuple[int, int], ...],
               m: int = 4) -> Tensor:
    """Stride-1, dilation-1, ungrouped 3×3 cross-correlation by Winograd's F(m×m, 3×3).

    Parameters
    ----------
    x : Tensor (N, C, H, W)
    w : Tensor (O, C, 3, 3)
    b : Tensor (O,) or None
    pads : ((top, bottom), (left, right))
        Zero padding, as ``functional._padding`` returns it.
    m : 2 or 4
        The output tile size.

    Returns
    -------
    Tensor (N, O, OH, OW), equal to ``F.conv2d(x, w, b, padding=...)`` (exactly on exact
    element types, within `error_bound` in float).
    """
    if m not in TRANSFORMS:
        raise ValueError(f"conv2d_3x3: m must be one of {sorted(TRANSFORMS)}, got {m!r}")
    n, c, h, wd = x.shape
    o, cw, kh, kw = w.shape
    if (kh, kw) != (3, 3) or cw != c:
        raise ValueError(f"conv2d_3x3: weight must be (O, {c}, 3, 3), got {w.shape}")
    (top, bottom), (left, right) = pads
    oh, ow = h + top + bottom - 2, wd + left + right - 2
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_3x3: a 3x3 kernel does not fit in the padded input "
                         f"{(h + top + bottom, wd + left + right)}")
    return _winograd(x, w, b, pads, m, _constants(m, x.dtype))


def _winograd(x: Tensor, w: Tensor, b: Tensor | None, pads: tuple[tuple[int, int], ...],
              m: int, constants: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Tensor:
    n, c, h, wd = x.shape
    o = w.shape[0]
    (top, bottom), (left, right) = pads
    oh, ow = h + top + bottom - 2, wd + left + right - 2
    k = m + 2
    th, tw = -(-oh // m), -(-ow // m)  # tiles per column and row
    t = n * th * tw
    at, g, bt = (Tensor._constant(a) for a in constants)
    # 1. input tiles, the batch innermost in memory: x as (C, H, W, N) (a copy unless it
    #    is laid out so already, as this function's own output is), so that the tile
    #    copy, its scatter-add in backward and the output copy move runs of N elements
    xc = x.permute(1, 2, 3, 0).reshape(c, h, wd * n).reshape(c, h, wd, n)  # a copy
    xp = xc.permute(3, 0, 1, 2).pad(((0, 0), (0, 0),  # Pad keeps the memory layout
                                     (top, bottom + th * m + 2 - (h + top + bottom)),
                                     (left, right + tw * m + 2 - (wd + left + right))))
    tiles = xp.windows((k, k), (m, m))  # (N, C, TH, TW, k, k), a view
    d = tiles.permute(4, 5, 1, 2, 3, 0).reshape(k * k, c * t)  # tiles T = (TH, TW, N)
    v = (bt @ d).reshape(k * k, c, t)  # V = (Bᵀ⊗Bᵀ) D
    # Peak memory: of the intermediates only V (and U) are read by a VJP (Bᵀ, Aᵀ are
    # constants, movement reads shapes), so each of the others is dropped as soon as its
    # consumer exists (`_forget_chain`), not kept until backward reaches it: the image
    # copies and the tiles D here, the products M and the output tiles below (with m = 4
    # and 32 -> 64 channels at 14x14, 27 of 48 MB), and their buffers serve the next
    # arrays of the step (tinygrad_cnn/scratch.py).
    _forget_chain(d, stop=x)
    # 2. U = (G⊗G) w: (k·k, 9) @ (9, O·C)
    u = (g @ w.permute(2, 3, 0, 1).reshape(9, o * c)).reshape(k * k, o, c)
    # 3. one GEMM per tile position: (k·k, O, C) @ (k·k, C, T)
    prod = (u @ v).reshape(k * k, o * t)
    # 4. Y = (Aᵀ⊗Aᵀ) M: (m·m, O·T), then the tiles back into an image (O, OH, OW, N)
    y = (at @ prod).reshape(m * m, o, t)
    _forget_chain(prod, stop=u)
    biased = y + b.reshape(1, o, 1) if b is not None else y
    if b is not None:
        _forget_chain(y, stop=prod)
    image = biased.reshape(m, m, o, th, tw, n).permute(2, 3, 0, 4, 1, 5)  # (O, TH, m, ...)
    out = image.reshape(o, th * m, tw * m, n)  # the copy the caller's output views
    _forget_chain(image, stop=prod)
    if (th * m, tw * m) != (oh, ow):
        out = out[:, :oh, :ow, :]
    return out.permute(3, 0, 1, 2)  # NCHW, a view of the (O, OH, OW, N) layout


def _forget_chain(t: Tensor, stop: Tensor) -> None:
    """`Tensor._forget` on ``t`` and on the tensors it was computed from through movement
    ops (views and copies of one another), up to ``stop`` or the first other op: tensors
    this function made, never the caller's."""
    node = t
    while True:
        node._forget()
        if node._op is None or node._op.kind != "movement":
            return
        node = node._parents[0]
        if node is stop or node._op is None:
            return


def rounding_depth(m: int, channels: int) -> int:
    """The most rounding errors along any path of F(m×m, 3×3) in floating point.

    Input transform: a sum of ``n²`` products (``n = m + 2``), at most ``n²`` roundings;
    filter transform: a rounded constant and 9 products summed, 10; the products summed
    over ``C`` channels, ``C``; output transform, ``n²``; the bias, 1; one more to spare.
    """
    n = m + 2
    return 2 * n * n + channels + 12


def error_bound(x: np.ndarray, w: np.ndarray, pads: tuple[tuple[int, int], ...], m: int,
                b: np.ndarray | None = None) -> np.ndarray:
    """A rigorous bound on ``|conv2d_3x3(x, w) − x ⋆ w|`` per output element in x's dtype.

    Higham's bound for a sum of products evaluated in floating point with unit roundoff
    ``u`` and at most ``N`` roundings on each path: the error is at most
    ``γ_N = N·u / (1 − N·u)`` times the same expression evaluated on absolute values,
    here ``|Aᵀ|[(|G| |g| |Gᵀ|) ⊙ (|Bᵀ| |d| |B|)]|A|`` summed over channels (plus ``|b|``),
    which this function computes in float64. ``N`` is `rounding_depth`.

    Returns
    -------
    ndarray (N, O, OH, OW), float64
    """
    dtype = np.dtype(x.dtype)
    if dtype.kind != "f":
        raise TypeError(f"error_bound: x must be a float array, got dtype {dtype}")
    depth = rounding_depth(m, x.shape[1])
    u = float(np.finfo(dtype).eps) / 2
    gamma = depth * u / (1 - depth * u)
    bias = None if b is None else Tensor(np.abs(b.astype(np.float64)))
    magnitude = _winograd(Tensor(np.abs(x.astype(np.float64))),
                          Tensor(np.abs(w.astype(np.float64))), bias, pads, m,
                          _constants(m, np.dtype(np.float64), absolute=True))
    return gamma * magnitude.numpy()


# ------------------------------------------------------------------------ the choice

#: "auto" (by shape, see `choose`), "winograd" (every eligible conv) or "direct" (never).
ALGORITHM = "auto"

#: The fewest input and output channels, and the smallest batch, for which "auto" picks
#: Winograd: measured in benchmarks/notes.md ("Winograd or im2col").
MIN_CHANNELS = 16
MIN_BATCH = 8


@contextlib.contextmanager
def algorithm(name: str) -> Iterator[None]:
    """Force the choice of ``F.conv2d`` for its 3×3 convolutions inside a ``with`` block.

    ``"winograd"`` takes F(4×4, 3×3) for every eligible convolution (3×3, stride 1,
    dilation 1, one group, any element type), ``"direct"`` takes im2col for all, and
    ``"auto"`` (the default) decides by shape with `choose`.
    """
    global ALGORITHM
    if name not in ("auto", "winograd", "direct"):
        raise ValueError(f"algorithm: expected 'auto', 'winograd' or 'direct', got {name!r}")
    previous, ALGORITHM = ALGORITHM, name
    try:
        yield
    finally:
        ALGORITHM = previous


def choose(x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: tuple[int, int],
           dilation: tuple[int, int], groups: int, dtype: Any) -> int | None:
    """The Winograd tile size for this convolution (4), or None for the direct path.

    Eligible: a 3×3 kernel, stride 1, dilation 1, one group. Under ``"auto"`` it must also
    be a float dtype (exact element types take the direct path; Winograd is exact on them
    too, only slower), with at least `MIN_CHANNELS` input and output channels and a batch
    of at least `MIN_BATCH`: below those, the per-position products are too small for the
    transforms to pay for themselves (measured). F(4×4, 3×3) measured faster than
    F(2×2, 3×3) on every eligible shape of the benchmarks, so "auto" uses m = 4.
    """
    if ALGORITHM == "direct" or groups != 1 or tuple(stride) != (1, 1) \
            or tuple(dilation) != (1, 1) or tuple(w_shape[2:]) != (3, 3):
        return None
    if ALGORITHM == "winograd":
        return 4
    if np.dtype(dtype).kind != "f" or x_shape[0] < MIN_BATCH:
        return None
    if min(w_shape[0], w_shape[1]) < MIN_CHANNELS:
        return None
    return 4
