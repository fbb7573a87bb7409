"""tinygrad_cnn.autograd.backward: consumer counters, early freeing, recovery after errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from tinygrad_cnn import Tensor, Value
from tinygrad_cnn import primitives as P


def _all_counters_zero(root) -> bool:
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node._pending:
            return False
        stack.extend(node._parents)
    return True


def test_a_failing_vjp_leaves_no_counter_behind():
    class Boom(P.Primitive):
        name = "boom"

        def forward(self, a):
            return a

        def vjp(self, g, out, a):
            raise ZeroDivisionError("boom")

    x = Tensor(np.arange(4.0), requires_grad=True)
    shared = x * 2  # used by the failing graph and by a good one
    bad = (Tensor._apply(Boom(), shared) * shared).sum()
    with pytest.raises(ZeroDivisionError):
        bad.backward(retain_graph=True)
    assert _all_counters_zero(bad)
    (shared * shared).sum().backward()  # the shared node must be ready after one consumer
    np.testing.assert_array_equal(x.grad.numpy(), 8 * np.arange(4.0))


def test_backward_twice_through_a_freed_graph_raises_and_recovers():
    a = Tensor(np.ones(3), requires_grad=True)
    y = (a * a).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()
    assert _all_counters_zero(y)
    v = Value(3.0)
    w = v * v + v
    w.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):  # as a Tensor
        w.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):  # through it, too
        (w * 2).backward()
    v = Value(3.0)
    w = v * v + v
    w.backward(retain_graph=True)
    w.backward()  # kept: the leaves' gradients accumulate, as in PyTorch
    assert v.grad == 2 * 7.0


def test_intermediate_buffers_are_freed_during_backward():
    """A processed node that nothing else holds is collected before backward returns."""
    alive_in_vjp = []

    class Spy(P.Primitive):  # below h: its VJP runs after h's consumer and h itself
        name = "spy"

        def forward(self, a):
            return a

        def vjp(self, g, out, a):
            gc.collect()
            alive_in_vjp.append(probe() is not None)
            return (g,)

    x = Tensor(np.ones((4, 4)), requires_grad=True)
    h = Tensor._apply(Spy(), x) * 3
    probe = weakref.ref(h)
    loss = (h * h).sum()
    del h
    loss.backward()
    assert alive_in_vjp == [False]
    np.testing.assert_array_equal(x.grad.numpy(), np.full((4, 4), 18.0))


def test_a_100000_deep_chain_needs_no_recursion():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
