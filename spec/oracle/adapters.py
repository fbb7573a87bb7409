"""Calling styles and layouts turned into the one arrays contract the checker knows.

This minimal version knows the ``"arrays"`` style in the ``"NCHW"`` layout only (the
candidate already follows the contract); the other styles and layouts are added by
their own module version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

STYLES = ("arrays",)
LAYOUTS = ("NCHW",)


@dataclasses.dataclass
class Adapted:
    """A candidate in the arrays contract.

    Attributes
    ----------
    forward : callable
        ``forward(*arrays, **params) -> ndarray`` (NCHW, ``F.<op>``'s argument names).
    backward : callable or None
        ``backward(*arrays, grad_out, **params) -> tuple of gradients``.
    """

    forward: Callable[..., Any]
    backward: Callable[..., Any] | None

    def out_of_scope(self, case: Any) -> str | None:
        """Why this style / layout cannot express ``case`` (None: it can)."""
        return None


def adapt(op: str, forward: Callable[..., Any], backward: Callable[..., Any] | None = None,
          *, style: str = "arrays", layout: str = "NCHW", grads: Any = None) -> Adapted:
    """The candidate ``forward`` / ``backward`` of ``op`` written in ``style`` and
    ``layout``, as arrays-contract callables."""
    if style not in STYLES:
        raise ValueError(f"style: expected one of {', '.join(map(repr, STYLES))}, got {style!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {', '.join(map(repr, LAYOUTS))}, "
                         f"got {layout!r}")
    if grads is not None:
        raise ValueError(f"grads: only the 'layer' style reads gradients from attributes; "
                         f"got grads={grads!r} with style {style!r}")
    return Adapted(forward, backward)
