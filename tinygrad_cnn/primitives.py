"""The primitive ops and their derivative rules: the one derivative table of the engine.

Each primitive is one small class with its forward and its vector-Jacobian product (VJP)
side by side. Nothing else in the engine defines a backward: `Value`, `Tensor`,
convolution, pooling and softmax-cross-entropy are all compositions of these entries.

Conventions
-----------
``forward(*xs)`` takes the parents' data (NumPy arrays for `Tensor`, plain numbers for
`Value`) and returns the output. ``vjp(g, out, *xs)`` takes the gradient ``g`` of the final
quantity with respect to the output, the output itself and the inputs, and returns one
gradient per input (``ḡ·∂out/∂x``, shaped like that input). The two-input entries also take
``needs=(bool, bool)``: the backward pass says which inputs need a gradient, and an entry
may return ``None`` for the others instead of computing them (a constant operand of a
product costs nothing). Without it every gradient is computed.

- Elementwise entries work on plain numbers and on same-shaped arrays (broadcasting is
  made explicit by the Tensor engine with `Expand`, whose VJP is the one place where a
  broadcast gradient is summed back).
- Ties, as PyTorch: ``maximum`` splits the gradient of a tie evenly between its two
  arguments (``tie=1/2``); ``relu(x)`` is ``maximum(0, x)`` with ``tie=1`` (the whole tie to
  the constant 0), hence relu'(0) = 0. ``max`` (the reduction over an axis) sends it to
  the first maximal element, as PyTorch's ``max(dim)`` and max-pooling do.
- Entries whose VJP reads the *values* of an input (not only its shape) list it in
  ``saves`` (``"out"`` for the output): the Tensor engine checks at backward time that
  those arrays were not changed in place since the forward pass. ``crossed`` entries
  (mul, matmul) read each input only for the other's gradient, so a product with a
  constant saves only the constant; the engine may drop what no VJP reads.
- Linear entries (movement, sum, matmul) come in adjoint pairs: the VJP of a linear map
  is its transpose (expand/sum, pad/slice, window/scatter-add, permute/inverse permute).

Every entry also carries what the specification needs to check it: a one-line formula,
its kind, and a few example input shapes with parameters (``examples``). The spec walks
`TABLE` and fails any primitive it has no check for.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import numeric
from .scratch import POOL_MIN_BYTES as _POOL_MIN_BYTES
from .scratch import scratch as _scratch
from .scratch import scratch_like as _scratch_like

Shape = tuple[int, ...]


def _reshape(a: np.ndarray, shape: Shape) -> np.ndarray:
    """``np.reshape``: a view when possible, else a copy into a scratch array."""
    try:
        return np.reshape(a, shape, copy=False)
    except TypeError:  # NumPy < 2.1 has no copy= here
        return np.reshape(a, shape)
    except ValueError:
        out = _scratch(tuple(shape), a.dtype) if a.dtype.kind in "fc" else None
        if out is None:
            return np.reshape(a, shape)
        np.copyto(out.reshape(a.shape), a)  # row-major order of both shapes
        return out


def _matmul(x: np.ndarray, y: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """``x @ y``, a float product (2-D or batched) written into a scratch array; laid out
    like ``like`` (an array of the result's shape) when that is a batched transposed view.

    (Batched results are pooled too: the pool hands buffers out by size, so the Winograd
    products M and their gradient dV share the buffers the forward pass freed; conv
    32 -> 64 fwd+bwd peak 31.4 -> 30.4 MiB, tracemalloc.)"""
    if x.ndim >= 2 and y.ndim == x.ndim and x.dtype == y.dtype and x.dtype.kind == "f":
        if x.ndim == 2:
            return np.matmul(x, y, out=_scratch((x.shape[0], y.shape[1]), x.dtype))
        batch = x.shape[:-2]
        if batch != y.shape[:-2]:
            batch = np.broadcast_shapes(batch, y.shape[:-2])
        shape = (*batch, x.shape[-2], y.shape[-1])
        if (like is not None and like.shape == shape
                and not like.flags.c_contiguous and 0 not in like.strides):
            return np.matmul(x, y, out=_scratch_like(shape, like.strides, x.dtype))
        return np.matmul(x, y, out=_scratch(shape, x.dtype))
    return np.matmul(x, y)


def _full_shaped(a: Any, b: Any) -> np.ndarray | None:
    """Of two float arrays of one dtype, the one shaped like ``ufunc(a, b)``'s result and
    not a broadcast view (or the other one); None for anything else."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype == b.dtype
            and a.dtype.kind == "f"):
        return None
    if a.shape == b.shape:
        return b if 0 in a.strides and 0 not in b.strides else a
    if b.size == 1 and b.ndim <= a.ndim:
        return a
    if a.size == 1 and a.ndim <= b.ndim:
        return b
    return None


def _pooled(ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ufunc(a, b)`` on arrays; a large float result is written into a scratch array laid
    out like its full-shaped operand (a fresh array page-faults on every step: same
    values)."""
    t = _full_shaped(a, b)
    if t is not None and t.nbytes >= _POOL_MIN_BYTES:
        return ufunc(a, b, out=_scratch_like(t.shape, t.strides, t.dtype))
    return ufunc(a, b)


def _maximum(a: Any, b: Any) -> Any:
    """``np.maximum(a, b)``, the same values; with one operand a single number (relu's 0)
    and the other a large float array, that number is broadcast as a contiguous row over
    the other's memory: NumPy's loop for a 0-d operand is 2-4x slower than for two
    contiguous runs. The operands keep their order, so -0.0 and NaN come out as
    np.maximum's."""
    t = _full_shaped(a, b)
    if t is None or t.size < 4096 or a.shape == b.shape:
        return np.maximum(a, b) if t is None else _pooled(np.maximum, a, b)
    out = _scratch_like(t.shape, t.strides, t.dtype)
    order = sorted(range(t.ndim), key=lambda i: -abs(t.strides[i]))
    flat, flat_out = t.transpose(order), out.transpose(order)
    if not (flat.flags.c_contiguous and flat_out.flags.c_contiguous):
        return np.maximum(a, b, out=out)
    flat, flat_out = flat.reshape(-1), flat_out.reshape(-1)
    run = 4096
    row = np.full(run, (b if t is a else a).reshape(()), dtype=t.dtype)
    n = flat.size
    whole = n - n % run
    for part, part_out, r in ((flat[:whole].reshape(-1, run),
                               flat_out[:whole].reshape(-1, run), row),
                              (flat[whole:], flat_out[whole:], row[:n - whole])):
        if t is a:
            np.maximum(part, r, out=part_out)
        else:
            np.maximum(r, part, out=part_out)
    return out


# ------------------------------------------------------------------- integer arithmetic
# The dtype rule: integer and bool arrays are computed exactly or refused, never wrapped.
# The result keeps NumPy's dtype (int32 + int32 is int32; a sum of int8 is int64, NumPy's
# accumulator; bool sums and products of sums count, as int64). It is computed in int64
# (modular: exact whenever the true result fits), refused if the true result, bounded in
# float64, could leave int64's range, and refused if it does not fit the result dtype
# (uint8 200 · 2).

_INT64_LIMIT = 2.0**63 * (1 - 2.0**-20)  # 2**63 less far more than float64's rounding


def _integer(x: Any) -> bool:
    """True for a NumPy integer / bool array or scalar (Python ints are unbounded)."""
    return isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "iub"


def _to_int64(name: str, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.uint64 and x.size and int(x.max()) > 2**63 - 1:
        raise TypeError(f"{name}: a uint64 value {int(x.max())} does not fit int64, where "
                        f"integer arithmetic is exact; convert it to an object array of "
                        f"Python ints (x.astype(object)) or to float64")
    return x.astype(np.int64)


def exact_integer(name: str, fn: Any, *xs: Any, dtype: Any = None) -> np.ndarray:
    """``fn(*xs)`` on integer / bool arrays: exact, with NumPy's result dtype (or
    ``dtype``), or a TypeError that says what to do; never wrapped.

    ``fn`` is a sum, product, matmul or non-negative integer power: int64 arithmetic is
    modular for these, so the int64 result is exact whenever the true result fits, and
    the true result is within ``n·2**-52·fn(|x|, |y|)`` of ``fn`` in float64. A bool
    result dtype (True + True) counts instead, in int64.
    """
    if dtype is None:
        dtype = np.result_type(*xs)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        dtype = np.dtype(np.int64)
    wide = [_to_int64(name, x) for x in xs]
    with np.errstate(all="ignore"):
        floats = [w.astype(np.float64) for w in wide]
        # the true result lies within err of its float64 value; int64 arithmetic is
        # modular, so it is exact whenever the true result fits, whatever the partial sums
        terms = sum(w.size for w in wide) + 2
        err = fn(*[np.abs(f) for f in floats]) * (terms * 2.0**-52)
        reach = np.abs(fn(*floats)) + err
    if np.size(reach) and not float(np.max(reach)) < _INT64_LIMIT:
        raise TypeError(f"{name}: this integer result could overflow int64 (a magnitude up "
                        f"to {float(np.max(reach)):.4g} > 2**63 - 1), and integers are "
                        f"computed exactly or not at all; convert the input to float64 "
                        f"(x.astype(np.float64)) or to an object array of Python ints "
                        f"(x.astype(object), exact)")
    out = np.asarray(fn(*wide))
    if dtype != np.int64 and out.size:
        info = np.iinfo(dtype)
        low, high = int(out.min()), int(out.max())
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise TypeError(f"{name}: the exact integer result {bad} does not fit {dtype} "
                            f"(its range is {info.min}..{info.max}), and integers are never "
                            f"wrapped; convert the input to a wider dtype first, e.g. "
                            f"x.astype(np.int64) (or np.float64)")
    out = out.astype(dtype, copy=False)
    # NumPy scalars in (the scalar engine), a NumPy scalar out, as NumPy's own arithmetic
    return out if any(isinstance(x, np.ndarray) for x in xs) else out[()]


class Primitive:
    """Base class of a table entry. Subclasses set the class attributes and two methods."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # "elementwise" | "reduction" | "movement" | "contraction"
    arity: ClassVar[int] = 1
    formula: ClassVar[str] = ""  # forward, one line
    vjp_formula: ClassVar[str] = ""  # vector-Jacobian product, one line
    linear: ClassVar[bool] = False  # linear in its (single or every) input
    # indices of the inputs whose values the VJP reads, and "out" if it reads the output
    saves: ClassVar[tuple[int | str, ...]] = ()
    # a two-input entry whose VJP reads each input only for the *other* input's gradient
    # (x̄ = ḡ·y, ȳ = ḡ·x): with a constant operand, the other one is not saved at all
    crossed: ClassVar[bool] = False
    # (input shapes, constructor parameters) pairs the spec uses to check this entry
    examples: ClassVar[tuple[tuple[tuple[Shape, ...], dict[str, Any]], ...]] = ()

    def forward(self, *xs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def vjp(self, g: Any, out: Any, *xs: Any) -> tuple[Any, ...]:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{self.name}({params})"


# --------------------------------------------------------------------------- elementwise


class Add(Primitive):
    name, kind, arity, linear = "add", "elementwise", 2, True
    formula = "z = x + y"
    vjp_formula = "x̄ = ḡ,  ȳ = ḡ"
    examples = ((((2, 3), (2, 3)), {}),)

    def forward(self, a, b):
        if type(a) is float and type(b) is float:  # the scalar engine's common case
            return a + b
        if _integer(a) and _integer(b):
            return exact_integer("add", np.add, a, b)
        if type(a) is np.ndarray and type(b) is np.ndarray:
            return _pooled(np.add, a, b)
        return a + b  # numbers of the scalar engine keep their type

    def vjp(self, g, out, a, b, needs=(True, True)):
        return g, g


class Mul(Primitive):
    name, kind, arity = "mul", "elementwise", 2
    saves, crossed = (0, 1), True
    formula = "z = x · y"
    vjp_formula = "x̄ = ḡ · y,  ȳ = ḡ · x"
    examples = ((((2, 3), (2, 3)), {}),)

    def forward(self, a, b):
        if type(a) is float and type(b) is float:  # the scalar engine's common case
            return a * b
        if _integer(a) and _integer(b):
            return exact_integer("mul", np.multiply, a, b)
        return a * b

    def vjp(self, g, out, a, b, needs=(True, True)):
        return (g * b if needs[0] else None), (g * a if needs[1] else None)


class Pow(Primitive):
    """``x ** c`` for a constant exponent ``c`` (division is ``x · y**-1``).

    As PyTorch: the derivative of ``x ** 0`` is 0 everywhere, also at x = 0 (where the
    formula's ``0 · 0^-1`` would be NaN).
    """

    name, kind = "pow", "elementwise"
    formula = "z = x^c  (c constant)"
    vjp_formula = "x̄ = ḡ · c · x^(c−1)  (0 when c = 0)"
    saves = (0,)
    examples = ((((2, 3),), {"exponent": 2}), (((2, 3),), {"exponent": -1}),
                (((2, 3),), {"exponent": 3}), (((2, 3),), {"exponent": 0}))

    def __init__(self, exponent: Any):
        self.exponent = exponent

    def forward(self, a):
        c = self.exponent
        if _integer(a) and isinstance(c, (int, np.integer)) and c >= 0:
            return exact_integer("pow", lambda x: np.power(x, int(c)), a,
                                 dtype=np.power(a[(slice(0, 0),) * np.ndim(a)], int(c)).dtype)
        return a**c

    def vjp(self, g, out, a):
        c = self.exponent
        if c == 0:
            return (g * 0 if not isinstance(a, np.ndarray) else
                    np.zeros(np.shape(a), dtype=np.result_type(g)),)
        return (g * (c * a ** (c - 1)),)


class Power(Primitive):
    """``x ** y`` with both operands variables (``Tensor ** Tensor``), as ``torch.pow``.

    Forward is NumPy's power, so ``0 ** 0 = 1`` and ``(-2) ** 2 = 4``. The VJP is
    PyTorch's: ``x̄ = ḡ · y · x^(y−1)``, taken as 0 where ``y = 0`` (x^0 is constant in x);
    ``ȳ = ḡ · z · ln x``, taken as 0 where ``x = 0`` and ``y >= 0`` (the limit of z·ln x is
    0 there). A negative base gives ``ȳ = NaN`` (ln x), as in PyTorch.
    """

    name, kind, arity = "power", "elementwise", 2
    formula = "z = x^y"
    vjp_formula = "x̄ = ḡ · y · x^(y−1)  (0 where y = 0),  ȳ = ḡ · z · ln x  (0 where x = 0, y ≥ 0)"
    saves = (0, 1, "out")
    examples = ((((2, 3), (2, 3)), {}),)

    def forward(self, a, b):
        if _integer(a) and _integer(b) and not (np.asarray(b) < 0).any():
            return exact_integer("power", np.power, a, b)
        return a**b

    def vjp(self, g, out, a, b, needs=(True, True)):
        ga = gb = None
        arrays = isinstance(a, np.ndarray) or isinstance(b, np.ndarray)
        if needs[0]:
            if arrays:
                zero_exponent = np.asarray(b) == 0
                if zero_exponent.any():  # x^0 is constant: 0, also where 0^-1 would be inf
                    safe = np.where(zero_exponent, 1, a).astype(np.result_type(a))
                    ga = np.where(zero_exponent, 0 * np.asarray(g), g * (b * safe ** (b - 1)))
                else:
                    ga = g * (b * a ** (b - 1))
            elif _is_zero(b):
                ga = 0 * g
            else:
                ga = g * (b * a ** (b - 1))
        if needs[1]:
            if arrays:
                zero_base = (np.asarray(a) == 0) & _nonnegative(np.asarray(b))
                if zero_base.any():
                    safe = np.where(zero_base, 1, a).astype(np.result_type(a))
                    gb = np.where(zero_base, 0 * np.asarray(g), g * (out * numeric.log(safe)))
                else:
                    gb = g * (out * numeric.log(a))
            elif _is_zero(a) and _nonnegative(b):
                gb = 0 * g
            else:
                gb = g * (out * numeric.log(a))
        return ga, gb


def _is_zero(x: Any) -> bool:
    try:
        return bool(x == 0)
    except TypeError:  # a SymPy relation
        return False


def _nonnegative(x: Any) -> Any:
    """``x >= 0`` elementwise for numbers; False for a symbolic value of unknown sign."""
    if isinstance(x, np.ndarray):
        if x.dtype != object:
            return x >= 0
        return np.array([_nonnegative(v) for v in x.ravel()], dtype=bool).reshape(x.shape)
    try:
        return bool(x >= 0)
    except TypeError:
        return False


class Exp(Primitive):
    name, kind = "exp", "elementwise"
    saves = ("out",)
    formula = "z = e^x"
    vjp_formula = "x̄ = ḡ · z"
    examples = ((((2, 3),), {}),)

    def forward(self, a):
        if _integer(a):  # in float64, as NumPy's mean of integers (not float16 for int8)
            a = a.astype(np.float64)
        return numeric.exp(a)

    def vjp(self, g, out, a):
        return (g * out,)


class Log(Primitive):
    name, kind = "log", "elementwise"
    saves = (0,)
    formula = "z = ln x"
    vjp_formula = "x̄ = ḡ / x"
    examples = ((((2, 3),), {}),)

    def forward(self, a):
        if _integer(a):  # in float64, as NumPy's mean of integers (not float16 for int8)
            a = a.astype(np.float64)
        return numeric.log(a)

    def vjp(self, g, out, a):
        return (g / a,)


class Tanh(Primitive):
    name, kind = "tanh", "elementwise"
    saves = ("out",)
    formula = "z = tanh x"
    vjp_formula = "x̄ = ḡ · (1 − z²)"
    examples = ((((2, 3),), {}),)

    def forward(self, a):
        if _integer(a):  # in float64, as NumPy's mean of integers (not float16 for int8)
            a = a.astype(np.float64)
        return numeric.tanh(a)

    def vjp(self, g, out, a):
        return (g * (1 - out * out),)


class Maximum(Primitive):
    """Elementwise max; a tie gives the share ``tie`` of the gradient to the first argument.

    ``tie=1/2`` (the default) splits a tie evenly, as ``torch.maximum``; ``relu`` uses
    ``tie=1`` with the constant 0 as first argument, so relu'(0) = 0 (as ``torch.relu``).
    Where either argument is NaN, both get the whole gradient (PyTorch's masks test
    ``x < y`` and ``x > y``, both false), so relu'(NaN) = 1 as in PyTorch.
    """

    name, kind, arity = "maximum", "elementwise", 2
    formula = "z = max(x, y)"
    vjp_formula = ("x̄ = ḡ · ([x > y] + t·[x = y]),  ȳ = ḡ · ([x < y] + (1 − t)·[x = y]);"
                   "  both ḡ where x or y is NaN")
    saves = (0, 1)
    examples = ((((2, 3), (2, 3)), {}), (((2, 3), (2, 3)), {"tie": 1}))

    def __init__(self, tie: Any = Fraction(1, 2)):
        self.tie = Fraction(tie)

    def forward(self, a, b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return _maximum(a, b)
        return numeric.scalar_maximum(a, b)

    def vjp(self, g, out, a, b, needs=(True, True)):
        t = self.tie
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            ga = gb = None
            # "not less" rather than "greater": where x or y is NaN (unordered) both get
            # the whole gradient, as PyTorch (relu'(NaN) = 1)
            if t == 1:  # relu: [not x < y] and [not x >= y], no equality pass
                if needs[0]:
                    ga = _masked(g, np.logical_not(np.less(a, b)))
                if needs[1]:
                    gb = _masked(g, np.logical_not(np.greater_equal(a, b)))
                return ga, gb
            if isinstance(g, np.ndarray) and g.dtype.kind == "f":
                share = g.dtype.type(t)  # 1/2 is exact in binary
            else:
                share = t
            tie = np.equal(a, b)
            if needs[0]:
                ga = _masked(g, np.logical_not(np.less_equal(a, b))) + _masked(g, tie) * share
            if needs[1]:
                gb = (_masked(g, np.logical_not(np.greater_equal(a, b)))
                      + _masked(g, tie) * (1 - share))
            return ga, gb
        wa, wb = numeric.maximum_weights(a, b, t)
        return g * wa, g * wb


def _masked(g: Any, mask: np.ndarray) -> Any:
    """``g`` where ``mask``, 0 elsewhere (``g · mask`` for finite float g: ~10x faster)."""
    if isinstance(g, np.ndarray) and g.dtype.kind == "f":
        if np.isfinite(g).all():
            if g.shape == mask.shape and g.nbytes >= _POOL_MIN_BYTES:
                return np.multiply(g, mask, out=_scratch_like(g.shape, g.strides, g.dtype))
            return g * mask
        return np.where(mask, g, np.zeros((), dtype=g.dtype))
    if isinstance(g, np.ndarray) and g.dtype == object:
        return np.where(mask, g, 0)
    return np.where(mask, g, 0) if np.ndim(g) or np.ndim(mask) else (g if mask else 0 * g)


# ---------------------------------------------------------------------------- reductions


def _empty_like(a: np.ndarray, dtype: Any, zero: bool = False) -> np.ndarray:
    """An array shaped and laid out like ``a`` (pooled when large; zeros if ``zero``)."""
    if a.size * a.itemsize < _POOL_MIN_BYTES or np.dtype(dtype).kind not in "fc":
        return np.zeros_like(a, dtype=dtype) if zero else np.empty_like(a, dtype=dtype)
    out = _scratch_like(a.shape, a.strides, dtype)
    if zero:
        out.fill(0)
    return out


def _sum(a: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """``np.sum``; a float sum over a short last axis is a product with ones instead.

    NumPy reduces a short trailing axis row by row (~12 µs for 512x10); a matrix-vector
    product on BLAS does it in ~2 µs. Same sum, another summation order.
    """
    if (len(axis) == 1 and a.ndim >= 2 and axis[0] == a.ndim - 1 and a.shape[-1] <= 64
            and a.dtype.char in "fd"):  # float32 / float64
        out = np.matmul(a, _ones(a.shape[-1], a.dtype))
        return out[..., None] if keepdims else out
    if axis and a.ndim >= 2 and a.dtype.char in "fd":
        if a.flags.c_contiguous:
            out = _sum_blocks(a, axis, keepdims)
            if out is not None:
                return out
        last = a.ndim - 1
        if len(axis) > 1 and last in axis:
            # the last axis first, as a product with ones on BLAS, then the others (a bias
            # gradient summed over (N, OH·OW) from a strided layout: ~3x faster than one
            # np.sum, 64x8x784: 66 -> 24 µs)
            rows = np.matmul(a, _ones(a.shape[-1], a.dtype))
            out = np.sum(rows, axis=tuple(i for i in axis if i != last), keepdims=keepdims)
            return out[..., None] if keepdims else out
    return np.sum(a, axis=axis, keepdims=keepdims)


_BLOCK = 1 << 16  # the longest block summed by a product with ones


def _sum_blocks(a: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray | None:
    """The sum over leading and trailing axes around the kept ones as two products with
    ones: ``1ᵀ · a.reshape(A, B, C) · 1`` (a bias gradient, ``(N, O, H, W)`` summed over
    N, H, W: 15-18 µs with np.sum, ~4.5 µs so for 64x8x8x8; ``(O, N·H·W)`` over its rows:
    8 -> 2 µs for 8x4096, 62 -> 21 µs for 8x50176); None if the axes are not of that
    form. BLAS accumulates in several partial sums: float32 relative error ~1e-7 on 50k
    positive terms, as np.sum's pairwise sum (measured)."""
    n, shape = a.ndim, a.shape
    lead = 0
    while lead < n and lead in axis:
        lead += 1
    trail = n
    while trail > lead and trail - 1 in axis:
        trail -= 1
    if trail == lead or len(axis) != lead + n - trail:
        return None
    outer, inner = math.prod(shape[:lead]), math.prod(shape[trail:])
    kept = math.prod(shape[lead:trail])
    if not (0 < outer <= _BLOCK and 0 < inner <= _BLOCK and kept):
        return None
    x = a.reshape(outer * kept, inner)
    x = np.matmul(x, _ones(inner, a.dtype)) if inner > 1 else x.reshape(-1)
    x = np.matmul(_ones(outer, a.dtype), x.reshape(outer, kept)) if outer > 1 else x
    if keepdims:
        return x.reshape(tuple(1 if i in axis else m for i, m in enumerate(shape)))
    return x.reshape(shape[lead:trail])


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of n ones, made once per length and dtype (np.ones: ~1 µs)."""
    ones = _ONES.get((n, dtype))
    if ones is None:
        ones = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
        _ONES[(n, dtype)] = ones
    return ones


def _broadcast(g: np.ndarray, shape: Shape) -> np.ndarray:
    """``np.broadcast_to(g, shape)`` (same number of axes, size-1 axes grow): a read-only
    view; for a contiguous float ``g`` built directly (~0.3 µs instead of NumPy's ~3 µs,
    as much as the rest of a small VJP)."""
    if (type(g) is np.ndarray and g.dtype.kind in "fc" and g.size
            and g.flags.c_contiguous and len(shape) == g.ndim):
        if g.size == 1:
            strides = (0,) * len(shape)
        else:
            strides = tuple(0 if n == 1 else s for n, s in zip(g.shape, g.strides, strict=True))
        view = np.ndarray(shape, g.dtype, g, 0, strides)
        view.flags.writeable = False
        return view
    return np.broadcast_to(g, shape)


class Sum(Primitive):
    name, kind, linear = "sum", "reduction", True
    formula = "z = Σ_axis x"
    vjp_formula = "x̄ = ḡ broadcast back over axis"
    examples = ((((2, 3, 4),), {"axis": (1,), "keepdims": False}),
                (((2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
                (((2, 3),), {"axis": (0, 1), "keepdims": False}))

    def __init__(self, axis: tuple[int, ...], keepdims: bool = False):
        self.axis = tuple(axis)
        self.keepdims = keepdims

    def forward(self, a):
        dtype = a.dtype
        if dtype.kind == "f" and dtype.itemsize > 2:  # float32 / float64 first
            if not self.keepdims and len(self.axis) == a.ndim:  # all axes (np.sum: ~1.5 µs)
                return np.asarray(a.sum(), dtype=dtype)
            return np.asarray(_sum(a, self.axis, self.keepdims), dtype=dtype)
        if a.dtype.kind in "iub":  # in int64, never wrapped (int8 too) or refused
            return exact_integer("sum", lambda x: np.sum(x, axis=self.axis,
                                                          keepdims=self.keepdims), a,
                                 dtype=np.sum(a[(slice(0, 0),) * a.ndim]).dtype)
        if a.dtype == np.float16:  # accumulated in float32, as PyTorch's half on CPU
            return np.sum(a, axis=self.axis, keepdims=self.keepdims,
                          dtype=np.float32).astype(np.float16)
        out = _sum(a, self.axis, self.keepdims)
        return np.asarray(out, dtype=a.dtype)

    def vjp(self, g, out, a):
        shape = a.shape
        g = g if type(g) is np.ndarray else np.asarray(g)
        if len(self.axis) == len(shape):  # all axes: g is one number
            return (_broadcast(g.reshape((1,) * len(shape)), shape),)
        kept = tuple(1 if i in self.axis else n for i, n in enumerate(shape))
        return (_broadcast(g.reshape(kept), shape),)


class Max(Primitive):
    """Max over one axis; the gradient goes to the first maximal element (PyTorch's rule)."""

    name, kind = "max", "reduction"
    formula = "z = max_axis x"
    vjp_formula = "x̄ = ḡ at the first arg-max along axis, 0 elsewhere"
    # (saves nothing the caller can change: the VJP reads the arg-max index of the forward
    # pass, kept in the entry, and only the shape of x)
    examples = ((((2, 3, 4),), {"axis": 2, "keepdims": False}),
                (((3, 4),), {"axis": 0, "keepdims": True}))

    def __init__(self, axis: int, keepdims: bool = False):
        self.axis = axis
        self.keepdims = keepdims
        self._index: np.ndarray | None = None

    #: a float axis this short is reduced by a vectorised scan over its positions (one
    #: elementwise pass each, across the whole array) instead of a per-row argmax
    SHORT_AXIS: ClassVar[int] = 16

    def _at(self, a: np.ndarray, i: int) -> np.ndarray:
        return a[(slice(None),) * (self.axis % a.ndim) + (i, Ellipsis)]  # a view, even 0-d

    def forward(self, a):
        if a.dtype.kind == "f" and 1 < a.shape[self.axis] <= self.SHORT_AXIS:
            # scan: a later position wins only if strictly greater, so ties keep the first
            best = self._at(a, 0)
            index = None
            for i in range(1, a.shape[self.axis]):
                ai = self._at(a, i)
                better = ai > best
                if index is None:
                    index = better.view(np.uint8)
                else:
                    index += better * (np.uint8(i) - index)  # where(better, i, index)
                if i == 1:  # propagates NaN
                    best = np.maximum(best, ai, out=_empty_like(best, best.dtype))
                else:
                    np.maximum(best, ai, out=best)
            if not np.isnan(best).any():  # with a NaN, argmax's rule below (NaN wins)
                self._index = index
                return np.expand_dims(best, self.axis) if self.keepdims else best
        index = np.argmax(a, axis=self.axis, keepdims=True)
        self._index = index
        out = np.take_along_axis(a, index, axis=self.axis)
        return out if self.keepdims else np.squeeze(out, axis=self.axis)

    def vjp(self, g, out, a):
        index = self._index
        if index.dtype == np.uint8:  # the scan's index: one pass per position
            g = np.squeeze(g, axis=self.axis) if self.keepdims else g
            finite = g.dtype.kind == "f" and bool(np.isfinite(g).all())  # g·0 == 0
            # laid out like a, so that the passes run in step; with finite g every
            # position is written below (g·[index = i]), so no zero fill first
            grad = _empty_like(a, g.dtype, zero=not finite)
            for i in range(a.shape[self.axis]):
                if finite:
                    np.multiply(g, index == i, out=self._at(grad, i))
                else:
                    np.copyto(self._at(grad, i), g, where=index == i)
            return (grad,)
        grad = _empty_like(a, g.dtype, zero=True)
        g = g if self.keepdims else np.expand_dims(g, self.axis)
        np.put_along_axis(grad, index, g, axis=self.axis)
        return (grad,)


# ------------------------------------------------------------------------------ movement


class Reshape(Primitive):
    name, kind, linear = "reshape", "movement", True
    formula = "z = x viewed with a new shape (same elements, row-major order)"
    vjp_formula = "x̄ = ḡ reshaped to x's shape"
    examples = ((((2, 6),), {"shape": (3, 4)}), (((2, 3, 2),), {"shape": (12,)}))

    def __init__(self, shape: Shape):
        self.shape = tuple(shape)

    def forward(self, a):
        return _reshape(a, self.shape)

    def vjp(self, g, out, a):
        return (_reshape(g, a.shape),)


class Permute(Primitive):
    name, kind, linear = "permute", "movement", True
    formula = "z[i_σ(0), …] = x[i_0, …]  (axes reordered)"
    vjp_formula = "x̄ = ḡ permuted by the inverse order"
    examples = ((((2, 3, 4),), {"axes": (2, 0, 1)}), (((2, 3),), {"axes": (1, 0)}))

    def __init__(self, axes: tuple[int, ...]):
        self.axes = tuple(axes)

    def forward(self, a):
        return np.transpose(a, self.axes)

    def vjp(self, g, out, a):
        inverse = [0] * len(self.axes)  # np.argsort(axes), without its ~2 µs wrapper
        for i, axis in enumerate(self.axes):
            inverse[axis] = i
        return (np.transpose(g, inverse),)


class Expand(Primitive):
    """Broadcast size-1 axes to a larger size (same number of axes)."""

    name, kind, linear = "expand", "movement", True
    formula = "z = x repeated along its size-1 axes"
    vjp_formula = "x̄ = ḡ summed over the expanded axes (the only broadcast reduction)"
    examples = ((((1, 3),), {"shape": (4, 3)}), (((2, 1, 1),), {"shape": (2, 3, 4)}))

    def __init__(self, shape: Shape):
        self.shape = tuple(shape)

    def forward(self, a):
        return np.broadcast_to(a, self.shape)

    def vjp(self, g, out, a):
        axes = tuple(i for i, (n, m) in enumerate(zip(a.shape, g.shape, strict=True)) if n != m)
        return (_sum(g, axes, True) if axes else g,)


class Pad(Primitive):
    """Constant padding: ``pad_width`` is one (before, after) pair per axis."""

    name, kind, linear = "pad", "movement", True
    formula = "z = x surrounded by a constant (0 for conv, −∞ for max-pool)"
    vjp_formula = "x̄ = ḡ with the padding sliced off"
    examples = ((((2, 3),), {"pad_width": ((1, 0), (2, 1)), "value": 0}),)

    def __init__(self, pad_width: tuple[tuple[int, int], ...], value: Any = 0):
        self.pad_width = tuple((int(lo), int(hi)) for lo, hi in pad_width)
        self.value = value

    def forward(self, a):
        # one fill and one copy into the interior (np.pad does the same with more overhead)
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, self.pad_width, strict=True))
        if a.dtype.kind not in "fc" or a.size * a.itemsize < _POOL_MIN_BYTES:
            out = np.full_like(a, self.value, shape=shape)  # a's memory order
        else:  # a's memory order, pooled; only the border is filled
            out = _scratch_like(shape, a.strides, a.dtype)
            for axis, (lo, hi) in enumerate(self.pad_width):
                before = (slice(None),) * axis
                if lo:
                    out[before + (slice(0, lo),)] = self.value
                if hi:
                    out[before + (slice(out.shape[axis] - hi, None),)] = self.value
        out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, self.pad_width,
                                                          strict=True))] = a
        return out

    def vjp(self, g, out, a):
        index = tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.pad_width, g.shape,
                                                               strict=True))
        return (g[index],)


class Slice(Primitive):
    """Basic slicing ``x[start:stop:step, ...]`` with positive steps."""

    name, kind, linear = "slice", "movement", True
    formula = "z = x[start:stop:step, …]"
    vjp_formula = "x̄ = zeros shaped like x with ḡ written at the sliced positions"
    examples = ((((4, 5),), {"index": (slice(1, 3, 1), slice(0, 5, 2))}),)

    def __init__(self, index: tuple[slice, ...]):
        self.index = tuple(index)

    def forward(self, a):
        return a[self.index]

    def vjp(self, g, out, a):
        grad = np.zeros(a.shape, dtype=g.dtype)
        grad[self.index] = g
        return (grad,)


class Window(Primitive):
    """Sliding windows over the last two axes, as a strided view (no copy).

    ``(..., H, W) -> (..., OH, OW, KH, KW)`` with
    ``z[..., i, j, p, q] = x[..., i·sh + p·dh, j·sw + q·dw]``.
    Its VJP scatters back: one strided add per kernel offset (KH·KW adds, never a loop over
    pixels).
    """

    name, kind, linear = "window", "movement", True
    formula = "z[…, i, j, p, q] = x[…, i·s_h + p·d_h, j·s_w + q·d_w]"
    vjp_formula = "x̄[…, i·s_h + p·d_h, j·s_w + q·d_w] += ḡ[…, i, j, p, q]  (scatter-add)"
    examples = ((((1, 2, 5, 5),), {"kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1)}),
                (((2, 6, 7),), {"kernel": (2, 3), "stride": (2, 3), "dilation": (1, 1)}),
                (((1, 7, 7),), {"kernel": (2, 2), "stride": (1, 2), "dilation": (2, 3)}))

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int] = (1, 1)):
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.dilation = tuple(dilation)

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        return (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1

    def forward(self, a):
        *lead, h, w = a.shape
        oh, ow = self.output_hw(h, w)
        if oh < 1 or ow < 1:
            raise ValueError(f"window {self.kernel} (dilation {self.dilation}) does not fit "
                             f"in an input of size {(h, w)}")
        (sh, sw), (dh, dw) = self.stride, self.dilation
        # with one window along an axis its stride is never used (and a huge one would
        # overflow the byte strides below)
        sh, sw = (sh if oh > 1 else 1), (sw if ow > 1 else 1)
        *lead_strides, s_h, s_w = a.strides
        return as_strided(a, shape=(*lead, oh, ow, *self.kernel),
                          strides=(*lead_strides, s_h * sh, s_w * sw, s_h * dh, s_w * dw),
                          writeable=False)

    def vjp(self, g, out, a):
        *lead, h, w = a.shape
        oh, ow = g.shape[-4], g.shape[-3]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        # allocate the gradient with its axes in g's memory order (g's (..., OH, OW) axes
        # stand for (..., H, W)), so that every strided add below walks both operands in
        # the same order: a transposed view of a contiguous buffer
        nd = len(lead) + 2
        order = sorted(range(nd), key=lambda i: -abs(g.strides[i]))
        shape = (*lead, h, w)
        base = _scratch(tuple(shape[i] for i in order), g.dtype)
        grad = base.transpose([order.index(i) for i in range(nd)])
        # at stride 1 the first offset covers the block [:OH, :OW]: it is copied there and
        # only the rest is zeroed (one pass over the gradient fewer than fill-then-add)
        block = (sh, sw) == (1, 1) and g.dtype.kind in "fc" and base.nbytes >= _POOL_MIN_BYTES
        if block:
            grad[..., oh:, :] = 0
            grad[..., :oh, ow:] = 0
        else:
            base.fill(0)
        for p in range(kh):
            rows = slice(p * dh, p * dh + sh * (oh - 1) + 1, sh)
            for q in range(kw):
                cols = slice(q * dw, q * dw + sw * (ow - 1) + 1, sw)
                if block and p == q == 0:
                    np.copyto(grad[..., rows, cols], g[..., 0, 0])
                else:
                    grad[..., rows, cols] += g[..., p, q]
        return (grad,)


class Gather(Primitive):
    """Advanced indexing ``x[index]`` (integer arrays, masks, ``None``, slices), NumPy's rules.

    Its VJP scatter-adds: ``np.add.at`` accumulates a repeated index (``x[[0, 0]]`` sends
    both gradients to ``x[0]``), where a plain assignment would keep only the last.
    """

    name, kind, linear = "gather", "movement", True
    formula = "z = x[index]  (integer arrays: z[k] = x[i_k])"
    vjp_formula = "x̄ = zeros shaped like x;  x̄[i_k] += ḡ[k]  (scatter-add, repeats accumulate)"
    examples = ((((5, 3),), {"index": (np.array([0, 2, 2, 4]),)}),
                (((3, 4),), {"index": (slice(None), np.array([[1, 1], [0, 3]]))}),
                (((2, 3),), {"index": (None, np.array([1, 0, 1]), slice(0, 2))}))

    def __init__(self, index: tuple[Any, ...]):
        self.index = tuple(index)

    def forward(self, a):
        return a[self.index]

    def vjp(self, g, out, a):
        grad = np.zeros(a.shape, dtype=np.result_type(g))
        if grad.dtype == object:
            grad[...] = 0
        np.add.at(grad, self.index, g)
        return (grad,)


# --------------------------------------------------------------------------- contraction


class MatMul(Primitive):
    """Batched matrix product ``(..., M, K) @ (..., K, N)`` (same batch shape): BLAS."""

    name, kind, arity = "matmul", "contraction", 2
    formula = "z[…, m, n] = Σ_k x[…, m, k] · y[…, k, n]"
    vjp_formula = "x̄ = ḡ · yᵀ,  ȳ = xᵀ · ḡ"
    saves, crossed = (0, 1), True
    examples = ((((2, 3), (3, 4)), {}), (((2, 2, 3), (2, 3, 1)), {}))

    def forward(self, a, b):
        if _integer(a) and _integer(b):
            return exact_integer("matmul", np.matmul, a, b)
        return _matmul(a, b)

    def vjp(self, g, out, a, b, needs=(True, True)):
        return (_product(g, _transposed(b), a) if needs[0] else None,
                _product(_transposed(a), g, b) if needs[1] else None)


def _transposed(x: np.ndarray) -> np.ndarray:
    """``x`` with its last two axes swapped: a view, or for a small stack of float matrices
    (a Winograd filter, 36 x 64 x 32) a contiguous copy, which OpenBLAS multiplies faster
    than the transposed view (dV = Uᵀ dM for 32 -> 64 channels: 2.04 -> 1.75 ms)."""
    t = np.swapaxes(x, -1, -2)
    if x.ndim > 2 and x.dtype.kind == "f" and x.size <= 1 << 18:
        return np.ascontiguousarray(t)
    return t


def _product(x: np.ndarray, y: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """``x @ y``; a wide 2-D float result of a long reduction is ``(yᵀ @ xᵀ)ᵀ``.

    For a weight gradient (O, C·KH·KW) summed over N·OH·OW, OpenBLAS is faster with the
    longer side of the result first (1.1 -> 0.7 ms for 16x72, 5.1 -> 4.0 ms for 64x576);
    the result is then a transposed view. Short reductions keep their layout (the input
    gradient of a conv must stay (C·KH·KW, N·OH·OW) for the col2im that follows).

    A batched gradient is laid out like its operand ``like`` (the conv's columns are a
    per-image view of a (C·KH·KW, N, OH·OW) array: their gradient is that array again, so
    the reshapes back to the window view stay views and the col2im walks it in order).
    """
    if (x.ndim == 2 and y.ndim == 2 and x.dtype.kind == "f"
            and x.shape[0] < y.shape[1] < x.shape[1]):  # a long reduction, e.g. dW
        return _matmul(y.T, x.T).T
    return _matmul(x, y, like)


#: The derivative table: every primitive of the engine, by name.
TABLE: dict[str, type[Primitive]] = {
    cls.name: cls
    for cls in (Add, Mul, Pow, Power, Exp, Log, Tanh, Maximum, Sum, Max, Reshape, Permute,
                Expand, Pad, Slice, Gather, Window, MatMul)
}

# Stateless entries are shared (the scalar engine creates one node per operation, so this
# saves an allocation per node); entries with parameters are instantiated per call.
ADD, MUL, EXP, LOG, TANH, MATMUL = Add(), Mul(), Exp(), Log(), Tanh(), MatMul()
POWER = Power()
MAXIMUM = Maximum()  # a tie split evenly (torch.maximum)
MAXIMUM_FIRST = Maximum(tie=1)  # a tie to the first argument: relu = max(0, x), max-pool
