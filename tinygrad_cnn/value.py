"""`Value`: the scalar engine, one number at a time, generic over the number type.

The same derivative table (:mod:`tinygrad_cnn.primitives`) and the same iterative core
(:mod:`tinygrad_cnn.autograd`) as `Tensor`, applied to plain numbers: ``int``, ``float``,
``fractions.Fraction``, SymPy numbers and symbols. With Fractions every gradient of a
polynomial expression is exact; with SymPy symbols it is the symbolic derivative.
"""

from __future__ import annotations

import numbers
from fractions import Fraction
from typing import Any

import numpy as np

from . import autograd
from . import primitives as P

_new = object.__new__
_NUMBER_TYPES = {int, float, Fraction, bool}  # the fast path of the constructor's check


def _is_number(x: Any) -> bool:
    if isinstance(x, numbers.Number) and not isinstance(x, (np.ndarray, Value)):
        return True
    if isinstance(x, np.generic):
        return x.dtype.kind in "biufc"
    return type(x).__module__.startswith("sympy") and hasattr(x, "free_symbols")

_ADD, _MUL = P.ADD, P.MUL
_add, _mul = P.ADD.forward, P.MUL.forward  # the table's forwards, bound once


class Value:
    """A scalar that records how it was computed, for reverse-mode differentiation.

    Parameters
    ----------
    data : number
        int, float, ``Fraction``, or a SymPy number / symbol / expression.
    label : str, optional
        A name used when the graph is drawn.

    Examples
    --------
    >>> from fractions import Fraction
    >>> x = Value(Fraction(1, 2))
    >>> y = x * x + 3 * x
    >>> y.backward()
    >>> x.grad
    Fraction(4, 1)
    """

    # a node is five slots and a tuple; ``label`` is stored only when one is given
    __slots__ = ("_data", "grad", "_parents", "_op", "_pending", "_label")
    requires_grad = True
    _saved = None  # nothing for autograd to check before a VJP (see Tensor)

    def __init__(self, data: Any, label: str = ""):
        if type(data) not in _NUMBER_TYPES and not _is_number(data):
            if isinstance(data, Value):
                raise TypeError("Value(data): data is already a Value")
            raise TypeError(f"Value(data): expected a number (int, float, Fraction, a SymPy "
                            f"number or expression), got {data!r} ({type(data).__name__})")
        self._data = data
        self.grad: Any = 0
        self._parents: tuple[Value, ...] = ()
        self._op: P.Primitive | None = None
        self._pending = 0  # consumers still to run, during backward (autograd's counter)
        if label:
            self._label = label

    # the value lives in ``_data``, the name the autograd core reads (as for a Tensor)
    @property
    def data(self) -> Any:
        """The number this node holds."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    @property
    def label(self) -> str:
        """A name used when the graph is drawn ("" when none was given)."""
        try:
            return self._label
        except AttributeError:
            return ""

    @label.setter
    def label(self, name: str) -> None:
        self._label = name

    @staticmethod
    def _make(op: P.Primitive, *parents: Value) -> Value:
        out = _new(Value)
        out._data = op.forward(*[p._data for p in parents])
        out.grad = 0
        out._parents = parents
        out._op = op
        out._pending = 0
        return out

    # hooks used by autograd.backward
    def _reset_grad(self) -> None:
        if self._op is not None:  # leaves accumulate across backward calls, as in PyTorch
            self.grad = 0

    def _accumulate(self, g: Any) -> None:
        self.grad = self.grad + g

    def _take_grad(self) -> Any:
        return self.grad

    def _release(self) -> None:
        # the graph is kept so it can be drawn; the node is only marked as used (a negative
        # counter), so that a second backward through it raises, as with a Tensor
        self._pending = -1

    def backward(self, retain_graph: bool = False) -> None:
        """Fill ``.grad`` of every node of the graph with d(self)/d(node).

        As with `Tensor` (and PyTorch), leaves accumulate: a second backward through the
        same graph raises RuntimeError unless the first one was called with
        ``retain_graph=True`` (then the leaves' gradients add up). The graph itself stays
        (it can still be drawn).
        """
        autograd.backward(self, 1, free_graph=not retain_graph)

    # ------------------------------------------------------------------- operations
    @staticmethod
    def _wrap(x: Any) -> Value:
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, other: Any) -> Value:
        # _make written out for the two commonest ops (a graph is mostly adds and muls)
        if not isinstance(other, Value):
            other = Value(other)
        out = _new(Value)
        out._data = _add(self._data, other._data)
        out.grad = 0
        out._parents = (self, other)
        out._op = _ADD
        out._pending = 0
        return out

    def __radd__(self, other: Any) -> Value:
        return Value._make(P.ADD, Value._wrap(other), self)

    def __mul__(self, other: Any) -> Value:
        if not isinstance(other, Value):
            other = Value(other)
        out = _new(Value)
        out._data = _mul(self._data, other._data)
        out.grad = 0
        out._parents = (self, other)
        out._op = _MUL
        out._pending = 0
        return out

    def __rmul__(self, other: Any) -> Value:
        return Value._make(P.MUL, Value._wrap(other), self)

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Any) -> Value:
        return self + (-Value._wrap(other))

    def __rsub__(self, other: Any) -> Value:
        return Value._wrap(other) + (-self)

    def __pow__(self, exponent: Any) -> Value:
        if isinstance(exponent, Value):
            raise TypeError("Value ** Value is not supported; use (y * x.log()).exp()")
        if isinstance(exponent, int) and isinstance(self._data, (int, Fraction)):
            exponent = Fraction(exponent)  # keeps 3 ** -1 exact: Fraction(1, 3)
        return Value._make(P.Pow(exponent), self)

    def __truediv__(self, other: Any) -> Value:
        return self * Value._wrap(other) ** -1

    def __rtruediv__(self, other: Any) -> Value:
        return Value._wrap(other) * self**-1

    def exp(self) -> Value:
        return Value._make(P.EXP, self)

    def log(self) -> Value:
        return Value._make(P.LOG, self)

    def tanh(self) -> Value:
        return Value._make(P.TANH, self)

    def maximum(self, other: Any) -> Value:
        """max(self, other); a tie splits the gradient evenly (as ``torch.maximum``)."""
        return Value._make(P.MAXIMUM, self, Value._wrap(other))

    def minimum(self, other: Any) -> Value:
        """min(self, other) = -max(-self, -other); a tie splits the gradient evenly."""
        return -((-self).maximum(-Value._wrap(other)))

    def relu(self) -> Value:
        """max(0, x), with relu'(0) = 0 (a tie goes to the constant 0)."""
        return Value._make(P.MAXIMUM_FIRST, Value(0), self)

    def __repr__(self) -> str:
        return f"Value(data={self._data!r}, grad={self.grad!r})"
