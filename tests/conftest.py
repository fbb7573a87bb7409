"""Shared test helpers: float64 central differences over every index, tie-free inputs.

Use them as plain functions (``from conftest import check_gradients``) or through the
fixtures of the same purpose (``gradcheck``, ``finite_difference``).

Hypothesis runs with the ``ci`` profile: no deadline, a moderate number of examples,
derandomized (the same examples on every run, so CI is reproducible, and no example
database written into the clone). Set ``HYPOTHESIS_PROFILE=thorough`` for a longer, random
search.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from tinygrad_cnn import Tensor

settings.register_profile(
    "ci", deadline=None, max_examples=30, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: what is missing and how to get it, for the optional packages some tests need
_MISSING = {
    "torch": "PyTorch is not installed (pip install torch==2.13.0, the CPU build)",
    "sklearn": "scikit-learn is not installed (pip install -e '.[train]')",
    "matplotlib": "matplotlib is not installed (pip install -e '.[train]')",
    "tqdm": "tqdm is not installed (pip install -e '.[train]')",
}


def optional(module: str, purpose: str):
    """``pytest.importorskip(module)`` whose skip reason says what is missing, how to
    install it, and what is skipped without it."""
    return pytest.importorskip(module, reason=f"{_MISSING[module]}: {purpose} skipped")


EPS = 1e-6  # central-difference step (float64): truncation ~EPS², round-off ~1e-16/EPS
RTOL = 1e-6
ATOL = 1e-8


def finite_difference(f: Callable[..., float], arrays: Sequence[np.ndarray],
                      eps: float = EPS) -> list[np.ndarray]:
    """Central differences ``(f(x + εe_i) - f(x - εe_i)) / 2ε`` at EVERY index of every array.

    ``f`` takes the float64 arrays (positionally) and returns a scalar.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            saved = a[index]
            a[index] = saved + eps
            plus = float(f(*arrays))
            a[index] = saved - eps
            minus = float(f(*arrays))
            a[index] = saved
            g[index] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def check_gradients(f: Callable[..., Tensor], *arrays: np.ndarray, seed: int = 0,
                    rtol: float = RTOL, atol: float = ATOL, eps: float = EPS) -> Tensor:
    """Backward of ``f`` against float64 central differences, at every input index.

    ``f`` maps Tensors (one per array) to a Tensor of any shape; the scalar checked is
    ``Σ f(x) ⊙ r`` for a fixed random ``r`` (so every output element matters and no
    gradients cancel by symmetry). The tolerance is relative to the gradient's scale:
    ``|analytic - numeric| <= atol + rtol · max(1, max|numeric|)`` elementwise.
    Returns the output Tensor (for further checks).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = f(*inputs)
    assert out.dtype == np.float64, f"output dtype {out.dtype}, expected float64"
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    (out * Tensor(weights)).sum().backward()

    def scalar(*xs: np.ndarray) -> float:
        return float((f(*[Tensor(x) for x in xs]).numpy() * weights).sum())

    numeric = finite_difference(scalar, arrays, eps)
    for i, (t, num) in enumerate(zip(inputs, numeric, strict=True)):
        analytic = np.zeros_like(num) if t.grad is None else t.grad.numpy()
        assert analytic.shape == num.shape, f"input {i}: grad shape {analytic.shape}"
        assert analytic.dtype == np.float64, f"input {i}: grad dtype {analytic.dtype}"
        scale = max(1.0, float(np.abs(num).max(initial=0.0)))
        np.testing.assert_allclose(analytic, num, rtol=0, atol=atol + rtol * scale,
                                   err_msg=f"gradient of input {i} (shape {num.shape})")
    return out


def distinct(shape: Sequence[int] | int, rng: np.random.Generator, spacing: float = 0.05,
             low: float = -1.0) -> np.ndarray:
    """float64 values with no two closer than ``spacing`` (no ties, far from any kink).

    Used for max / max-pool / relu / maximum, whose gradient jumps where values tie.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(np.prod(shape))
    values = low + spacing * (rng.permutation(n) + rng.uniform(0.2, 0.8, size=n))
    return values.reshape(shape)


def away_from_zero(shape: Sequence[int] | int, rng: np.random.Generator,
                   margin: float = 0.1) -> np.ndarray:
    """Random float64 values with ``|x| >= margin`` (relu's kink and 1/x stay far)."""
    x = rng.uniform(margin, 1.5, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


@pytest.fixture
def gradcheck() -> Callable[..., Tensor]:
    """The :func:`check_gradients` helper, as a fixture."""
    return check_gradients


@pytest.fixture(name="finite_difference")
def finite_difference_fixture() -> Callable[..., list[np.ndarray]]:
    """The :func:`finite_difference` helper, as a fixture."""
    return finite_difference


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator (deterministic per test)."""
    return np.random.default_rng(1234)
