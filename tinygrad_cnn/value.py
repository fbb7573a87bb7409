"""`Value`: the scalar engine, one number at a time, generic over the number type.

The same derivative table (:mod:`tinygrad_cnn.primitives`) and the same iterative core
(:mod:`tinygrad_cnn.autograd`) as `Tensor`, applied to plain numbers: ``int``, ``float``,
``fractions.Fraction``, SymPy numbers and symbols. With Fractions every gradient of a
polynomial expression is exact; with SymPy symbols it is the symbolic derivative.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from . import autograd
from . import primitives as P

_new = object.__new__
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
    __slots__ = ("data", "grad", "_parents", "_op", "_pending", "_label")
    requires_grad = True

    def __init__(self, data: Any, label: str = ""):
        if isinstance(data, Value):
            raise TypeError("Value(data): data is already a Value")
        self.data = data
        self.grad: Any = 0
        self._parents: tuple[Value, ...] = ()
        self._op: P.Primitive | None = None
        self._pending = 0  # consumers still to run, during backward (autograd's counter)
        if label:
            self._label = label

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
        out.data = op.forward(*[p.data for p in parents])
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

    def _release(self) -> None:  # the scalar graph is kept so it can be drawn
        pass

    def backward(self) -> None:
        """Fill ``.grad`` of every node of the graph with d(self)/d(node)."""
        autograd.backward(self, 1, free_graph=False)

    # ------------------------------------------------------------------- operations
    @staticmethod
    def _wrap(x: Any) -> Value:
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, other: Any) -> Value:
        # _make written out for the two commonest ops (a graph is mostly adds and muls)
        if not isinstance(other, Value):
            other = Value(other)
        out = _new(Value)
        out.data = _add(self.data, other.data)
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
        out.data = _mul(self.data, other.data)
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
        if isinstance(exponent, int) and isinstance(self.data, (int, Fraction)):
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
        """max(self, other); a tie sends the gradient to ``self``."""
        return Value._make(P.MAXIMUM, self, Value._wrap(other))

    def relu(self) -> Value:
        """max(0, x), with relu'(0) = 0."""
        return Value._make(P.MAXIMUM, Value(0), self)

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"
