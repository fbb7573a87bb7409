"""Gradients: every derivative rule of the engine checked against ``sympy.diff``.

- The derivative table (``tinygrad_cnn.primitives.TABLE``) is walked entry by entry: each
  primitive's forward runs on NumPy object arrays of SymPy symbols, SymPy differentiates
  the result, and the entry's vector-Jacobian product must equal ``Jᵀ·g`` exactly for a
  symbolic upstream gradient ``g``. ``max`` and ``maximum`` are piecewise, so they are
  checked on distinct rationals (and their tie conventions separately). A primitive the
  spec has no check for fails the item.
- Softmax-cross-entropy: ∂/∂z_i [−Σ_j y_j log softmax(z)_j] = p_i − y_i, derived.
- Convolution backward (Jianxin Wu, *Introduction to Convolutional Neural Networks*):
  from the sum definition, dL/dW = im2col(X)ᵀ·dY and dL/dX = col2im(dY·W), i.e. a full
  correlation of dY with the flipped kernel; checked exactly against the engine's autograd.
- Pooling: max-pool routes the gradient to the (first) arg-max; average pooling spreads it
  evenly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from .core import Item, item


def _sp():
    import sympy

    return sympy


def symbol_array(prefix: str, shape: tuple[int, ...], **assumptions: Any) -> np.ndarray:
    """An object array of distinct SymPy symbols ``prefix0, prefix1, ...`` of ``shape``."""
    sp = _sp()
    size = int(np.prod(shape, dtype=np.int64))
    syms = [sp.Symbol(f"{prefix}{i}", **assumptions) for i in range(size)]
    return np.array(syms + [None], dtype=object)[:-1].reshape(shape)


def _distinct_rationals(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Distinct SymPy rationals in a shuffled order (no ties anywhere)."""
    sp = _sp()
    size = int(np.prod(shape, dtype=np.int64))
    order = np.random.default_rng(seed).permutation(size)
    values = [sp.Rational(int(v) - size // 2, 7) for v in order]
    return np.array(values + [None], dtype=object)[:-1].reshape(shape)


def gradient_of_weighted_sum(outputs: np.ndarray, g: np.ndarray,
                             variables: np.ndarray) -> np.ndarray:
    """∂/∂v of L = Σ_o g_o·outputs_o for every v, by ``sympy.diff`` (array shaped like v).

    Each output is differentiated only with respect to the symbols it contains, which is
    the same sum as differentiating L, term by term, at a fraction of the cost.
    """
    sp = _sp()
    grads: dict[Any, Any] = {v: sp.Integer(0) for v in variables.ravel()}
    for go, expr in zip(g.ravel(), outputs.ravel(), strict=True):
        expr = sp.sympify(expr)
        for v in expr.free_symbols & grads.keys():
            grads[v] += go * sp.diff(expr, v)
    return np.array([grads[v] for v in variables.ravel()] + [None],
                    dtype=object)[:-1].reshape(variables.shape)


def _is_zero(expr: Any) -> bool:
    return _sp().expand(expr) == 0


def _vjp_times_jacobian(op: Any, xs: list[np.ndarray]) -> dict[str, Any]:
    """Run ``op`` on symbol arrays; compare its VJP with ``Jᵀ·g`` built by ``sympy.diff``."""
    sp = _sp()
    out = np.asarray(op.forward(*xs), dtype=object)
    g = symbol_array("g", out.shape)
    got = op.vjp(g, out, *xs)
    out_flat, g_flat = out.ravel(), g.ravel()
    ok = len(got) == len(xs)
    constant_jacobian = True
    entries = 0
    for x, grad in zip(xs, got, strict=False):
        grad = np.broadcast_to(np.asarray(grad, dtype=object), x.shape) \
            if np.shape(grad) == x.shape else None
        if grad is None:
            ok = False
            continue
        x_flat = x.ravel()
        # the Jacobian, one sympy.diff per (output, input) pair that can be non-zero
        jac = np.zeros((out_flat.size, x_flat.size), dtype=object)
        for o, expr in enumerate(out_flat):
            expr = sp.sympify(expr)
            free = expr.free_symbols
            for i, xi in enumerate(x_flat):
                if xi in free:
                    jac[o, i] = sp.diff(expr, xi)
                    entries += 1
                    if jac[o, i].free_symbols & set(x_flat):
                        constant_jacobian = False
        expected = jac.T.dot(g_flat) if out_flat.size else np.zeros(x_flat.size, dtype=object)
        ok = ok and all(_is_zero(a - b) for a, b in zip(grad.ravel(), expected, strict=True))
    return {"ok": bool(ok), "constant_jacobian": constant_jacobian, "jacobian_entries": entries,
            "output_shape": out.shape}


def _check_smooth(cls: type) -> list[dict[str, Any]]:
    """Entries whose forward is a polynomial / elementary function of symbols."""
    results = []
    positive = cls.name in ("log", "pow", "power")  # keep log x and x**c on their real domain
    for shapes, params in cls.examples:
        op = cls(**params)
        xs = [symbol_array(f"x{k}_", shape, positive=positive) if positive
              else symbol_array(f"x{k}_", shape) for k, shape in enumerate(shapes)]
        res = _vjp_times_jacobian(op, xs)
        if cls.linear and not res["constant_jacobian"]:
            res["ok"] = False  # marked linear, but its Jacobian depends on the input
        results.append({"shapes": shapes, "params": repr(params), **res})
    return results


def max_partial(values: list[Any], index: int) -> Any:
    """∂/∂x_index Max(x_0, …, x_n) at distinct rationals, by ``sympy.diff``.

    A partial derivative holds the other arguments fixed, so SymPy differentiates
    ``Max(x, v_j for j ≠ index)`` in the one symbol x (a Heaviside step) and evaluates it at
    ``x = v_index``: 1 at the arg-max, 0 elsewhere (SymPy gives 1/2 at a tie, which is why
    ties need a convention).
    """
    sp = _sp()
    x = sp.Symbol("x")
    others = [v for j, v in enumerate(values) if j != index]
    return sp.diff(sp.Max(x, *others), x).subs(x, values[index])


def _check_max(cls: type) -> list[dict[str, Any]]:
    """``max`` over an axis: sympy.diff of Max at distinct rationals, plus the tie rule."""
    sp = _sp()
    results = []
    for shapes, params in cls.examples:
        (shape,) = shapes
        axis, keepdims = params["axis"], params.get("keepdims", False)
        values = _distinct_rationals(shape, seed=len(results))
        op = cls(**params)
        out = np.asarray(op.forward(values.copy()), dtype=object)
        g = symbol_array("g", out.shape)
        (got,) = op.vjp(g, out, values)
        g_rows = np.moveaxis(g, axis, -1).reshape(-1) if keepdims else g.reshape(-1)
        # ∂(Σ_r g_r·Max(row r))/∂x = g_r·∂Max(row r)/∂x for the one row r holding x
        rows_v = np.moveaxis(values, axis, -1).reshape(-1, shape[axis])
        maxima = [sp.Max(*row) for row in rows_v]
        expected_moved = np.array([[g_rows[r] * max_partial(list(row), i)
                                    for i in range(len(row))] for r, row in enumerate(rows_v)],
                                  dtype=object).reshape(np.moveaxis(values, axis, -1).shape)
        expected = np.moveaxis(expected_moved, -1, axis).ravel()
        forward_ok = all(_is_zero(a - b) for a, b in zip(out.reshape(-1), maxima,
                                                          strict=True))
        ok = forward_ok and all(_is_zero(a - b) for a, b in zip(np.asarray(got).ravel(),
                                                                 expected, strict=True))
        # ties: every row holds its maximum twice; the gradient goes to the first one
        tied = np.moveaxis(np.zeros(shape, dtype=object), axis, -1).copy()
        tied[...] = sp.Integer(0)
        tied[..., 0] = sp.Integer(-1)
        tied[..., 1] = sp.Integer(5)
        tied[..., -1] = sp.Integer(5)
        tied = np.moveaxis(tied, -1, axis).copy()
        out_t = np.asarray(op.forward(tied), dtype=object)
        (got_t,) = op.vjp(g, out_t, tied)
        want_t = np.zeros(np.moveaxis(tied, axis, -1).shape, dtype=object)
        want_t[...] = 0
        want_t[..., 1] = g_rows.reshape(want_t.shape[:-1])
        tie_ok = all(_is_zero(a - b) for a, b in
                     zip(np.moveaxis(np.asarray(got_t), axis, -1).ravel(), want_t.ravel(),
                         strict=True))
        # the same inputs in float64 and float32 (the code path training runs): the exact
        # expectations with g given the values 1/4, 2/4, ... (exact in binary floating point)
        g_values = dict(zip(g.ravel(), (np.arange(1, g.size + 1) / 4).tolist(), strict=True))
        float_ok = True
        for dtype in (np.float64, np.float32):
            g_float = np.array([g_values[s] for s in g.ravel()], dtype=dtype).reshape(g.shape)
            for inputs, want in ((values, expected),
                                 (tied, np.moveaxis(want_t, -1, axis).ravel())):
                x_float = inputs.astype(dtype)
                op_float = cls(**params)
                out_float = op_float.forward(x_float)
                (got_float,) = op_float.vjp(g_float, out_float, x_float)
                want_float = np.array([float(sp.sympify(e).xreplace(g_values)) for e in want],
                                      dtype=dtype)
                float_ok = float_ok and np.array_equal(np.asarray(got_float).ravel(),
                                                       want_float)
        results.append({"shapes": shapes, "params": repr(params),
                        "ok": bool(ok and tie_ok and float_ok), "distinct_rationals": bool(ok),
                        "tie_to_first_max": bool(tie_ok), "float64_float32": bool(float_ok)})
    return results


def _check_maximum(cls: type) -> list[dict[str, Any]]:
    """``maximum(a, b)``: d Max(a, b) at a > b and at a < b, and the tie rule: the share
    ``tie`` of a tie's gradient to a, the rest to b (1/2 as torch.maximum, 1 for relu)."""
    sp = _sp()
    results = []
    for shapes, params in cls.examples:
        shape = shapes[0]
        op = cls(**params)
        a_sym, b_sym = sp.symbols("a b")
        d_a, d_b = sp.diff(sp.Max(a_sym, b_sym), a_sym), sp.diff(sp.Max(a_sym, b_sym), b_sym)
        base = _distinct_rationals(shape, seed=3)
        cases = {"a > b": (base + 1, base), "a < b": (base, base + 1),
                 "mixed": (base, _distinct_rationals(shape, seed=4) + sp.Rational(1, 14))}
        sub_ok = {}
        for label, (a, b) in cases.items():
            out = op.forward(a, b)
            g = symbol_array("g", np.shape(out))
            ga, gb = op.vjp(g, out, a, b)
            want_a = np.array([gi * d_a.subs({a_sym: ai, b_sym: bi}) for gi, ai, bi in
                               zip(g.ravel(), a.ravel(), b.ravel(), strict=True)], dtype=object)
            want_b = np.array([gi * d_b.subs({a_sym: ai, b_sym: bi}) for gi, ai, bi in
                               zip(g.ravel(), a.ravel(), b.ravel(), strict=True)], dtype=object)
            forward_ok = all(_is_zero(o - sp.Max(ai, bi)) for o, ai, bi in
                             zip(np.asarray(out).ravel(), a.ravel(), b.ravel(), strict=True))
            sub_ok[label] = bool(forward_ok and all(
                _is_zero(x - y) for x, y in itertools.chain(
                    zip(np.asarray(ga).ravel(), want_a, strict=True),
                    zip(np.asarray(gb).ravel(), want_b, strict=True))))
        # a tie is a convention (SymPy's Heaviside(0) is 1/2): the entry's share `tie`
        t = sp.Rational(op.tie.numerator, op.tie.denominator)
        out = op.forward(base, base.copy())
        g = symbol_array("g", np.shape(out))
        ga, gb = op.vjp(g, out, base, base.copy())
        sub_ok[f"tie -> {t} to the first"] = bool(
            all(_is_zero(x - t * y) for x, y in zip(np.asarray(ga).ravel(), g.ravel(),
                                                    strict=True))
            and all(_is_zero(x - (1 - t) * y) for x, y in zip(np.asarray(gb).ravel(),
                                                              g.ravel(), strict=True)))
        # float64 / float32, mixed order with ties: the same Heaviside(a − b, first) rule
        a_mixed, b_mixed = cases["mixed"]
        b_mixed = b_mixed.copy()
        b_mixed.ravel()[::2] = a_mixed.ravel()[::2]  # every other element a tie
        for dtype in (np.float64, np.float32):
            a_f, b_f = a_mixed.astype(dtype), b_mixed.astype(dtype)
            g_f = (np.arange(1, a_f.size + 1, dtype=dtype) / 4).reshape(a_f.shape)
            ga_f, gb_f = op.vjp(g_f, op.forward(a_f, b_f), a_f, b_f)
            share = np.array([1.0 if ai > bi else float(t) if ai == bi else 0.0
                              for ai, bi in zip(a_mixed.ravel(), b_mixed.ravel(), strict=True)],
                             dtype=dtype).reshape(a_f.shape)
            sub_ok[f"{np.dtype(dtype).name}"] = bool(
                np.array_equal(ga_f, g_f * share)
                and np.array_equal(gb_f, g_f * (1 - share)))
        # scalars with a symbolic order: the VJP is a Heaviside step, equal to SymPy's
        # derivative away from the tie
        ga_s, gb_s = op.vjp(sp.Integer(1), sp.Max(a_sym, b_sym), a_sym, b_sym)
        away = [{a_sym: sp.Rational(u), b_sym: sp.Rational(v)} for u, v in
                ((2, 1), (-1, 3), (sp.Rational(1, 3), sp.Rational(1, 4)))]
        sub_ok["symbolic order"] = all(_is_zero((ga_s - d_a).subs(s)) and
                                       _is_zero((gb_s - d_b).subs(s)) for s in away)
        results.append({"shapes": shapes, "params": repr(params),
                        "ok": all(sub_ok.values()), **sub_ok})
    return results


#: primitive name -> how the spec checks it; a name missing here fails the table item
CHECKS: dict[str, Callable[[type], list[dict[str, Any]]]] = {
    **{name: _check_smooth for name in (
        "add", "mul", "pow", "power", "exp", "log", "tanh",  # elementwise: J diagonal
        "sum", "reshape", "permute", "expand", "pad", "slice", "gather", "window",  # linear
        "matmul")},  # bilinear: J with respect to each input
    "max": _check_max,
    "maximum": _check_maximum,
}


@item("gradients")
def derivative_table() -> Item:
    """Every entry of tinygrad_cnn.primitives.TABLE: its VJP equals Jᵀ·g from sympy.diff."""
    from tinygrad_cnn.primitives import TABLE

    rows = []
    for name, cls in TABLE.items():
        check = CHECKS.get(name)
        if check is None:
            rows.append({"primitive": name, "kind": getattr(cls, "kind", "?"), "ok": False,
                         "why": "the spec has no check for this primitive"})
            continue
        if not cls.examples:
            rows.append({"primitive": name, "kind": cls.kind, "ok": False,
                         "why": "the table entry lists no examples to check it on"})
            continue
        try:
            subs = check(cls)
            why = "" if all(s["ok"] for s in subs) else "VJP differs from the derivation"
        except Exception as exc:  # a broken entry must fail the item, not the report
            subs, why = [], f"{type(exc).__name__}: {exc}"
        rows.append({"primitive": name, "kind": cls.kind, "formula": cls.formula,
                     "vjp": cls.vjp_formula, "ok": bool(subs) and not why, "why": why,
                     "examples": subs})
    failed = [r["primitive"] for r in rows if not r["ok"]]
    return Item(
        topic="gradients", name="derivative_table",
        statement="Each primitive's vector-Jacobian product is the transposed Jacobian of its "
                  "forward applied to the upstream gradient: x̄ = Jᵀ·ḡ.",
        derivation=(
            "For each table entry and each of its examples (shapes, parameters): run forward "
            "on object arrays of SymPy symbols, build J[o, i] = sympy.diff(out_o, x_i), and "
            "compare the entry's vjp(g) with Jᵀ·g for symbolic g (expand(difference) = 0). "
            "Elementwise entries have a diagonal J (the derivative f'(x)); linear entries "
            "(movement, sum) must have a constant J; matmul is checked against each input. "
            "max and maximum are piecewise: SymPy differentiates Max(…) (a Heaviside step) "
            "and the step is evaluated at distinct rationals; ties are a convention "
            "(max: the first maximal element; maximum: the share t of a tie to the first "
            "argument, t = 1/2 by default as torch.maximum, t = 1 in relu). Checked: "
            + ", ".join(f"{r['primitive']} {'ok' if r['ok'] else 'FAILED'}" for r in rows)
            + "."),
        result={r["primitive"]: r.get("vjp", "") for r in rows},
        engine={r["primitive"]: r["ok"] for r in rows},
        passed=not failed,
        details={"rows": rows, "failed": failed},
    )


# ---------------------------------------------------------------- softmax-cross-entropy


def _exact_equal_exp(a: Any, b: Any) -> bool:
    """Exact equality of expressions in exp(rational): write exp(r) = t**(r·D), cancel."""
    sp = _sp()
    t = sp.Symbol("t", positive=True)
    expr = sp.sympify(a - b)
    exps = expr.atoms(sp.exp)
    den = 1
    for e in exps:
        den = sp.ilcm(den, sp.Rational(e.args[0]).q)
    rational = expr.replace(sp.exp, lambda r: t ** (sp.Rational(r) * den))
    rational = rational.subs(sp.E, t**den)  # exp(1) is printed and stored as E
    return sp.cancel(sp.together(rational)) == 0


@item("gradients")
def softmax_cross_entropy() -> Item:
    """∂/∂z_i [−Σ_j y_j log softmax(z)_j] = p_i − y_i (Σ_j y_j = 1); mean divides by N."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    c = 3
    z = sp.symbols(f"z1:{c + 1}")
    y = sp.symbols(f"y1:{c + 1}")
    total = sp.Add(*[sp.exp(zi) for zi in z])
    p = [sp.exp(zi) / total for zi in z]
    loss = -sp.Add(*[yj * sp.expand_log(sp.log(pj), force=True) for yj, pj in zip(y, p,
                                                                                  strict=True)])
    derivatives = [sp.diff(loss, zi) for zi in z]
    on_simplex = {y[-1]: 1 - sp.Add(*y[:-1])}  # probabilities: Σ y = 1
    derived_ok = all(sp.simplify((d - (pi - yi)).subs(on_simplex)) == 0
                     for d, pi, yi in zip(derivatives, p, y, strict=True))
    # without Σ y = 1 the derivative is (Σ y)·p_i − y_i
    general = sp.simplify(derivatives[0] - (sp.Add(*y) * p[0] - y[0])) == 0

    # exact engine check: rational logits, class-index targets, reduction="mean"
    logits = np.array([[sp.Integer(1), sp.Rational(1, 2), sp.Integer(-1)],
                       [sp.Integer(0), sp.Integer(2), sp.Rational(1, 3)]], dtype=object)
    labels = np.array([0, 2])
    x = Tensor(logits, requires_grad=True)
    F.cross_entropy(x, labels).backward()
    n = logits.shape[0]
    exact_ok = True
    expected_exact = np.zeros(logits.shape, dtype=object)
    for r in range(n):
        denom = sp.Add(*[sp.exp(v) for v in logits[r]])
        for k in range(c):
            onehot = 1 if k == labels[r] else 0
            expected_exact[r, k] = (sp.exp(logits[r, k]) / denom - onehot) / n
            exact_ok = exact_ok and _exact_equal_exp(x.grad.numpy()[r, k],
                                                     expected_exact[r, k])

    # float64: class indices and probability targets, reduction "mean" and "sum"
    rng = np.random.default_rng(0)
    zf = rng.standard_normal((4, 5)) * 3
    pf = np.exp(zf - zf.max(axis=1, keepdims=True))
    pf /= pf.sum(axis=1, keepdims=True)
    float_errors = {}
    targets = {"indices": np.array([0, 3, 4, 1]),
               "probabilities": rng.dirichlet(np.ones(5), size=4)}
    for label, target in targets.items():
        yf = np.eye(5)[target] if target.ndim == 1 else target
        for reduction, scale in (("mean", 1 / 4), ("sum", 1.0)):
            xf = Tensor(zf.copy(), requires_grad=True)
            F.cross_entropy(xf, target, reduction=reduction).backward()
            float_errors[f"{label}, {reduction}"] = float(
                np.max(np.abs(xf.grad.numpy() - (pf - yf) * scale)))
    float_ok = all(err < 1e-14 for err in float_errors.values())
    return Item(
        topic="gradients", name="softmax_cross_entropy",
        statement="The gradient of softmax-cross-entropy with respect to the logits is p − y "
                  "(softmax minus target), divided by N for the mean over a batch.",
        derivation=(
            f"With C = {c}: L = ${sp.latex(loss)}$. sympy.diff gives "
            f"∂L/∂z_1 = ${sp.latex(derivatives[0])}$, which is (Σ_j y_j)·p_1 − y_1 "
            f"({'checked by simplify' if general else 'simplify does not confirm it'}); on "
            "the simplex Σ y = 1 every ∂L/∂z_i − (p_i − y_i) "
            f"{'simplifies to 0' if derived_ok else 'does NOT simplify to 0'}. Engine: "
            "F.cross_entropy on rational logits, exact: "
            "with exp(r) = t^(r·D) for t = e^(1/D), engine − (p − y)/N is a rational function "
            "of t that cancels to 0 (t is transcendental: equal values, equal functions) and "
            "in float64 for index and probability targets."),
        result="p - y",
        engine={"exact": bool(exact_ok), "float64_max_error": float_errors},
        passed=bool(derived_ok and general and exact_ok and float_ok),
        source="seed 004 (Softmax & Cross-Entropy)",
        details={"exact_expected": [[str(v) for v in row] for row in expected_exact],
                 "exact_engine": [[str(v) for v in row] for row in x.grad.numpy()]},
    )


# ----------------------------------------------------------------- convolution backward


def conv_sum(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The definition: ``y[n,o,i,j] = Σ_{c,p,q} w[o,c,p,q]·x_pad[n,c,i·s+p,j·s+q]`` (loops)."""
    sp = _sp()
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=sp.Integer(0))
    n, _, h, wd = xp.shape
    o, c, k, _ = w.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    y = np.zeros((n, o, oh, ow), dtype=object)
    for b, f, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        y[b, f, i, j] = sp.Add(*[w[f, ch, p, q] * xp[b, ch, i * stride + p, j * stride + q]
                                 for ch in range(c) for p in range(k) for q in range(k)])
    return y


def im2col(x: np.ndarray, k: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Rows (n, i, j), columns (c, p, q): ``M[(n,i,j), (c,p,q)] = x_pad[n,c,i·s+p,j·s+q]``."""
    sp = _sp()
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=sp.Integer(0))
    n, c, h, wd = xp.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    rows = []
    for b, i, j in itertools.product(range(n), range(oh), range(ow)):
        rows.append([xp[b, ch, i * stride + p, j * stride + q]
                     for ch in range(c) for p in range(k) for q in range(k)])
    return np.array(rows, dtype=object)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], k: int, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """The adjoint of im2col: add each column entry back where it was read, crop padding."""
    n, c, h, wd = x_shape
    hp, wp = h + 2 * padding, wd + 2 * padding
    oh, ow = (hp - k) // stride + 1, (wp - k) // stride + 1
    out = np.zeros((n, c, hp, wp), dtype=object)
    out[...] = 0
    for r, (b, i, j) in enumerate(itertools.product(range(n), range(oh), range(ow))):
        for col, (ch, p, q) in enumerate(itertools.product(range(c), range(k), range(k))):
            out[b, ch, i * stride + p, j * stride + q] += cols[r, col]
    return out[:, :, padding:padding + h, padding:padding + wd]


def _rows_of(t: np.ndarray) -> np.ndarray:
    """(N, O, OH, OW) -> matrix with rows (n, i, j) and columns o, the layout of im2col."""
    return np.transpose(t, (0, 2, 3, 1)).reshape(-1, t.shape[1])


def _all_zero(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and all(_is_zero(u - v) for u, v in zip(a.ravel(), b.ravel(),
                                                                         strict=True))


@item("gradients")
def conv_backward() -> Item:
    """dL/dF = im2col(X)ᵀ·dY, dL/dX = col2im(dY·Fᵀ): a full correlation with the flipped kernel."""

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    configs = [  # (N, C, H, O, k, stride, padding)
        (1, 2, 4, 2, 3, 1, 0),
        (2, 1, 5, 2, 3, 2, 1),
    ]
    rows = []
    ok = True
    for n, c, h, o, k, s, pad in configs:
        X = symbol_array("x", (n, c, h, h))
        W = symbol_array("w", (o, c, k, k))
        Y = conv_sum(X, W, s, pad)
        G = symbol_array("g", Y.shape)
        dW = gradient_of_weighted_sum(Y, G, W)  # ∂(Σ g·y)/∂W by sympy.diff
        dX = gradient_of_weighted_sum(Y, G, X)

        cols = im2col(X, k, s, pad)  # (N·OH·OW, C·k·k)
        dy = _rows_of(G)  # (N·OH·OW, O)
        fmat = W.reshape(o, c * k * k).T  # Wu's F: (C·k·k, O), one filter per column
        dW_im2col = cols.T.dot(dy).T.reshape(W.shape)  # im2col(X)ᵀ·dY is F's shape
        dX_col2im = col2im(dy.dot(fmat.T), X.shape, k, s, pad)
        identities = {"dW = im2col(X)^T dY": _all_zero(dW, dW_im2col),
                      "dX = col2im(dY F^T)": _all_zero(dX, dX_col2im)}
        if s == 1:  # full correlation: pad dY by k-1, correlate with the rotated kernel
            flipped = np.transpose(W[:, :, ::-1, ::-1], (1, 0, 2, 3))  # (C, O, k, k)
            full = conv_sum(G, flipped, 1, k - 1)
            if pad:
                full = full[:, :, pad:pad + h, pad:pad + h]
            identities["dX = full_corr(dY, rot180(W))"] = _all_zero(dX, full)
            with_engine = F.conv2d(Tensor(G), Tensor(np.ascontiguousarray(flipped)),
                                   padding=k - 1).numpy()
            identities["engine conv2d(dY, rot180(W)ᵀ, padding=k-1) = dX"] = \
                _all_zero(dX, with_engine)

        x, w = Tensor(X, requires_grad=True), Tensor(W, requires_grad=True)
        y = F.conv2d(x, w, stride=s, padding=pad)
        y.backward(G)
        engine = {"forward = sum definition": _all_zero(y.numpy(), Y),
                  "autograd dW": _all_zero(w.grad.numpy(), dW),
                  "autograd dX": _all_zero(x.grad.numpy(), dX)}
        good = all(identities.values()) and all(engine.values())
        ok = ok and good
        rows.append({"config": {"N": n, "C": c, "H": h, "O": o, "k": k, "stride": s,
                                "padding": pad},
                     "identities": identities, "engine": engine, "ok": good,
                     "dX_00": str(dX[0, 0, 0, 0]), "dW_0000": str(dW[0, 0, 0, 0])})
    return Item(
        topic="gradients", name="conv_backward",
        statement="For y = conv(X, W) with the filters as the columns of F (C·k·k × O): "
                  "dL/dF = im2col(X)ᵀ·dY and dL/dX = col2im(dY·Fᵀ); at stride 1 the input "
                  "gradient is a full correlation of dY (padded by k−1) with the 180°-rotated "
                  "kernel.",
        derivation=(
            "From the sum y[n,o,i,j] = Σ_{c,p,q} W[o,c,p,q]·X_pad[n,c,i·s+p,j·s+q] on symbol "
            "arrays, L = Σ g·y and sympy.diff(L, ·) for every weight and every input. The "
            "derivatives equal the im2col product and the col2im scatter (Wu's "
            "∂z/∂vec(F) = φ(X)ᵀ ∂z/∂Y and ∂z/∂X = col2im(∂z/∂Y Fᵀ)) exactly, and (stride "
            "1) the full correlation with the flipped kernel. The engine's conv2d, run on the "
            "same symbols, backpropagates exactly these expressions. Configurations: "
            + "; ".join(f"{r['config']}" for r in rows) + "."),
        result={"dW": "im2col(X)ᵀ·dY", "dX": "col2im(dY·Fᵀ)"},
        engine=[r["engine"] for r in rows],
        passed=bool(ok),
        source="seed 004 (Jianxin Wu, Introduction to Convolutional Neural Networks, 2017)",
        details={"rows": rows},
    )


# ------------------------------------------------------------------------------ pooling


def _windows(h: int, k: int, s: int, pad: int) -> list[list[tuple[int, int]]]:
    """Index lists (in the unpadded input) of each pooling window, row-major."""
    from .shapes import output_size

    oh = output_size(h, k, s, pad)
    out = []
    for i, j in itertools.product(range(oh), range(oh)):
        cells = [(i * s + p - pad, j * s + q - pad) for p in range(k) for q in range(k)]
        out.append([(a, b) for a, b in cells if 0 <= a < h and 0 <= b < h])
    return out


def _float_pool_grad(pool: Callable[..., Any], values: np.ndarray, g: np.ndarray,
                     expected: np.ndarray, dtype: Any) -> bool:
    """Run ``pool`` in ``dtype`` with g = 1/4, 2/4, ... and compare with the exact gradient."""
    from tinygrad_cnn import Tensor

    sp = _sp()
    g_values = dict(zip(g.ravel(), (np.arange(1, g.size + 1) / 4).tolist(), strict=True))
    h = values.shape[0]
    x = Tensor(values.astype(dtype).reshape(1, 1, h, h), requires_grad=True)
    y = pool(x)
    y.backward(np.array([g_values[s] for s in g.ravel()], dtype=dtype).reshape(y.shape))
    want = np.array([float(sp.sympify(e).xreplace(g_values)) for e in expected.ravel()],
                    dtype=dtype).reshape(h, h)
    return bool(np.array_equal(x.grad.numpy()[0, 0], want))


@item("gradients")
def pooling_backward() -> Item:
    """Max-pool sends each window's gradient to its (first) arg-max; average pooling 1/k² each."""
    import sympy as sp

    import tinygrad_cnn.nn.functional as F
    from tinygrad_cnn import Tensor

    sub: dict[str, bool] = {}
    # max-pool on distinct rationals: derive with sympy.diff of Max over each window
    for h, k, s, pad in ((4, 2, 2, 0), (4, 3, 1, 0), (5, 3, 2, 1)):
        values = _distinct_rationals((h, h), seed=h * 10 + k)
        windows = _windows(h, k, s, pad)
        g = symbol_array("g", (len(windows),))
        expected = np.zeros((h, h), dtype=object)
        expected[...] = 0
        for gi, cells in zip(g, windows, strict=True):  # ∂/∂x of Σ_w g_w·Max(window w)
            window_values = [values[cell] for cell in cells]
            for i, cell in enumerate(cells):
                expected[cell] += gi * max_partial(window_values, i)
        x = Tensor(values.reshape(1, 1, h, h), requires_grad=True)
        y = F.max_pool2d(x, k, stride=s, padding=pad)
        y.backward(g.reshape(y.shape))
        sub[f"max_pool k={k} s={s} p={pad} on {h}x{h}"] = _all_zero(x.grad.numpy()[0, 0],
                                                                      expected)
        sub[f"max_pool k={k} s={s} p={pad} on {h}x{h}, float64"] = _float_pool_grad(
            lambda t, k=k, s=s, pad=pad: F.max_pool2d(t, k, stride=s, padding=pad), values, g,
            expected, np.float64)
    # ties: the first maximum of the window (row-major) takes the whole gradient
    tied = np.array([[1, 3, 3, 0], [3, 2, 0, 0], [2, 2, 5, 5], [2, 1, 5, 5]], dtype=object)
    tied = np.vectorize(sp.Integer, otypes=[object])(tied)
    for k, s in ((2, 2), (2, 1)):
        windows = _windows(4, k, s, 0)
        g = symbol_array("g", (len(windows),))
        want = np.zeros((4, 4), dtype=object)
        want[...] = 0
        for gi, cells in zip(g, windows, strict=True):
            best = max(tied[a, b] for a, b in cells)
            first = next(cell for cell in cells if tied[cell] == best)
            want[first] += gi
        x = Tensor(tied.reshape(1, 1, 4, 4), requires_grad=True)
        y = F.max_pool2d(x, k, stride=s)
        y.backward(g.reshape(y.shape))
        sub[f"max_pool ties -> first max, k={k} s={s}"] = _all_zero(x.grad.numpy()[0, 0],
                                                                      want)
        for dtype in (np.float64, np.float32):
            sub[f"max_pool ties -> first max, k={k} s={s}, {np.dtype(dtype).name}"] = \
                _float_pool_grad(lambda t, k=k, s=s: F.max_pool2d(t, k, stride=s), tied, g,
                                 want, dtype)
    # average pooling on symbols: derive from the mean of each window
    counts = None
    for h, k, s, pad in ((4, 2, 2, 0), (4, 3, 1, 0), (5, 3, 2, 1)):
        syms = symbol_array("x", (h, h))
        windows = _windows(h, k, s, pad)
        g = symbol_array("g", (len(windows),))
        means = np.array([sp.Rational(1, k * k) * sp.Add(*[syms[a, b] for a, b in cells])
                          for cells in windows], dtype=object)
        expected = gradient_of_weighted_sum(means, g, syms)
        x = Tensor(syms.reshape(1, 1, h, h), requires_grad=True)
        y = F.avg_pool2d(x, k, stride=s, padding=pad)
        y.backward(g.reshape(y.shape))
        sub[f"avg_pool k={k} s={s} p={pad} on {h}x{h}"] = _all_zero(x.grad.numpy()[0, 0],
                                                                      expected)
        if (h, k, s) == (4, 3, 1):  # with all g = 1: (windows containing x) / 9
            ones = {gi: 1 for gi in g}
            counts = [[str(sp.sympify(v).subs(ones)) for v in row] for row in expected]
    return Item(
        topic="gradients", name="pooling_backward",
        statement="Max pooling routes each window's gradient to its arg-max (the first "
                  "maximum on ties); average pooling gives each element 1/k² of the gradient "
                  "of every window containing it (overlapping windows add).",
        derivation=(
            "L = Σ_w g_w·Max(window w) on symbols; sympy.diff gives a product of Heaviside "
            "steps, evaluated at distinct rationals it is 1 at the arg-max and 0 elsewhere. "
            "Ties are the convention (PyTorch's): the first maximum in row-major order. "
            "L = Σ_w g_w·(1/k²)·Σ window w for the average. Checked exactly against "
            "max_pool2d / avg_pool2d backward on non-overlapping, overlapping and padded "
            "windows, and for max pooling also in float64 / float32 (g = 1/4, 2/4, …, exact in "
            "binary). With every g = 1, a 4x4 input and 3x3 windows at stride 1, the "
            f"gradient is {counts}."),
        result={"max": "g at the arg-max", "avg": "g/k² per window"},
        engine=sub,
        passed=all(sub.values()),
        source="seed 001, seed 003 (max pooling)",
        details={"avg_counts_4x4_k3_s1": counts},
    )
