"""Output sizes of convolution and pooling (first version: the closed form).

The derivation by counting window positions is built on top of this module.
"""

from __future__ import annotations

from typing import Any


def _is_symbolic(*values: Any) -> bool:
    return any(type(v).__module__.startswith("sympy") for v in values)


def output_size(n: Any, kernel: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
    """Number of positions of a (dilated) window on a padded axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``: an int for ints, a SymPy expression when any
    argument is a SymPy symbol or expression.
    """
    if _is_symbolic(n, kernel, stride, padding, dilation):
        import sympy

        return sympy.floor((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
    for name, value in (("n", n), ("kernel", kernel), ("stride", stride),
                        ("padding", padding), ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"output_size: {name} must be an int or a SymPy expression, "
                            f"got {value!r}")
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
