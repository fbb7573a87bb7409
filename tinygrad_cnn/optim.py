"""Optimizers: `SGD` and `Adam` with PyTorch's update formulas.

Each ``step()`` reads ``p.grad`` of every parameter that has one and updates ``p.data`` in
place (same array, same dtype), as ``torch.optim`` does; parameters without a gradient
are skipped. ``zero_grad()`` sets every gradient to ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Base class: holds the parameters and the per-parameter state."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params: list[Tensor] = list(params)
        name = type(self).__name__
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, expected a "
                                f"Tensor (or Parameter)")
            if not p.requires_grad:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) does not require "
                                 f"grad, so it would never be updated")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: some parameters appear more than once")
        _check_nonnegative(name, "lr", lr)
        self.lr = float(lr)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to ``None``."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _grads(self):
        """(parameter, its gradient as an ndarray, its state) for each parameter with one."""
        for i, (p, state) in enumerate(zip(self.params, self.state, strict=True)):
            if p.grad is None:
                continue
            g = p.grad._data  # (the engine's own array: no in-place fingerprint needed)
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step(): parameter {i} has shape "
                                 f"{p.shape} but its .grad has shape {g.shape}; a gradient "
                                 f"must have its parameter's shape")
            if g.dtype != p.dtype:
                g = g.astype(p.dtype)
            yield p, g, state


def _cast(p: Tensor, x: float) -> Any:
    """A Python float as a scalar of the parameter's dtype (so float32 stays float32)."""
    return x if p.dtype == object else p.dtype.type(x)


def _check_nonnegative(name: str, arg: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: {arg} must be a finite number >= 0, got {value!r}")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and weight decay, as ``torch.optim.SGD``.

    With ``g = grad + weight_decay · p``::

        b_1 = g;  b_t = momentum · b_{t-1} + (1 - dampening) · g     (if momentum != 0)
        g = g + momentum · b_t  (nesterov)  or  g = b_t
        p = p - lr · g

    Parameters
    ----------
    params : iterable of Parameter
    lr : float
    momentum, dampening, weight_decay : float, default 0
    nesterov : bool, default False
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        for arg, value in (("momentum", momentum), ("dampening", dampening),
                           ("weight_decay", weight_decay)):
            _check_nonnegative("SGD", arg, value)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        with np.errstate(all="ignore"):  # diverged training gives inf / NaN, not a warning
            self._step()

    def _step(self) -> None:
        for p, g, state in self._grads():
            if self.weight_decay:
                g = g + p.data * _cast(p, self.weight_decay)
            if self.momentum:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    buf *= _cast(p, self.momentum)
                    buf += g * _cast(p, 1 - self.dampening)
                g = g + buf * _cast(p, self.momentum) if self.nesterov else buf
            p.data -= g * _cast(p, self.lr)


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (``amsgrad=False``).

    With ``g = grad + weight_decay · p`` (L2 penalty, as PyTorch's Adam) and step ``t``::

        m = β1 · m + (1 - β1) · g
        v = β2 · v + (1 - β2) · g²
        p = p - (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        _check_nonnegative("Adam", "eps", eps)
        _check_nonnegative("Adam", "weight_decay", weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        with np.errstate(all="ignore"):  # diverged training gives inf / NaN, not a warning
            self._step()

    def _step(self) -> None:
        beta1, beta2 = self.betas
        for p, g, state in self._grads():
            t = state["step"] = state.get("step", 0) + 1
            if self.weight_decay:
                g = g + p.data * _cast(p, self.weight_decay)
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= _cast(p, beta1)
            m += g * _cast(p, 1 - beta1)
            v *= _cast(p, beta2)
            v += g * g * _cast(p, 1 - beta2)
            bias_correction1 = 1 - beta1**t
            bias_correction2 = 1 - beta2**t
            step_size = self.lr / bias_correction1
            denom = np.sqrt(v) / _cast(p, math.sqrt(bias_correction2)) + _cast(p, self.eps)
            p.data -= _cast(p, step_size) * m / denom
