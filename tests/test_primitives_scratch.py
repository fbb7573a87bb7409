"""The scratch pool (tinygrad_cnn.scratch) that primitives.py uses: a buffer is reused
only when nothing else refers to it, so results held by the caller are never overwritten."""

from __future__ import annotations

import numpy as np

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor
from tinygrad_cnn import primitives as P
from tinygrad_cnn import scratch as S


def test_a_held_buffer_is_not_handed_out_again():
    first = S.scratch((512, 1024), np.float32)  # 2 MiB: pooled
    second = S.scratch((512, 1024), np.float32)
    assert first is not second
    view = first[:10]
    del first
    third = S.scratch((512, 1024), np.float32)
    assert not np.shares_memory(third, view)  # a view keeps its buffer busy
    del view, second, third
    again = S.scratch((512, 1024), np.float32)  # all released: one is reused
    pooled = S.POOL[(512 * 1024, np.dtype(np.float32))]
    assert any(np.shares_memory(again, buf) for buf in pooled)
    assert again.shape == (512, 1024) and again.flags.c_contiguous


def test_a_free_buffer_is_reused_for_another_shape_of_the_same_size():
    first = S.scratch((256, 2048), np.float32)
    first[...] = 1.0
    held = S.scratch((256, 2048), np.float32)  # a second one, still held below
    buffer_id = id(first.base)
    del first
    other = S.scratch((2048, 256), np.float32)  # the same size, another shape
    assert other.shape == (2048, 256) and other.flags.c_contiguous
    assert id(other.base) == buffer_id and not np.shares_memory(other, held)


def test_small_and_exact_arrays_are_never_pooled():
    assert S.scratch((10, 10), np.float32).base is None
    before = sum(len(v) for v in S.POOL.values())
    S.scratch((1 << 18, 2), object)
    assert sum(len(v) for v in S.POOL.values()) == before


def test_results_held_across_steps_stay_intact():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8, 32, 32)).astype(np.float32)  # y: 2 MiB, pooled
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    runs = []
    for _ in range(3):  # the same computation; each keeps its arrays alive
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv2d(xt, wt, padding=1)
        y.backward(np.ones(y.shape, dtype=np.float32))
        runs.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy(), (xt @ np.ones(32, np.float32))))
    for y, gx, gw, p in runs[1:]:
        np.testing.assert_array_equal(y, runs[0][0])
        np.testing.assert_array_equal(gx, runs[0][1])
        np.testing.assert_array_equal(gw, runs[0][2])
        np.testing.assert_array_equal(p.numpy(), runs[0][3].numpy())
    fresh = F.conv2d(Tensor(x), Tensor(w), padding=1).numpy()
    np.testing.assert_array_equal(fresh, runs[0][0])


def test_primitives_use_the_pool_of_the_scratch_module():
    assert P._scratch is S.scratch  # one pool, in one place
    assert not hasattr(P, "_POOL")
