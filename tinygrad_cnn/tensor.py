"""`Tensor`: a NumPy array that records the primitives applied to it, for reverse mode.

Every operation here is a composition of entries of :mod:`tinygrad_cnn.primitives`; this
module defines no derivative of its own. Broadcasting is made explicit (`reshape` then
`expand`), so the gradient of a broadcast operand is summed back by `Expand`'s VJP, the
one place that does it.

The element type is kept: float32 in, float32 out and float32 gradients; float64 likewise;
NumPy object arrays of ``fractions.Fraction`` or SymPy values run the very same code with
exact arithmetic wherever the math is exact (movement, add, mul, sum, matmul, max on
rationals).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from . import autograd
from . import primitives as P

_FLOAT_KINDS = "fc"  # dtypes that may require grad (plus object, for exact arithmetic)


def _can_require_grad(dtype: np.dtype) -> bool:
    return dtype.kind in _FLOAT_KINDS or dtype.kind == "O"


def _is_plain_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def _all_plain(data: Any) -> bool:
    """True if a nested list holds only bool / int / float (NumPy's scalars included)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not (_is_plain_number(item) or isinstance(item, (np.number, np.bool_))):
            return False
    return True


def _to_array(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        return data.data.copy()
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    if _is_plain_number(data):
        return np.asarray(data, dtype=np.float32)
    if isinstance(data, (list, tuple)):
        if _all_plain(data):
            return np.asarray(data, dtype=np.float32)
        return np.asarray(data, dtype=object)  # Fractions, SymPy values, ...
    if isinstance(data, numbers.Number) or type(data).__module__.startswith("sympy"):
        return np.asarray(data, dtype=object)
    raise TypeError(f"Tensor(data): expected an ndarray, a nested list or a number, "
                    f"got {type(data).__name__}")


def _resolve_shape(old: tuple[int, ...], size: int, shape: tuple[Any, ...]
                   ) -> tuple[int, ...] | None:
    """NumPy's reshape rule (one -1 is inferred); None if ``size`` elements cannot fit."""
    if all(type(n) is int for n in shape):
        if shape.count(-1) > 1 or any(n < -1 for n in shape):
            return None
        known = 1
        for n in shape:
            if n != -1:
                known *= n
        if -1 in shape:
            if known == 0 or size % known:
                return None
            return tuple(size // known if n == -1 else n for n in shape)
        return shape if known == size else None
    try:  # NumPy integers and the like: let NumPy decide
        return np.broadcast_to(0, old).reshape(shape).shape
    except (ValueError, TypeError):
        return None


class _Freed(P.Primitive):
    """Stands in for the op of a node whose graph a previous backward released."""

    name = "freed"

    def vjp(self, g, out, *xs):
        raise RuntimeError(
            "backward through a graph that a previous backward() already freed; "
            "call backward(retain_graph=True) the first time if you need it twice")


_FREED = _Freed()


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : ndarray, nested list, number or Tensor
        An ndarray keeps its dtype (use float32 or float64 for training, an object array of
        ``Fraction`` / SymPy values for exact results); a nested list of Python numbers
        becomes float32; a list holding Fractions or SymPy values becomes an object array.
    requires_grad : bool, default False
        Record operations on this tensor so that ``backward()`` fills ``.grad``. Only
        floating and object dtypes may require grad (class labels never do).

    Examples
    --------
    >>> x = Tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad.numpy().tolist()
    [[2.0, -4.0], [6.0, 1.0]]
    """

    __slots__ = ("data", "grad", "requires_grad", "_op", "_parents", "_g", "_pending",
                 "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False):
        array = _to_array(data)
        if requires_grad and not _can_require_grad(array.dtype):
            raise TypeError(f"Tensor(requires_grad=True): only floating-point or object dtypes "
                            f"can require gradients, got dtype {array.dtype}")
        self.data: np.ndarray = array
        self.grad: Tensor | None = None
        self.requires_grad: bool = bool(requires_grad)
        self._op: P.Primitive | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._g: np.ndarray | None = None
        self._pending = 0  # consumers still to run, during backward (autograd's counter)

    # ----------------------------------------------------------------- graph plumbing
    @staticmethod
    def _apply(op: P.Primitive, *parents: Tensor) -> Tensor:
        """Run one primitive forward and, if needed, record it for backward."""
        out = Tensor.__new__(Tensor)
        data = op.forward(*[p.data for p in parents])
        out.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        out.grad = None
        out._g = None
        out._pending = 0
        record = False
        if autograd._grad_enabled:
            for p in parents:  # (a loop: cheaper than any() over a generator)
                if p.requires_grad:
                    record = True
                    break
        if record:
            out.requires_grad = True
            out._op = op
            out._parents = parents
        else:
            out.requires_grad = False
            out._op = None
            out._parents = ()
        return out

    def _reset_grad(self) -> None:
        if self._op is not None:
            self._g = None

    def _accumulate(self, g: Any) -> None:
        if type(g) is not np.ndarray:
            g = np.asarray(g)
        data = self.data
        if g.dtype != data.dtype and data.dtype != object:
            g = g.astype(data.dtype)
        if g.shape != data.shape:  # an engine bug, never a user error
            raise AssertionError(f"gradient of shape {g.shape} for a tensor of shape "
                                 f"{data.shape}")
        if self._op is None:  # a leaf: accumulate into .grad, as PyTorch does
            if self.grad is None:
                self.grad = Tensor(np.array(g, copy=True))
            else:
                self.grad.data = self.grad.data + g
        elif self._g is None:
            self._g = g
        else:
            self._g = self._g + g

    def _take_grad(self) -> np.ndarray | None:
        g, self._g = self._g, None
        return g

    def _release(self) -> None:
        self._op = _FREED
        self._parents = ()

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad.

        Parameters
        ----------
        gradient : array-like, optional
            d(final quantity)/d(self). May be omitted only for a tensor with one element.
        retain_graph : bool, default False
            Keep the graph so that backward can run through it again.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad (no input "
                               "requires grad, or it was computed under no_grad())")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): gradient can be omitted only for a tensor "
                                   f"with one element, this one has shape {self.shape}")
            seed = np.ones(self.shape, dtype=self.data.dtype)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
            if seed.shape != self.shape:
                raise ValueError(f"backward(gradient): expected shape {self.shape}, got "
                                 f"{seed.shape}")
        autograd.backward(self, seed, free_graph=not retain_graph)

    # --------------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shared, not copied)."""
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): tensor has {self.data.size} elements, expected 1")
        return self.data.reshape(()).item() if self.dtype != object else self.data.flat[0]

    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, separator=', ')}, dtype={self.dtype}{grad})"

    # ------------------------------------------------------------------------ helpers
    def _const(self, x: Any) -> Tensor:
        """Wrap a Python number / array as a constant tensor of a compatible dtype."""
        if isinstance(x, Tensor):
            return x
        if isinstance(x, np.ndarray):
            return Tensor(x)
        if self.dtype == object:
            if isinstance(x, int) and not isinstance(x, bool):
                x = Fraction(x)
            return Tensor(np.asarray(x, dtype=object))
        if self.dtype.kind in _FLOAT_KINDS:
            return Tensor._constant(np.asarray(x, dtype=self.dtype))
        # an integer / bool tensor follows NumPy: with an int it stays integer, with a
        # float it becomes float64 (a float32 constant would round 1/3 before the product)
        exact_int = isinstance(x, (int, np.integer)) and not isinstance(x, bool)
        return Tensor._constant(np.asarray(x, dtype=self.dtype if exact_int and
                                           self.dtype.kind in "iu" else np.float64))

    @staticmethod
    def _constant(array: np.ndarray) -> Tensor:
        """A leaf that requires no grad around an ndarray (Tensor(array) without checks)."""
        out = Tensor.__new__(Tensor)
        out.data = array
        out.grad = None
        out.requires_grad = False
        out._op = None
        out._parents = ()
        out._g = None
        out._pending = 0
        return out

    def _broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        if self.shape == shape:
            return self
        t = self
        if t.ndim < len(shape):
            t = t.reshape((1,) * (len(shape) - t.ndim) + t.shape)
        if t.ndim > len(shape):
            raise ValueError(f"cannot broadcast shape {self.shape} to {shape}")
        # shape comes from np.broadcast_shapes: valid for expand, no need to check it again
        return t if t.shape == shape else Tensor._apply(P.Expand(shape), t)

    def _binary(self, op: P.Primitive, other: Any, reverse: bool = False) -> Tensor:
        other = self._const(other)
        a, b = (other, self) if reverse else (self, other)
        if a.shape == b.shape:
            return Tensor._apply(op, a, b)
        if not b.shape and not b.requires_grad:  # x op scalar constant: nothing to expand
            return Tensor._apply(op, a, b)
        if not a.shape and not a.requires_grad:
            return Tensor._apply(op, a, b)
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{op.name}: shapes {a.shape} and {b.shape} do not broadcast") \
                from None
        # An operand that records no gradient (a constant, or anything under no_grad) is
        # left to NumPy's broadcasting: no gradient will flow to it, so it needs no Expand
        # node (and its graph-free reshape / expand would only cost time).
        record = autograd._grad_enabled
        if record and a.requires_grad:
            a = a._broadcast_to(shape)
        if record and b.requires_grad:
            b = b._broadcast_to(shape)
        return Tensor._apply(op, a, b)

    # --------------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        return self._binary(P.ADD, other)

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(P.ADD, other, reverse=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(P.MUL, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(P.MUL, other, reverse=True)

    def __neg__(self) -> Tensor:
        return self * -1

    def __sub__(self, other: Any) -> Tensor:
        return self + (-self._const(other))

    def __rsub__(self, other: Any) -> Tensor:
        return self._const(other) + (-self)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor):
            raise TypeError("Tensor ** Tensor is not supported; use exp(y * log(x))")
        if isinstance(exponent, int) and self.dtype == object:
            exponent = Fraction(exponent) if exponent < 0 else exponent
        if self.dtype.kind in "iub" and not (isinstance(exponent, (int, np.integer))
                                            and exponent >= 0):
            # NumPy refuses negative integer powers of integers; an integer tensor never
            # requires grad, so its values can be taken to float64 first
            return Tensor._constant(self.data.astype(np.float64)) ** exponent
        return Tensor._apply(P.Pow(exponent), self)

    def __rpow__(self, base: Any) -> Tensor:
        return (self * self._const(base).log()).exp()

    def __truediv__(self, other: Any) -> Tensor:
        return self * self._const(other) ** -1

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._const(other) * self**-1

    def __matmul__(self, other: Any) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._const(other).matmul(self)

    def exp(self) -> Tensor:
        """e**x elementwise."""
        return Tensor._apply(P.EXP, self)

    def log(self) -> Tensor:
        """Natural log elementwise."""
        return Tensor._apply(P.LOG, self)

    def tanh(self) -> Tensor:
        """tanh elementwise."""
        return Tensor._apply(P.TANH, self)

    def maximum(self, other: Any) -> Tensor:
        """Elementwise max(self, other); a tie sends the gradient to ``self``."""
        return self._binary(P.MAXIMUM, other)

    def relu(self) -> Tensor:
        """max(0, x) elementwise, with relu'(0) = 0 (the tie goes to the constant 0)."""
        return self._binary(P.MAXIMUM, 0, reverse=True)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x), composed from maximum, exp, add, mul and pow.

        Computed as ``(m + (1 - m)·e) / (1 + e)`` with ``e = exp(-|x|)`` and the constant
        mask ``m = [x >= 0]``: the same function, but exp never overflows (the plain form
        gives ``1/(1 + inf)`` for x << 0 and a NaN gradient, 0 · inf). ``|x|`` is
        ``maximum(x, -x)``, whose tie rule gives |x|'(0) = +1, matching m = 1 at 0.
        """
        e = (-self.maximum(-self)).exp()
        positive = self.data >= 0
        if self.dtype == object:
            mask = Tensor(np.where(positive, Fraction(1), Fraction(0)))
        else:
            mask = Tensor(positive.astype(self.dtype))
        return (mask + (1 - mask) * e) * (1 + e) ** -1

    # ------------------------------------------------------------------------ reductions
    def _axes(self, axis: int | Sequence[int] | None) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        out = []
        for a in axes:
            if not -self.ndim <= a < max(self.ndim, 1):
                raise ValueError(f"axis {a} is out of range for a tensor of {self.ndim} dims")
            out.append(int(a) % max(self.ndim, 1))
        if len(set(out)) != len(out):
            raise ValueError(f"axis {axis} repeats an axis")
        return tuple(sorted(out))

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes when None)."""
        return Tensor._apply(P.Sum(self._axes(axis), keepdims), self)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes when None): sum times 1/count."""
        axes = self._axes(axis)
        count = int(np.prod([self.shape[a] for a in axes])) if axes else 1
        scale = Fraction(1, count) if self.dtype == object else 1.0 / count
        return self.sum(axes, keepdims) * scale

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Max over ``axis`` (all axes when None); the gradient goes to the first max."""
        axes = self._axes(axis)
        if self.ndim == 0:
            return self
        if len(axes) == 1:
            return Tensor._apply(P.Max(axes[0], keepdims), self)
        # several axes: reduce them one at a time, last axis first. The winner is then the
        # first maximum along the outer axes among the first maxima along the inner ones,
        # i.e. the first maximum in row-major order, as if the axes were merged (no copy)
        out = self
        for a in reversed(axes):
            out = Tensor._apply(P.Max(a, False), out)
        if keepdims:
            out = out.reshape(tuple(1 if a in axes else n for a, n in enumerate(self.shape)))
        return out

    # -------------------------------------------------------------------------- movement
    def reshape(self, *shape: Any) -> Tensor:
        """View with a new shape (one entry may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        new_shape = _resolve_shape(self.shape, self.data.size, shape)
        if new_shape is None:
            raise ValueError(f"reshape: cannot view a tensor of shape {self.shape} "
                             f"({self.size} elements) as {tuple(shape)}")
        if new_shape == self.shape:
            return self
        return Tensor._apply(P.Reshape(new_shape), self)

    def permute(self, *axes: Any) -> Tensor:
        """Reorder the axes."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) != self.ndim or any(not -self.ndim <= a < self.ndim for a in axes) or \
                sorted(a % self.ndim for a in axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of {self.ndim} axes")
        return Tensor._apply(P.Permute(tuple(a % self.ndim for a in axes)), self)

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        """Swap two axes."""
        for name, a in (("axis0", axis0), ("axis1", axis1)):
            if not -self.ndim <= a < self.ndim:
                raise ValueError(f"transpose: {name}={a} is out of range for a tensor of "
                                 f"{self.ndim} dims (expected {-self.ndim} <= {name} < "
                                 f"{self.ndim})")
        axes = list(range(self.ndim))
        axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
        return self.permute(tuple(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self, *shape: Any) -> Tensor:
        """Repeat size-1 axes up to ``shape`` (a view in the forward pass)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.ndim or any(n not in (1, m) for n, m in zip(self.shape, shape,
                                                                         strict=True)):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}")
        if shape == self.shape:
            return self
        return Tensor._apply(P.Expand(shape), self)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge the axes ``start_dim..end_dim`` into one."""
        if self.ndim == 0:
            return self.reshape(1)
        for name, d in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not -self.ndim <= d < self.ndim:
                raise ValueError(f"flatten: {name}={d} is out of range for a tensor of "
                                 f"{self.ndim} dims (expected {-self.ndim} <= {name} < "
                                 f"{self.ndim})")
        start, end = start_dim % self.ndim, end_dim % self.ndim
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1:])

    def pad(self, pad_width: Sequence[tuple[int, int]], value: Any = 0) -> Tensor:
        """Pad with a constant: one (before, after) pair per axis."""
        pad_width = tuple((int(lo), int(hi)) for lo, hi in pad_width)
        if len(pad_width) != self.ndim or any(lo < 0 or hi < 0 for lo, hi in pad_width):
            raise ValueError(f"pad: expected {self.ndim} non-negative (before, after) pairs, "
                             f"got {pad_width}")
        if all(lo == hi == 0 for lo, hi in pad_width):
            return self
        return Tensor._apply(P.Pad(pad_width, value), self)

    def __getitem__(self, index: Any) -> Tensor:
        """Basic indexing: integers and slices with positive steps."""
        if not isinstance(index, tuple):
            index = (index,)
        if any(i is Ellipsis for i in index):
            k = index.index(Ellipsis)
            index = index[:k] + (slice(None),) * (self.ndim - len(index) + 1) + index[k + 1:]
        if len(index) > self.ndim:
            raise IndexError(f"too many indices ({len(index)}) for {self.ndim} dims")
        slices, squeeze = [], []
        for axis, i in enumerate(index):
            n = self.shape[axis]
            if isinstance(i, (int, np.integer)):
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of range for axis {axis} of size {n}")
                i = int(i) % n
                slices.append(slice(i, i + 1, 1))
                squeeze.append(axis)
            elif isinstance(i, slice):
                start, stop, step = i.indices(n)
                if step <= 0:
                    raise IndexError("only positive slice steps are supported")
                slices.append(slice(start, stop, step))
            else:
                raise TypeError(f"unsupported index {i!r}: use ints and slices")
        slices += [slice(0, n, 1) for n in self.shape[len(slices):]]
        out = Tensor._apply(P.Slice(tuple(slices)), self)
        if squeeze:
            out = out.reshape(tuple(n for a, n in enumerate(out.shape) if a not in squeeze))
        return out

    def windows(self, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Tensor:
        """Sliding windows over the last two axes: ``(..., H, W) -> (..., OH, OW, KH, KW)``."""
        return Tensor._apply(P.Window(kernel, stride, dilation), self)

    def matmul(self, other: Any) -> Tensor:
        """Matrix product with NumPy's rules (1-D operands, broadcast batch axes)."""
        other = self._const(other)
        a, b = self, other
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least one axis")
        a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
        b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: inner sizes differ: {a.shape} @ {b.shape}")
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        a2 = a2._broadcast_to(batch + a2.shape[-2:])
        b2 = b2._broadcast_to(batch + b2.shape[-2:])
        out = Tensor._apply(P.MATMUL, a2, b2)
        if a.ndim == 1:
            out = out.reshape(out.shape[:-2] + out.shape[-1:])
        if b.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out
