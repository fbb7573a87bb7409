"""SGD and Adam: hand-computed steps, PyTorch's optimizers, in-place dtype-keeping updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import optional

from tinygrad_cnn import Tensor, nn, optim


def param(values, dtype=np.float64) -> nn.Parameter:
    return nn.Parameter(np.array(values, dtype=dtype))


def set_grad(p: nn.Parameter, values) -> None:
    p.grad = Tensor(np.array(values, dtype=p.dtype))


# ----------------------------------------------------------------------- by hand


def test_sgd_plain_step():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    set_grad(p, [0.5, -1.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.05, 2.0 + 0.1], rtol=0, atol=1e-15)


def test_sgd_momentum_and_weight_decay_two_steps_by_hand():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    set_grad(p, [0.5])
    opt.step()
    # d = 0.5 + 0.01·1 = 0.51; buf = d (first step); p = 1 - 0.1·0.51
    assert p.numpy()[0] == pytest.approx(0.949, abs=1e-15)
    set_grad(p, [-0.25])
    opt.step()
    # d = -0.25 + 0.01·0.949 = -0.24051; buf = 0.9·0.51 - 0.24051 = 0.21849
    # p = 0.949 - 0.1·0.21849 = 0.927151
    assert p.numpy()[0] == pytest.approx(0.927151, abs=1e-14)


def test_sgd_nesterov_and_dampening_by_hand():
    p = param([2.0])
    opt = optim.SGD([p], lr=0.5, momentum=0.5, nesterov=True)
    set_grad(p, [1.0])
    opt.step()  # buf = 1; g = 1 + 0.5·1 = 1.5; p = 2 - 0.75
    assert p.numpy()[0] == pytest.approx(1.25, abs=1e-15)
    q = param([0.0])
    opt = optim.SGD([q], lr=1.0, momentum=0.5, dampening=0.5)
    set_grad(q, [1.0])
    opt.step()  # buf = 1 (no dampening on the first step); q = -1
    set_grad(q, [1.0])
    opt.step()  # buf = 0.5·1 + 0.5·1 = 1; q = -2
    assert q.numpy()[0] == pytest.approx(-2.0, abs=1e-15)


def adam_by_hand(p0, grads, lr, beta1, beta2, eps, weight_decay=0.0):
    """Kingma & Ba's Algorithm 1 with the L2 term added to the gradient (PyTorch's Adam)."""
    p, m, v = p0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
    return p


def test_adam_first_step_is_lr_times_sign():
    p = param([1.0, -3.0])
    opt = optim.Adam([p], lr=0.1)
    set_grad(p, [0.5, -2.0])
    opt.step()
    # m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps)
    np.testing.assert_allclose(p.numpy(), [1 - 0.1 * 0.5 / (0.5 + 1e-8),
                                           -3 + 0.1 * 2 / (2 + 1e-8)], rtol=0, atol=1e-15)


def test_adam_three_steps_with_weight_decay_by_hand():
    grads = [0.5, -0.25, 1.5]
    p = param([1.0])
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    for g in grads:
        set_grad(p, [g])
        opt.step()
    expected = adam_by_hand(1.0, grads, 0.1, 0.8, 0.99, 1e-6, weight_decay=0.1)
    assert p.numpy()[0] == pytest.approx(expected, rel=1e-14)
    assert opt.state[0]["step"] == 3


def test_adam_second_step_written_out():
    p = param([1.0])
    opt = optim.Adam([p], lr=0.1)
    for g in (0.5, -0.25):
        set_grad(p, [g])
        opt.step()
    p1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    m = 0.9 * 0.05 + 0.1 * -0.25            # 0.02
    v = 0.999 * 0.00025 + 0.001 * 0.0625    # 0.00031225
    step = 0.1 * (m / 0.19) / (math.sqrt(v / 0.001999) + 1e-8)
    assert p.numpy()[0] == pytest.approx(p1 - step, rel=1e-13)


# --------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
])
def test_updates_in_place_keep_dtype_and_skip_missing_grads(make):
    p32 = param([1.0, 2.0], np.float32)
    p64 = param([[1.0]], np.float64)
    idle = param([5.0], np.float32)
    before = (p32.data, p64.data)
    opt = make([p32, p64, idle])
    set_grad(p32, [0.1, 0.2])
    p64.grad = Tensor(np.array([[0.3]], dtype=np.float32))  # another dtype: cast
    opt.step()
    assert p32.data is before[0] and p64.data is before[1]
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    assert (p32.numpy() < [1.0, 2.0]).all() and p64.numpy()[0, 0] < 1.0
    assert idle.numpy()[0] == 5.0  # no gradient: untouched
    opt.zero_grad()
    assert p32.grad is None and p64.grad is None


def test_optimizer_argument_errors():
    p = param([1.0])
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="does not require grad"):
        optim.Adam([Tensor([1.0])])
    with pytest.raises(TypeError, match="expected a Tensor"):
        optim.Adam([np.zeros(2)])
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)


def test_module_parameters_generator_is_accepted():
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    assert len(opt.params) == 2


# ------------------------------------------------------------------------ PyTorch


def _run_both(torch, ours_cls, theirs_cls, kwargs, dtype, steps=5):
    rng = np.random.default_rng(3)
    init = [rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=(3,)).astype(dtype)]
    grads = [[rng.normal(size=a.shape).astype(dtype) for a in init] for _ in range(steps)]
    ours = [nn.Parameter(a) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt, topt = ours_cls(ours, **kwargs), theirs_cls(theirs, **kwargs)
    for gs in grads:
        for p, q, g in zip(ours, theirs, gs, strict=True):
            p.grad = Tensor(g)
            q.grad = torch.tensor(g)
        opt.step()
        topt.step()
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
])
def test_sgd_matches_torch(kwargs, dtype):
    torch = optional("torch", "the cross-check of SGD")
    ours, theirs = _run_both(torch, optim.SGD, torch.optim.SGD, kwargs, dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for p, q in zip(ours, theirs, strict=True):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [
    {},
    {"lr": 0.01, "betas": (0.8, 0.95)},
    {"lr": 0.003, "eps": 1e-6, "weight_decay": 0.05},
])
def test_adam_matches_torch(kwargs, dtype):
    torch = optional("torch", "the cross-check of Adam")
    ours, theirs = _run_both(torch, optim.Adam, torch.optim.Adam, kwargs, dtype, steps=8)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for p, q in zip(ours, theirs, strict=True):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=tol, atol=tol)
