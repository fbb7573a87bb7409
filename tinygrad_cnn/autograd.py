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

    Two passes, no recursion. The first counts, for every node reachable from ``root``,
    how many reachable nodes consume it (and resets the gradient of each intermediate
    node). The second walks from ``root``: a node runs its vector-Jacobian product once
    all its consumers have passed it their contributions (Kahn's topological order), so a
    node used twice receives both contributions before it is processed. The walk follows
    the order of ``_parents`` with a stack, so it is the same on every run.

    Parameters
    ----------
    root : node
        The output whose gradient is ``seed``.
    seed : scalar or ndarray
        Gradient of the final quantity with respect to ``root``.
    free_graph : bool
        Drop each node's link to its parents once its vector-Jacobian product has run, so
        intermediate buffers are released as soon as nothing else holds them (the Tensor
        engine does this; the scalar engine keeps the graph so it can be drawn after
        backward).
    """
    # pass 1: consumers per intermediate node (by id: the graph keeps the nodes alive);
    # leaves (no op) are never processed, so they are not counted
    consumers: dict[int, int] = {id(root): 0}
    stack = [root]
    root._reset_grad()
    while stack:
        for parent in stack.pop()._parents:
            if parent._op is None:
                continue
            key = id(parent)
            if key in consumers:
                consumers[key] += 1
            else:
                consumers[key] = 1
                parent._reset_grad()
                stack.append(parent)
    # pass 2: a node is ready when all of its consumers have run
    root._accumulate(seed)
    ready = [root] if root._op is not None else []
    while ready:
        node = ready.pop()
        parents = node._parents
        g = node._take_grad()
        if g is not None:  # None: nothing flowed here (e.g. a branch cut by no_grad)
            if len(parents) == 2:
                a, b = parents
                if a.requires_grad and b.requires_grad:
                    ga, gb = node._op.vjp(g, node.data, a.data, b.data)
                else:  # one operand is a constant: the entry may skip its gradient
                    ga, gb = node._op.vjp(g, node.data, a.data, b.data,
                                          needs=(a.requires_grad, b.requires_grad))
                if ga is not None and a.requires_grad:
                    a._accumulate(ga)
                if gb is not None and b.requires_grad:
                    b._accumulate(gb)
            else:
                grads = node._op.vjp(g, node.data, *[p.data for p in parents])
                for parent, pg in zip(parents, grads, strict=True):
                    if pg is not None and parent.requires_grad:
                        parent._accumulate(pg)
        if free_graph:
            node._release()
        for parent in parents:
            if parent._op is not None:
                key = id(parent)
                left = consumers[key] - 1
                consumers[key] = left
                if not left:
                    ready.append(parent)
