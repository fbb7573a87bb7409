"""The one reverse-mode core shared by `Value` and `Tensor`.

A node is anything with these attributes:

- ``_parents``: tuple of nodes it was computed from (empty for a leaf);
- ``_op``: the primitive that made it (an entry of :mod:`tinygrad_cnn.primitives`) or ``None``;
- ``data``: its value;
- ``_accumulate(g)`` / ``_take_grad()``: how the node stores the gradient flowing into it.

`backward` sorts the graph without recursion (an explicit stack, so a chain of 100,000 ops
needs no raised recursion limit), then walks it from the output back to the leaves,
calling each primitive's vector-Jacobian product once per node. A node used twice simply
receives two contributions before it is processed, because every node is processed after
all of its consumers (that is what the topological order guarantees).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Return whether operations are being recorded for backward."""
    return _grad_enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager that stops recording operations (like ``torch.no_grad``).

    Examples
    --------
    >>> from tinygrad_cnn import Tensor, no_grad
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    try:
        yield
    finally:
        _grad_enabled = previous


def topological_order(root: Any) -> list[Any]:
    """Return the nodes reachable from ``root``, every node after all of its parents.

    Iterative depth-first search; the order is deterministic (it follows the order of
    ``_parents``), so float accumulation happens in the same order on every run.
    """
    order: list[Any] = []
    visited: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order


def backward(root: Any, seed: Any, *, free_graph: bool) -> None:
    """Propagate ``seed`` (d out / d root) from ``root`` to every node that needs it.

    Parameters
    ----------
    root : node
        The output whose gradient is ``seed``.
    seed : scalar or ndarray
        Gradient of the final quantity with respect to ``root``.
    free_graph : bool
        Drop each node's link to its parents once its vector-Jacobian product has run, so
        intermediate buffers are released as soon as possible (the Tensor engine does
        this; the scalar engine keeps the graph so it can be drawn after backward).
    """
    order = topological_order(root)
    for node in order:
        node._reset_grad()
    root._accumulate(seed)
    for node in reversed(order):
        op = node._op
        if op is None:
            continue
        g = node._take_grad()
        if g is None:  # nothing flowed here (e.g. a branch cut by no_grad)
            continue
        parents = node._parents
        if len(parents) == 2 and not (parents[0].requires_grad and parents[1].requires_grad):
            # one operand is a constant: the entry may skip its gradient
            grads = op.vjp(g, node.data, parents[0].data, parents[1].data,
                           needs=(parents[0].requires_grad, parents[1].requires_grad))
        else:
            grads = op.vjp(g, node.data, *[p.data for p in parents])
        for parent, pg in zip(parents, grads, strict=True):
            if pg is not None and parent.requires_grad:
                parent._accumulate(pg)
        if free_graph:
            node._release()
