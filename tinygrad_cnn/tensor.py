"""`Tensor`: a NumPy array that records the primitives applied to it, for reverse mode.

Every operation here is a composition of entries of :mod:`tinygrad_cnn.primitives`; this
module defines no derivative of its own. Broadcasting is made explicit (`reshape` then
`expand`), so the gradient of a broadcast operand is summed back by `Expand`'s VJP, the
one place that does it.

The element type is kept: float32 in, float32 out and float32 gradients; float64 likewise;
NumPy object arrays of ``fractions.Fraction`` or SymPy values run the very same code with
exact arithmetic wherever the math is exact (movement, add, mul, sum, matmul, max on
rationals).

In-place changes: ``Tensor(ndarray)`` shares the array (no copy, like ``torch.from_numpy``),
and ``t.data`` is the array itself. Changing either in place between a forward pass and its
``backward()`` is detected where it matters, as PyTorch's version counter does: every
array an op's backward reads (its ``saves``) is fingerprinted (CRC-32) once the caller can
reach it, and ``backward()`` raises a RuntimeError naming the tensor if it changed, or if
``.data`` was reassigned. Arrays only the engine can reach are not fingerprinted (no cost).
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import zlib
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from . import autograd
from . import primitives as P

_FLOAT_KINDS = "fc"  # dtypes that may require grad (plus object, for exact arithmetic)
_SMALL = 1 << 24  # elements: an array this small needs no check against the memory size


def _quiet_state() -> tuple[Any, Any]:
    """NumPy's floating-point error state as a context variable and its "ignore all" value,
    so that an op can switch to IEEE results without warnings in ~0.3 µs (``np.errstate``
    builds its state anew each time, ~1 µs, too much for every small op); ``(None, None)``
    if this NumPy keeps it elsewhere (then `_quiet` is ``np.errstate``)."""
    try:
        from numpy._core import _ufunc_config

        var = _ufunc_config._extobj_contextvar
        with np.errstate(all="ignore"):
            return var, var.get()
    except (ImportError, AttributeError):  # pragma: no cover - another NumPy layout
        return None, None


_ERR_STATE, _ERR_IGNORE = _quiet_state()


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


_ARRAY_KINDS = "biufcO"  # bool, integers, floats, complex, object (exact numbers)


def _is_number(x: Any) -> bool:
    """A number the engine computes with: Python / NumPy numbers, Fractions, SymPy values."""
    return (isinstance(x, (numbers.Number, np.number, np.bool_))
            or type(x).__module__.startswith("sympy"))


def _check_elements(array: np.ndarray, where: str) -> np.ndarray:
    """Refuse arrays of strings, dates, None, ... (they fail later with a stranger message)."""
    kind = array.dtype.kind
    if kind in "fiub":  # the common case, checked first
        return array
    if kind not in _ARRAY_KINDS:
        raise TypeError(f"Tensor(data): {where} has dtype {array.dtype}, expected numbers "
                        f"(bool, int, float, or an object array of exact rationals / SymPy "
                        f"values)")
    if array.dtype == object:
        for item in array.flat:
            if isinstance(item, (list, tuple)):
                raise ValueError(f"Tensor(data): {where} is not rectangular (nested lists of "
                                 f"different lengths)")
            if not _is_number(item):
                raise TypeError(f"Tensor(data): {where} holds {item!r} "
                                f"({type(item).__name__}), expected numbers (bool, int, "
                                f"float, exact rationals, SymPy values)")
    return array


def _to_array(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, np.ndarray):
        return _check_elements(data, "the ndarray")
    if isinstance(data, np.generic):
        return _check_elements(np.asarray(data), "the NumPy scalar")
    if _is_plain_number(data):
        return np.asarray(data, dtype=np.float32)
    if isinstance(data, (list, tuple)):
        if _all_plain(data):
            return np.asarray(data, dtype=np.float32)
        try:
            array = np.asarray(data, dtype=object)  # Fractions, SymPy values, ...
        except ValueError:  # ragged nesting
            raise ValueError("Tensor(data): the list is not rectangular (nested lists of "
                             "different lengths)") from None
        return _check_elements(array, "the list")
    if isinstance(data, numbers.Number) or type(data).__module__.startswith("sympy"):
        return np.asarray(data, dtype=object)
    raise TypeError(f"Tensor(data): expected an ndarray, a nested list or a number, "
                    f"got {type(data).__name__}")


def _checksum(a: np.ndarray) -> Any:
    """A fingerprint of the values of ``a``: CRC-32 of its bytes (any edit changes it, a
    swap of two elements too); for object arrays the hash of the values."""
    if a.dtype.kind == "O":
        try:
            return hash(tuple(a.flat))
        except TypeError:  # unhashable elements: their identities
            return tuple(map(id, a.flat))
    shape = a.shape
    if a.flags.c_contiguous:  # its buffer as it is (crc32 reads any contiguous buffer)
        return (shape, zlib.crc32(a))
    if a.ndim == 2 and a.T.flags.c_contiguous:  # a transposed matrix (x @ w.T's weight)
        return (shape, zlib.crc32(a.T))
    # a transposed view of a contiguous block (a permuted output, NCHW seen from a
    # batch-innermost layout): its bytes in memory order, no copy; anything else is copied
    # first. Either way the same array gives the same fingerprint every time.
    order = sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))
    walked = a.transpose(order)
    a = walked if walked.flags.c_contiguous else np.ascontiguousarray(a)
    return (shape, zlib.crc32(a))


def _describe(t: Tensor) -> str:
    what = "a leaf" if t._op is None else f"the output of {t._op.name}"
    if t._op is _FREED:
        what = "an already backpropagated result"
    return f"tensor of shape {t._data.shape}, dtype {t._data.dtype} ({what})"


@functools.cache
def _max_bytes() -> int:
    """The physical memory of this machine (an array larger than it is refused)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def check_size(fn: str, what: str, shape: Sequence[int], dtype: Any) -> None:
    """Refuse, before allocating, an array larger than this machine's memory.

    Raises ValueError naming ``what``, the shape it would have and its size in bytes. The
    product is taken on Python ints, so it never overflows.
    """
    count = 1
    for n in shape:
        count *= int(n)
    limit = _max_bytes()
    nbytes = count * np.dtype(dtype).itemsize
    if nbytes > limit:
        raise ValueError(f"{fn}: {what} would have shape {tuple(int(n) for n in shape)}, "
                         f"{nbytes / 2**30:.4g} GiB as {np.dtype(dtype)}, more than this "
                         f"machine's memory ({limit / 2**30:.3g} GiB); refused before "
                         f"allocating")


def _check_fill(value: Any, dtype: np.dtype) -> None:
    """Refuse a pad value that an integer / bool array cannot hold exactly (the dtype rule:
    never truncated, never wrapped)."""
    if dtype.kind not in "iub":
        return
    try:
        exact = value == int(value)
    except (TypeError, ValueError, OverflowError):  # NaN, inf, a string, a symbol
        exact = False
    if exact:
        low, high = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
        exact = low <= int(value) <= high
    if not exact:
        raise TypeError(f"pad: value {value!r} cannot be held exactly by the input's dtype "
                        f"{dtype}; convert the input first, e.g. x.astype(np.float64)")


def _index_item(i: Any) -> Any:
    """One item of an index: Tensors and lists become ndarrays (integer or bool)."""
    if isinstance(i, Tensor):
        i = i._data
    elif isinstance(i, list):
        i = np.asarray(i)
        if i.size == 0:
            i = i.astype(np.intp)
    if isinstance(i, np.ndarray):
        if i.dtype.kind not in "iub":
            raise IndexError(f"arrays used as indices must be of integer or boolean type, "
                             f"got dtype {i.dtype}")
        return i
    if isinstance(i, bool) or i is None or i is Ellipsis or isinstance(i, slice):
        return i
    if isinstance(i, (int, np.integer)):
        return i
    raise TypeError(f"unsupported index {i!r} ({type(i).__name__}): use ints, slices, None, "
                    f"..., integer arrays or boolean masks")


def _show(index: tuple[Any, ...]) -> str:
    return "(" + ", ".join(f"array{i.shape}" if isinstance(i, np.ndarray) else repr(i)
                           for i in index) + ")"


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


def _broadcast_shapes(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...] | None:
    """``np.broadcast_shapes(x, y)`` for two shapes (None if they do not broadcast), in a
    few Python steps (NumPy's takes ~3 µs, as much as a small op)."""
    if len(x) < len(y):
        x, y = y, x
    out = list(x)
    lead = len(x) - len(y)
    for i, m in enumerate(y):
        n = x[lead + i]
        if n != m:
            if n == 1:
                out[lead + i] = m
            elif m != 1:
                return None
    return tuple(out)


def _plus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` of two gradients, an array also when NumPy gives a 0-d object sum back as
    its element."""
    total = a + b
    return total if type(total) is np.ndarray else np.asarray(total, dtype=a.dtype)


class _Freed(P.Primitive):
    """Stands in for the op of a node whose graph a previous backward released."""

    name = "freed"

    def vjp(self, g, out, *xs):
        raise RuntimeError(
            "backward through a graph that a previous backward() already freed; "
            "call backward(retain_graph=True) the first time if you need it twice")


_FREED = _Freed()


#: bumped whenever the caller gains a way to change an array (a tensor's data is exposed
#: or reassigned): a backward that finds it unchanged since a node's forward pass knows
#: that no array unreachable back then can have changed, and skips their checks
_epoch = 0


def _record(saves: tuple[Any, ...], parents: tuple[Tensor, ...]) -> tuple[Any, ...]:
    """What `Tensor._check_saved` compares at backward time for the arrays an op saves:
    ``(epoch, checked, others)``, with (which, version, fingerprint) for the arrays the
    caller can reach (fingerprinted now) and (which, version) for the others (they can only
    change once exposed, and `Tensor._expose` stamps them then)."""
    checked, others = [], []
    for i in saves:
        if i == "out":  # (the output is marked watched by `Tensor._apply`)
            others.append(("out", 0))
            continue
        p = parents[i]
        if _reachable(p):
            checked.append((i, p._version, _checksum(p._data)))
        else:
            others.append((i, p._version))
            _watch(p)
    return _epoch, tuple(checked), tuple(others)


def _watch(t: Tensor) -> None:
    """Mark ``t`` and the tensors it is a view of: a node saved them without a fingerprint,
    so `Tensor._expose` must fingerprint them if the caller ever reaches them. Arrays no
    node saved are exposed for free (``y.data`` on a conv's output costs no CRC)."""
    node: Tensor | None = t
    while node is not None and not node._watched:
        node._watched = True
        op = node._op
        if op is None or op.kind != "movement":
            return
        node = _view_parent(node)


def _view_parent(t: Tensor) -> Tensor | None:
    """The tensor whose memory ``t``'s data is a view of (a movement op's input), if any."""
    op = t._op
    if op is None or op.kind != "movement" or not t._parents:
        return None
    parent = t._parents[0]
    return parent if np.may_share_memory(t._data, parent._data) else None


def _reachable(t: Tensor) -> bool:
    """Whether the caller can reach ``t``'s memory: ``t`` or a tensor it views is exposed."""
    node: Tensor | None = t
    while node is not None:
        if node._exposed:
            return True
        op = node._op
        if op is None or op.kind != "movement":  # (the common case, without a call)
            return False
        node = _view_parent(node)
    return False


def _changed(t: Tensor, version: int, fingerprint: Any) -> str:
    """How ``t`` changed since an op saved it ("" if it did not)."""
    if t._version != version:
        return "had its .data reassigned"
    if fingerprint is not None:
        return "" if _checksum(t._data) == fingerprint else "was changed in place"
    # not reachable by the caller when saved: it can only have changed after being
    # exposed (its stamp), or through a tensor it is a view of
    node = t
    while True:
        stamp = node._stamp
        if stamp is not None:
            if stamp[0] != node._version:
                return "had its .data reassigned"
            if _checksum(node._data) != stamp[1]:
                return "was changed in place" if node is t else \
                    f"was changed in place (through the {_describe(node)} it is a view of)"
        node = _view_parent(node)
        if node is None:
            return ""


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : ndarray, nested list, number or Tensor
        An ndarray keeps its dtype (use float32 or float64 for training, an object array of
        ``Fraction`` / SymPy values for exact results) and is shared, not copied (as
        ``torch.from_numpy``): editing it in place before a ``backward()`` that needs its
        values makes that backward raise. A nested list of Python numbers becomes float32;
        a list holding Fractions or SymPy values becomes an object array; a Tensor is
        copied.
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

    __slots__ = ("_data", "grad", "requires_grad", "_op", "_parents", "_g", "_pending",
                 "_version", "_exposed", "_stamp", "_saved", "_watched", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False):
        array = _to_array(data)
        if requires_grad and not _can_require_grad(array.dtype):
            raise TypeError(f"Tensor(requires_grad=True): only floating-point or object dtypes "
                            f"can require gradients, got dtype {array.dtype}; convert it, "
                            f"e.g. Tensor(x.astype(np.float32), requires_grad=True)")
        self._data: np.ndarray = array
        self.grad: Tensor | None = None
        self.requires_grad: bool = bool(requires_grad)
        self._op: P.Primitive | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._g: np.ndarray | None = None
        self._pending = 0  # consumers still to run, during backward (autograd's counter)
        self._version = 0  # bumped when .data is reassigned
        # the caller holds the array (an ndarray passed in is shared): fingerprint it when
        # an op saves it
        self._exposed = isinstance(data, np.ndarray)
        self._stamp = None  # (version, fingerprint) when first exposed after creation
        self._saved = None  # (input index or "out", version, fingerprint) per saved array
        self._watched = False  # saved by a node without a fingerprint (see `_watch`)

    # ------------------------------------------------------------- data and in-place edits
    @property
    def data(self) -> np.ndarray:
        """The values, as an ndarray (shared, not copied).

        Changing it in place (``t.data[0] = 5``, ``t.data += 1``) or reassigning it between
        a forward pass and a ``backward()`` that needs these values raises at backward time.
        """
        if not self._exposed:
            self._expose()
        return self._data

    @data.setter
    def data(self, array: Any) -> None:
        if not self._exposed:
            self._expose()
        if array is self._data:  # t.data += 1 lands here: an in-place edit (fingerprinted)
            return
        global _epoch
        _epoch += 1
        self._data = array if isinstance(array, np.ndarray) else np.asarray(array)
        self._version += 1

    def _expose(self) -> None:
        """The caller can now reach this array: fingerprint it as it is (unchanged since
        the engine made it), and likewise the tensors it is a view of."""
        global _epoch
        _epoch += 1
        self._exposed = True
        if self._watched:  # a node saved it unfingerprinted: record its values now
            self._stamp = (self._version, _checksum(self._data))
        parent = _view_parent(self)
        if parent is not None and not parent._exposed:
            parent._expose()

    def _check_saved(self) -> None:
        """Raise if an array this node's VJP reads changed since the forward pass."""
        epoch, checked, others = self._saved
        for i, version, fingerprint in checked:
            self._raise_if_changed(i, version, fingerprint)
        if epoch != _epoch:  # something was exposed since: the others may have changed
            for i, version in others:
                self._raise_if_changed(i, version, None)

    def _raise_if_changed(self, i: int | str, version: int, fingerprint: Any) -> None:
        t = self if i == "out" else self._parents[i]
        problem = _changed(t, version, fingerprint)
        if problem:
            raise RuntimeError(
                f"backward(): the {_describe(t)} that {self._op.name} saved for its "
                f"gradient {problem} after the forward pass, so the gradient would be "
                f"wrong. Run the forward pass again after changing it, or edit a copy "
                f"(t.data = t.data.copy()).")

    # ----------------------------------------------------------------- graph plumbing
    @staticmethod
    def _apply(op: P.Primitive, *parents: Tensor) -> Tensor:
        """Run one primitive forward and, if needed, record it for backward."""
        out = Tensor.__new__(Tensor)
        arrays = [p._data for p in parents]
        if op.kind == "movement":  # no arithmetic: nothing to warn about
            data = op.forward(*arrays)
        elif _ERR_STATE is not None:
            # IEEE results (inf, NaN) without NumPy warnings, as PyTorch; also under
            # np.seterr(all="raise")
            token = _ERR_STATE.set(_ERR_IGNORE)
            try:
                data = op.forward(*arrays)
            finally:
                _ERR_STATE.reset(token)
        else:  # pragma: no cover - another NumPy layout
            with np.errstate(all="ignore"):
                data = op.forward(*arrays)
        if type(data) is not np.ndarray:
            # NumPy gives a 0-d result of object arrays as the element itself (a float, a
            # Fraction): it stays an object array, exact
            exact = any(x.dtype == object for x in arrays)
            data = np.asarray(data, dtype=object if exact else None)
        out._data = data
        out.grad = None
        out._g = None
        out._pending = 0
        out._version = 0
        out._exposed = False
        out._stamp = None
        out._saved = None
        out._watched = False
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
            saves = op.saves
            if saves and op.crossed:  # x̄ = ḡ·y, ȳ = ḡ·x: keep y only if x needs x̄
                a, b = parents
                saves = (0, 1) if a.requires_grad and b.requires_grad else \
                    (1,) if a.requires_grad else (0,)
            if saves:
                out._saved = _record(saves, parents)
                if "out" in saves:
                    out._watched = True
        else:
            out.requires_grad = False
            out._op = None
            out._parents = ()
        return out

    def _forget(self) -> None:
        """Drop this intermediate's values if no VJP reads them (peak memory).

        For composed ops only (convolution): called on a tensor the op made, did not hand
        out and will not use again, once its consumers exist. The values stay if the
        caller can reach them (exposed), if a node's VJP reads them (watched: saved by a
        consumer or by its own op), or if it is a leaf. Shape and dtype stay, as a
        zero-stride array of zeros: the VJPs that read only shapes (movement, sums, a
        product's constant side) still run.
        """
        if self._op is None or self._exposed or self._watched:
            return
        data = self._data
        self._data = np.broadcast_to(np.zeros((), dtype=data.dtype), data.shape)

    def _reset_grad(self) -> None:
        if self._op is not None:
            self._g = None

    def _accumulate(self, g: Any) -> None:
        data = self._data
        if type(g) is not np.ndarray or g.dtype is not data.dtype:  # (rare: one test)
            if type(g) is not np.ndarray:  # a 0-d result of object arrays stays object
                g = np.asarray(g, dtype=object if data.dtype == object else None)
            if g.dtype != data.dtype and data.dtype != object:
                g = g.astype(data.dtype)
        if g.shape != data.shape:  # an engine bug, never a user error
            raise AssertionError(f"gradient of shape {g.shape} for a tensor of shape "
                                 f"{data.shape}")
        if self._op is None:  # a leaf: accumulate into .grad, as PyTorch does
            if self.grad is None:
                # a copy the caller owns (g may be a view of another gradient, or
                # read-only), as Tensor(array) would wrap it: exposed, no element check
                grad = Tensor._constant(np.array(g, copy=True))
                grad._exposed = True
                self.grad = grad
            else:
                self.grad._data = _plus(self.grad._data, g)
        elif self._g is None:
            self._g = g
        else:
            self._g = _plus(self._g, g)

    def _take_grad(self) -> np.ndarray | None:
        g, self._g = self._g, None
        return g

    def _release(self) -> None:
        self._op = _FREED
        self._parents = ()
        self._saved = None

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
            if self._data.size != 1:
                raise RuntimeError(f"backward(): gradient can be omitted only for a tensor "
                                   f"with one element, this one has shape {self.shape}")
            seed = np.ones(self.shape, dtype=self._data.dtype)
        else:
            seed = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
            if seed.shape != self.shape:
                raise ValueError(f"backward(gradient): expected shape {self.shape}, got "
                                 f"{seed.shape}")
        # IEEE results without NumPy warnings (0 · inf is NaN, as in PyTorch), also under
        # np.seterr(all="raise"); switched once for the whole pass (see `_quiet_state`)
        if _ERR_STATE is None:  # pragma: no cover - another NumPy layout
            with np.errstate(all="ignore"):
                autograd.backward(self, seed, free_graph=not retain_graph,
                                  drop_outputs=not retain_graph)
            return
        token = _ERR_STATE.set(_ERR_IGNORE)
        try:
            autograd.backward(self, seed, free_graph=not retain_graph,
                              drop_outputs=not retain_graph)
        finally:
            _ERR_STATE.reset(token)

    # --------------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shared, not copied: see `data`)."""
        return self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item(): tensor has {self._data.size} elements, expected 1")
        return self._data.reshape(()).item() if self.dtype != object else self._data.flat[0]

    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self._data.size} elements "
                             f"(shape {self.shape}) is ambiguous; use .numpy().any() or "
                             f".numpy().all()")
        return bool(self._data.reshape(()))

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self._data, separator=', ')}, dtype={self.dtype}{grad})"

    # ------------------------------------------------------------------------ comparisons
    # Elementwise, as NumPy and PyTorch: a bool tensor (no gradient flows through them).
    # A Tensor stays hashable by identity (dict keys, sets), as torch.Tensor.
    __hash__ = object.__hash__
    # NumPy arrays and scalars defer to the Tensor's operators (``ndarray + t``,
    # ``np.float32(2) * t``, ``ndarray == t`` give Tensors, not object arrays of Tensors)
    __array_ufunc__ = None

    def _compare(self, other: Any, ufunc: Any) -> Tensor:
        other_data = other._data if isinstance(other, Tensor) else other
        try:
            result = ufunc(self._data, other_data)
        except ValueError as exc:
            raise ValueError(f"comparison: shapes {self.shape} and {np.shape(other_data)} "
                             f"do not broadcast ({exc})") from None
        if result is NotImplemented:  # pragma: no cover - defensive
            return result
        return Tensor._constant(np.asarray(result, dtype=bool))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

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
        # (an int that self's dtype cannot hold is an int64 constant: integer arithmetic
        # runs in int64 anyway, exactly or refused)
        exact_int = isinstance(x, (int, np.integer)) and not isinstance(x, bool)
        if exact_int and self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            dtype = self.dtype if info.min <= x <= info.max else np.int64
            if not -2**63 <= x < 2**63:
                raise TypeError(f"integer constant {x} does not fit int64, where integer "
                                f"tensors compute exactly; convert the tensor to float64 or "
                                f"to an object array of Python ints")
            return Tensor._constant(np.asarray(x, dtype=dtype))
        return Tensor._constant(np.asarray(x, dtype=np.float64))

    @staticmethod
    def _constant(array: np.ndarray) -> Tensor:
        """A leaf that requires no grad around an ndarray (Tensor(array) without checks)."""
        out = Tensor.__new__(Tensor)
        out._data = array
        out.grad = None
        out.requires_grad = False
        out._op = None
        out._parents = ()
        out._g = None
        out._pending = 0
        out._version = 0
        out._exposed = False
        out._stamp = None
        out._saved = None
        out._watched = False
        return out

    def _broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        if self._data.shape == shape:
            return self
        t = self
        if t.ndim < len(shape):
            t = t.reshape((1,) * (len(shape) - t.ndim) + t.shape)
        if t.ndim > len(shape):
            raise ValueError(f"cannot broadcast shape {self.shape} to {shape}")
        # shape comes from np.broadcast_shapes: valid for expand, no need to check it again
        return t if t.shape == shape else Tensor._apply(P.Expand(shape), t)

    def _binary(self, op: P.Primitive, other: Any, reverse: bool = False) -> Tensor:
        if type(other) is not Tensor:
            other = self._const(other)
        a, b = (other, self) if reverse else (self, other)
        a_shape, b_shape = a._data.shape, b._data.shape
        if a_shape == b_shape:
            return Tensor._apply(op, a, b)
        if not b_shape and not b.requires_grad:  # x op scalar constant: nothing to expand
            return Tensor._apply(op, a, b)
        if not a_shape and not a.requires_grad:
            return Tensor._apply(op, a, b)
        shape = _broadcast_shapes(a_shape, b_shape)
        if shape is None:
            raise ValueError(f"{op.name}: shapes {a.shape} and {b.shape} do not broadcast")
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
        if isinstance(exponent, Tensor) or (isinstance(exponent, np.ndarray)
                                            and exponent.ndim > 0):
            return self._power(exponent)
        if isinstance(exponent, int) and self.dtype == object:
            exponent = Fraction(exponent) if exponent < 0 else exponent
        if self.dtype.kind in "iub" and not (isinstance(exponent, (int, np.integer))
                                            and exponent >= 0):
            # NumPy refuses negative integer powers of integers; an integer tensor never
            # requires grad, so its values can be taken to float64 first
            return Tensor._constant(self._data.astype(np.float64)) ** exponent
        return Tensor._apply(P.Pow(exponent), self)

    def _power(self, exponent: Any, reverse: bool = False) -> Tensor:
        """``self ** exponent`` (or ``exponent ** self``) with both as tensors: torch.pow."""
        other = self._const(exponent)
        base, power = (other, self) if reverse else (self, other)
        if base.dtype.kind in "iub" and power.dtype.kind in "iub":
            if (power._data < 0).any():  # NumPy refuses negative integer powers of ints
                base = Tensor._constant(base._data.astype(np.float64))
            else:  # exactly, in int64, or refused (never wrapped)
                return Tensor._constant(P.exact_integer("power", np.power, base._data,
                                                        power._data))
        return base._binary(P.POWER, power)

    def __rpow__(self, base: Any) -> Tensor:
        """``base ** self``: torch.pow's values and gradients (``0 ** 0 = 1``,
        ``(-2) ** 2 = 4``), not ``exp(self · ln base)``."""
        return self._power(base, reverse=True)

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
        """Elementwise max(self, other); a tie splits the gradient evenly (torch.maximum)."""
        return self._binary(P.MAXIMUM, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise min(self, other) = -max(-self, -other); a tie splits the gradient."""
        return -((-self).maximum(-self._const(other)))

    def relu(self) -> Tensor:
        """max(0, x) elementwise, with relu'(0) = 0 (the tie goes to the constant 0)."""
        return self._binary(P.MAXIMUM_FIRST, 0, reverse=True)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x), composed from maximum, exp, add, mul and pow.

        Computed as ``(m + (1 - m)·e) / (1 + e)`` with ``e = exp(-|x|)`` and the constant
        mask ``m = [x >= 0]``: the same function, but exp never overflows (the plain form
        gives ``1/(1 + inf)`` for x << 0 and a NaN gradient, 0 · inf). ``|x|`` is
        ``maximum(x, -x)`` with the tie to the first argument (``tie=1``): |x|'(0) = +1,
        matching m = 1 at 0.
        """
        e = (-self._binary(P.MAXIMUM_FIRST, -self)).exp()
        positive = self._data >= 0
        if self.dtype == object:
            mask = Tensor(np.where(positive, Fraction(1), Fraction(0)))
        else:
            mask = Tensor(positive.astype(self.dtype))
        return (mask + (1 - mask) * e) * (1 + e) ** -1

    # ------------------------------------------------------------------------ reductions
    def _axes(self, axis: int | Sequence[int] | None) -> tuple[int, ...]:
        ndim = self._data.ndim
        if axis is None:
            return tuple(range(ndim))
        if type(axis) is int and 0 < ndim and -ndim <= axis < ndim:  # the common case
            return (axis % ndim,)
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        out = []
        for a in axes:
            if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
            if self.ndim == 0:  # as PyTorch: a 0-d tensor has the one axis 0 (or -1)
                if a not in (0, -1):
                    raise ValueError(f"axis {a} is out of range for a 0-d tensor (expected "
                                     f"0 or -1)")
                continue
            if not -self.ndim <= a < self.ndim:
                raise ValueError(f"axis {a} is out of range for a tensor of {self.ndim} dims")
            out.append(int(a) % self.ndim)
        if len(set(out)) != len(out):
            raise ValueError(f"axis {axis} repeats an axis")
        return tuple(sorted(out))

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes when None). Integers and bools sum in int64 (uint64
        for unsigned), as NumPy: a uint8 image's sum does not wrap."""
        return Tensor._apply(P.Sum(self._axes(axis), keepdims), self)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes when None): sum times 1/count.

        The mean over an empty axis is NaN, as in PyTorch and NumPy (for an exact object
        tensor it has no value: ValueError).
        """
        axes = self._axes(axis)
        count = 1
        for a in axes:
            count *= self.shape[a]
        if count == 0:
            if self.dtype == object:
                raise ValueError(f"mean over an empty axis (shape {self.shape}, axis {axis}) "
                                 f"has no exact value")
            return self.sum(axes, keepdims) * np.nan
        scale = Fraction(1, count) if self.dtype == object else 1.0 / count
        if self.dtype == np.float16:  # scaled first: a float16 sum of 60000s overflows
            return (self * scale).sum(axes, keepdims)
        return self.sum(axes, keepdims) * scale

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Max over ``axis`` (all axes when None).

        Ties, as PyTorch: the full reduction ``x.max()`` splits the gradient evenly among
        all the maxima (``torch.max(x)``); over given axes (``x.max(axis)``, as
        ``torch.max(x, dim)`` and max-pooling) it goes to the first maximum in row-major
        order.
        """
        axes = self._axes(axis)
        if self.ndim == 0:
            return self
        if self.size == 0 and any(self.shape[a] == 0 for a in axes):
            raise ValueError(f"max over an empty axis (shape {self.shape}, axis {axis}) has "
                             f"no value")
        if axis is None:
            return self._max_split(keepdims)
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

    def _max_split(self, keepdims: bool) -> Tensor:
        """The maximum of all elements, its gradient split evenly among the maxima.

        Composed: gather the k maxima (m each), then ``m + Σ (x_i - m) · (1/k)`` with m a
        constant, which is exactly m (each x_i - m is 0) and has gradient 1/k per maximum.
        With a NaN the result is NaN and the NaNs share the gradient (PyTorch's rule).
        """
        data = self._data
        kept = (1,) * self.ndim if keepdims else ()
        if not (autograd._grad_enabled and self.requires_grad):
            return Tensor._constant(np.asarray(data.max()).reshape(kept))
        if data.dtype.kind in "fc" and np.isnan(data).any():
            where = np.isnan(data)
            m = None
        else:
            m = data.max()
            where = data == m
        index = np.flatnonzero(where)
        flat = self.reshape(-1)
        if len(index) == 1:
            return flat[int(index[0])].reshape(kept)
        picked = Tensor._apply(P.Gather((index,)), flat)
        share = Fraction(1, len(index)) if self.dtype == object else 1.0 / len(index)
        if m is None or (self.dtype != object and not np.isfinite(m)):
            out = (picked * share).sum()
        else:
            constant = self._const(np.asarray(m, dtype=self.dtype))
            out = ((picked - constant) * share).sum() + constant
        return out.reshape(kept)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Min over ``axis``: ``-max(-x)``, with `max`'s tie rules (all axes: split evenly;
        given axes: the first minimum)."""
        if self.dtype.kind in "iub":  # -x would wrap for unsigned ints; no gradient here
            axes = self._axes(axis)
            if self.size == 0 and any(self.shape[a] == 0 for a in axes):
                raise ValueError(f"min over an empty axis (shape {self.shape}, axis {axis}) "
                                 f"has no value")
            return Tensor._constant(np.asarray(np.min(self._data, axis=axes,
                                                      keepdims=keepdims)))
        return -((-self).max(axis, keepdims))

    # -------------------------------------------------------------------------- movement
    def reshape(self, *shape: Any) -> Tensor:
        """View with a new shape (one entry may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        data = self._data
        if -1 not in shape and all(type(n) is int and n >= 0 for n in shape) \
                and math.prod(shape) == data.size:  # the common case: fully given
            new_shape = shape
        else:
            new_shape = _resolve_shape(data.shape, data.size, shape)
            if new_shape is None:
                raise ValueError(f"reshape: cannot view a tensor of shape {self.shape} "
                                 f"({self.size} elements) as {tuple(shape)}")
        if new_shape == data.shape:
            return self
        return Tensor._apply(P.Reshape(new_shape), self)

    def permute(self, *axes: Any) -> Tensor:
        """Reorder the axes."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        ndim = self._data.ndim
        if sorted(axes) == list(range(ndim)) and all(type(a) is int for a in axes):
            return Tensor._apply(P.Permute(tuple(axes)), self)  # the common case
        if len(axes) != ndim or any(not -ndim <= a < ndim for a in axes) or \
                sorted(a % ndim for a in axes) != list(range(ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of {ndim} axes")
        return Tensor._apply(P.Permute(tuple(a % ndim for a in axes)), self)

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
        """Repeat size-1 axes up to ``shape`` (a view in the forward pass), as
        ``torch.Tensor.expand``: new axes may be added in front, and -1 keeps a size."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(int(s) for s in shape)
        lead = len(shape) - self.ndim
        if lead < 0 or any(s == -1 for s in shape[:lead]):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}: expected "
                             f"at least {self.ndim} sizes, -1 only for existing axes")
        shape = shape[:lead] + tuple(n if s == -1 else s for n, s in zip(self.shape,
                                                                          shape[lead:],
                                                                          strict=True))
        if any(s < 0 for s in shape) or any(n not in (1, m) for n, m in zip(
                self.shape, shape[lead:], strict=True)):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}: only "
                             f"axes of size 1 can grow")
        if shape == self.shape:
            return self
        t = self.reshape((1,) * lead + self.shape) if lead else self
        return Tensor._apply(P.Expand(shape), t)

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
        _check_fill(value, self.dtype)
        check_size("pad", "the padded tensor", tuple(n + lo + hi for n, (lo, hi) in
                                                     zip(self.shape, pad_width, strict=True)),
                   self.dtype)
        return Tensor._apply(P.Pad(pad_width, value), self)

    def __getitem__(self, index: Any) -> Tensor:
        """Indexing with NumPy's rules.

        Basic indexing (integers, slices with positive steps, ``None``, ``...``) is a
        `Slice` (and a reshape); integer arrays (lists, ndarrays, integer Tensors), boolean
        masks and negative steps are a `Gather`, whose gradient scatter-adds: a repeated
        index accumulates (``x[[0, 0]].sum()`` gives ``x.grad[0] = 2``), as in PyTorch.
        """
        if not isinstance(index, tuple):
            index = (index,)
        index = tuple(_index_item(i) for i in index)
        if any(isinstance(i, np.ndarray) or (isinstance(i, slice) and i.step is not None
                                             and i.step < 0) for i in index):
            try:
                shape = np.broadcast_to(np.empty((), np.uint8), self.shape)[index].shape
            except IndexError as exc:
                raise IndexError(f"index {_show(index)} for a tensor of shape {self.shape}: "
                                 f"{exc}") from None
            check_size("indexing", "the result", shape, self.dtype)
            return Tensor._apply(P.Gather(index), self)
        if index.count(Ellipsis) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if any(i is Ellipsis for i in index):
            k = index.index(Ellipsis)
            used = sum(1 for i in index if i is not None and i is not Ellipsis)
            index = index[:k] + (slice(None),) * (self.ndim - used) + index[k + 1:]
        new_axes = [k for k, i in enumerate(index) if i is None]
        plain = tuple(i for i in index if i is not None)
        if len(plain) > self.ndim:
            raise IndexError(f"too many indices ({len(plain)}) for {self.ndim} dims")
        slices, squeeze = [], []
        for axis, i in enumerate(plain):
            n = self.shape[axis]
            if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of range for axis {axis} of size {n}")
                i = int(i) % n
                slices.append(slice(i, i + 1, 1))
                squeeze.append(axis)
            elif isinstance(i, slice):
                start, stop, step = i.indices(n)
                if step == 0:  # pragma: no cover - slice.indices refuses it already
                    raise IndexError("slice step cannot be zero")
                slices.append(slice(start, stop, step))
            else:
                raise TypeError(f"unsupported index {i!r}: use ints, slices, None, ..., "
                                f"integer arrays or boolean masks")
        slices += [slice(0, n, 1) for n in self.shape[len(slices):]]
        out = self
        if any(sl != slice(0, n, 1) for sl, n in zip(slices, self.shape, strict=True)):
            out = Tensor._apply(P.Slice(tuple(slices)), self)
        shape = [n for a, n in enumerate(out.shape) if a not in squeeze]
        if new_axes:  # None: a new axis of size 1 where it stands among the kept axes
            kept = iter(shape)
            shape = []
            for i in index:
                if i is None:
                    shape.append(1)
                elif isinstance(i, slice):
                    shape.append(next(kept))
            shape.extend(kept)
        return out.reshape(tuple(shape))

    def windows(self, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Tensor:
        """Sliding windows over the last two axes: ``(..., H, W) -> (..., OH, OW, KH, KW)``."""
        return Tensor._apply(P.Window(kernel, stride, dilation), self)

    def matmul(self, other: Any) -> Tensor:
        """Matrix product with NumPy's rules (1-D operands, broadcast batch axes)."""
        other = self._const(other)
        a, b = self, other
        x, y = a._data, b._data
        if x.ndim == 2 and y.ndim == 2 and x.shape[1] == y.shape[0] \
                and x.shape[0] * y.shape[1] < _SMALL:  # the common case, without checks
            return Tensor._apply(P.MATMUL, a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least one axis")
        a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
        b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: inner sizes differ: {a.shape} @ {b.shape}")
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        check_size("matmul", "the product", batch + (a2.shape[-2], b2.shape[-1]),
                   np.result_type(a2.dtype, b2.dtype))
        a2 = a2._broadcast_to(batch + a2.shape[-2:])
        b2 = b2._broadcast_to(batch + b2.shape[-2:])
        out = Tensor._apply(P.MATMUL, a2, b2)
        if a.ndim == 1:
            out = out.reshape(out.shape[:-2] + out.shape[-1:])
        if b.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out
