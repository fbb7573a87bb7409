"""Helpers for the documentation pages: render computed results, and fail loudly.

The pages call these from ``markdown-exec`` blocks while the site is built. Every helper
that shows a number either takes it from the specification (``spec``) or the engine
(``tinygrad_cnn``), and the pages :func:`check` that the two agree: an ``AssertionError``
in a block becomes a markdown-exec warning, which ``mkdocs build --strict`` turns into a
failed build.
"""

from __future__ import annotations

import base64
import functools
import html
import inspect
import io
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from tinygrad_cnn import Tensor


class DocsCheckError(AssertionError):
    """A computed number on a page disagrees with the spec or the engine."""


def check(condition: Any, message: str) -> None:
    """Raise :class:`DocsCheckError` (failing the strict build) unless ``condition``."""
    if not bool(condition):
        raise DocsCheckError(message)


# --------------------------------------------------------------------------- formatting


def fmt(value: Any) -> str:
    """A number as plain text: ints as ints, Fractions as p/q, floats rounded to 6 digits."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else str(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6g}"
    if type(value).__module__.startswith("sympy"):
        return str(value)
    return str(value)


def intfmt(n: int) -> str:
    """An integer with thousands separators (10,000 rather than 10000)."""
    return f"{int(n):,}"


def tex(expr: Any) -> str:
    """Inline math for a SymPy expression (or anything ``sympy.latex`` accepts)."""
    import sympy

    return f"${sympy.latex(expr)}$"


def times_tex(factors: Iterable[Any]) -> str:
    """LaTeX of a product written out, ``a × b × c``, each sum in parentheses.

    ``(n − f + 1) × (n − f + 1) × n_f``, never ``−f + n + 1 × −f + n + 1 × n_f``.
    """
    import sympy

    parts = []
    for factor in factors:
        body = sympy.latex(factor)
        if isinstance(factor, sympy.Add) or (isinstance(factor, sympy.Basic)
                                             and factor.could_extract_minus_sign()):
            body = rf"\left({body}\right)"
        parts.append(body)
    return r" \times ".join(parts)


def display(expr: Any) -> str:
    """Display math (a block of its own) for a SymPy expression or a raw LaTeX string."""
    import sympy

    body = expr if isinstance(expr, str) else sympy.latex(expr)
    return f"\n\n$$\n{body}\n$$\n\n"  # a block of its own: blank lines around it


def md_text(text: str) -> str:
    """Prose from the spec as Markdown: escape ``* _ [ ] < > ` \\`` outside ``$...$`` math.

    Item statements and derivations mix words, SymPy's plain-text output (``x**2``) and
    LaTeX between dollars; only the LaTeX should be interpreted.
    """
    def escape(part: str, chars: str = "\\*_[]`") -> str:
        part = "".join("\\" + c if c in chars else c for c in part)
        return part.replace("<", "&lt;").replace(">", "&gt;")

    parts = text.split("$")
    if len(parts) % 2 == 0:  # an unmatched dollar: no math at all
        return escape(text, "\\*_[]`$")
    out = [f"${part}$" if i % 2 else escape(part) for i, part in enumerate(parts)]
    return "".join(out)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]],
             align: str | None = None) -> str:
    """A Markdown table; cells are formatted with :func:`fmt` unless already strings."""
    rows = [[c if isinstance(c, str) else (intfmt(c) if isinstance(c, (int, np.integer)) and not
              isinstance(c, (bool, np.bool_)) else fmt(c)) for c in row] for row in rows]
    align = align or "l" * len(header)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(h if any(c in h for c in "`$*") else md_text(h)
                               for h in header) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n\n" + "\n".join(lines) + "\n\n"  # a block of its own


def grid(array: Any, caption: str = "", highlight: Iterable[tuple[int, int]] = (),
         errors: Iterable[tuple[int, int]] = (), labels: bool = True) -> str:
    """An HTML table of a 2-D array, cell by cell, with optional highlighted cells.

    Row and column labels are 1-based, as the documents count them.
    """
    a = np.asarray(array, dtype=object)
    check(a.ndim == 2, f"grid: expected a 2-D array, got shape {a.shape}")
    hl, err = set(map(tuple, highlight)), set(map(tuple, errors))
    out = ['<table class="grid">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    if labels:
        out.append("<tr><th></th>" + "".join(f"<th>{j + 1}</th>" for j in range(a.shape[1]))
                   + "</tr>")
    for i, row in enumerate(a):
        cells = []
        for j, v in enumerate(row):
            cls = ' class="cell-err"' if (i, j) in err else (
                ' class="cell-hl"' if (i, j) in hl else "")
            cells.append(f"<td{cls}>{_cell_html(v)}</td>")
        head = f"<th>{i + 1}</th>" if labels else ""
        out.append(f"<tr>{head}{''.join(cells)}</tr>")
    out.append("</table>")
    return "\n" + "".join(out) + "\n"


def _cell_html(value: Any) -> str:
    """A grid cell: a fraction as KaTeX (rendered by math.js), a negative with a minus sign."""
    if isinstance(value, str) and "/" in value:
        try:
            value = Fraction(value)
        except ValueError:
            return html.escape(value)
    if isinstance(value, Fraction) and value.denominator != 1:
        sign = "-" if value < 0 else ""
        return (f'<span class="arithmatex">\\({sign}\\frac{{{abs(value.numerator)}}}'
                f'{{{value.denominator}}}\\)</span>')
    text = fmt(value)
    return html.escape("−" + text[1:] if text.startswith("-") and len(text) > 1 else text)


def grids_side_by_side(*tables: str) -> str:
    """Several :func:`grid` tables on one row."""
    cells = "".join(f'<div style="margin-right:1.5em">{t}</div>' for t in tables)
    return f'\n<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{cells}</div>\n'


def png(fig: Any, alt: str, width: int | None = None) -> str:
    """A Matplotlib figure as an inline PNG ``<img>`` (no file to serve, works offline)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    size = f' width="{width}"' if width else ""
    return (f'\n<figure><img alt="{html.escape(alt)}"{size} '
            f'src="data:image/png;base64,{data}"/></figure>\n')


def png_file(path: Any, alt: str) -> str:
    """A PNG file written by the project (e.g. ``tinygrad-cnn train --plots``), inline."""
    from pathlib import Path

    data = Path(path).read_bytes()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file")
    encoded = base64.b64encode(data).decode("ascii")
    return (f'\n<figure><img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{encoded}"/></figure>\n')


def source_of(obj: Any) -> str:
    """The source code of a function, as a fenced Python block."""
    return "\n```python\n" + inspect.getsource(obj).rstrip() + "\n```\n"


# ------------------------------------------------------------- values for a reader


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number(value: Any) -> str:
    """A number for prose: thousands separators, fractions as p/q, floats to 4 digits."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return intfmt(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return intfmt(int(v))
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            mantissa, exponent = f"{v:.3e}".split("e")
            return f"{mantissa}·10" + str(int(exponent)).translate(_SUPERSCRIPTS)
        return f"{v:.4g}"
    return fmt(value)


def _exact(value: Any) -> Any:
    """A cell as a SymPy number where it is one (ints, Fractions, "p/q" strings)."""
    import sympy

    if isinstance(value, str):
        try:
            return sympy.Rational(value)
        except (TypeError, ValueError):
            pass
        try:  # SymPy's plain text, such as "E/(exp(-1) + exp(1/2) + E)"
            expr = sympy.sympify(value)
        except Exception:  # noqa: BLE001 - not an expression: a name
            return sympy.Symbol(value)
        return expr if isinstance(expr, sympy.Expr) else sympy.Symbol(value)
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return sympy.Integer(int(v)) if v.is_integer() else sympy.Float(v, 4)
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    return value


def matrix_tex(array: Any, highlight: Iterable[tuple[int, int]] = (),
               errors: Iterable[tuple[int, int]] = ()) -> str:
    """LaTeX (no dollars) of a 2-D array as a bracketed matrix, cells through ``sympy.latex``.

    ``highlight`` cells are boxed, ``errors`` boxed in red (0-based (row, column)).
    """
    import sympy

    a = np.asarray(array, dtype=object)
    if a.ndim == 1:
        a = a[None, :]
    check(a.ndim == 2, f"matrix_tex: expected a 2-D array, got shape {a.shape}")
    hl, err = set(map(tuple, highlight)), set(map(tuple, errors))
    rows = []
    for i, row in enumerate(a):
        cells = []
        for j, v in enumerate(row):
            body = sympy.latex(_exact(v))
            if (i, j) in err:
                body = rf"\boxed{{\color{{#c62828}}{{{body}}}}}"
            elif (i, j) in hl:
                body = rf"\boxed{{{body}}}"
            cells.append(body)
        rows.append(" & ".join(cells))
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def _is_matrix(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and 0 < len(value) <= 12
            and all(isinstance(r, (list, tuple)) and 0 < len(r) == len(value[0]) <= 12
                    and all(not isinstance(c, (list, tuple, dict)) for c in r) for r in value))


def _literal_text(value: Any) -> str | None:
    """Markdown for a Python literal found in the spec's prose, or None to leave it as is."""
    if isinstance(value, dict) and value:
        sep = "; " if all(isinstance(k, str) for k in value) else ", "
        arrow = ": " if all(isinstance(k, str) for k in value) else " → "
        parts = []
        for k, v in value.items():
            inner = _literal_text(v) if isinstance(v, (dict, list, tuple)) else None
            if isinstance(v, (dict, list, tuple)) and inner is None:
                inner = ", ".join(number(x) for x in v) if all(
                    isinstance(x, (int, float)) for x in v) else None
            if inner is None and isinstance(v, (dict, list, tuple)):
                return None
            shown = inner if inner is not None else (
                str(v) if isinstance(v, str) else number(v))
            parts.append(f"{k}{arrow}{shown}")
        return "(" + sep.join(parts) + ")"
    if _is_matrix(value):
        return f"${matrix_tex(value)}$"
    if isinstance(value, list) and len(value) >= 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        # [28, 26, 13] reads (28, 26, 13); a pair such as [0, 1] stays an interval
        return "(" + ", ".join(number(v) for v in value) + ")"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        import sympy

        try:
            return "$" + ", ".join(sympy.latex(_exact(v)) for v in value) + "$"
        except Exception:  # noqa: BLE001 - not numbers: show the words
            return ", ".join(value)
    return None


_SYMPY_MARKERS = ("**", "Max(", "Min(", "Piecewise(", "sqrt(", "exp(", "Integral(", "Ne(",
                  "floor(", "Heaviside(", "log(")
_EXPR_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-*/()., ")


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "iota", "kappa",
          "lambda", "sigma", "omega", "upsilon"}


def _parse_sympy(candidate: str) -> Any:
    import sympy
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations

    if re.search(r"[A-Za-z]\s+\(", candidate) or re.search(r"[A-Za-z0-9)]\s+[A-Za-z(]",
                                                            candidate):
        return None  # words next to words: prose, not an expression
    if candidate.count("(") != candidate.count(")") or candidate.endswith((",", ".")):
        return None
    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", candidate))
    functions = {"Max", "Min", "Piecewise", "sqrt", "exp", "Integral", "Ne", "floor",
                 "Heaviside", "log", "oo", "pi", "E", "True", "False", "Abs"}
    called = set(re.findall(r"([A-Za-z_][A-Za-z_0-9]*)\(", candidate))
    words = {n for n in names - functions - called
             if len(n) >= 4 and n.isalpha() and n.lower() not in _GREEK}
    if words:
        return None  # "engine", "window", "gives": prose words, not a formula's symbols
    known = {n for n in called if callable(getattr(sympy, n, None))}  # tanh(x), cosh(x)
    local = {n: sympy.Symbol(n) for n in names - functions - called
             if not n[0].isupper() or len(n) == 1}
    for n in names - functions - known - set(local):
        local[n] = sympy.Function(n)  # f(t - u), g(u): undefined functions
    try:
        expr = parse_expr(candidate, local_dict=local, transformations=standard_transformations)
    except Exception:  # noqa: BLE001 - not an expression
        return None
    return expr if isinstance(expr, sympy.Basic) and not isinstance(expr, sympy.Tuple) else None


def _sympy_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, latex) of SymPy plain-text expressions (``x**2``, ``Max(0, t)``) in text."""
    import sympy

    spans: list[tuple[int, int, str]] = []
    for marker in _SYMPY_MARKERS:
        pos = 0
        while (at := text.find(marker, pos)) >= 0:
            pos = at + 1
            if any(a <= at < b for a, b, _ in spans):
                continue
            lo = at
            while lo > 0 and text[lo - 1] in _EXPR_CHARS:
                lo -= 1
            hi = at + len(marker)
            while hi < len(text) and text[hi] in _EXPR_CHARS:
                hi += 1
            starts = [i for i in range(lo, at + 1)
                      if text[i] not in " ,)" and (i == lo or text[i - 1] in " (")]
            ends = [j for j in range(hi, at + len(marker), -1) if text[j - 1] not in " ,("]
            found = None
            for i in starts:
                for j in ends:
                    expr = _parse_sympy(text[i:j])
                    if expr is not None:
                        found = (i, j, sympy.latex(expr))
                        break
                if found:
                    break
            if found and not any(a < found[1] and found[0] < b for a, b, _ in spans):
                spans.append(found)
    return sorted(spans)


def _literal_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, markdown) of Python dict / list literals (``{'a': 1}``) in text."""
    import ast

    spans, i = [], 0
    pairs = {"{": "}", "[": "]"}
    while i < len(text):
        if text[i] in pairs:
            depth, j = 0, i
            while j < len(text):
                if text[j] in "{[(":
                    depth += 1
                elif text[j] in "}])":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            try:
                value = ast.literal_eval(text[i:j + 1])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                value = None
            shown = _literal_text(value) if value is not None else None
            if shown is not None:
                spans.append((i, j + 1, shown))
                i = j + 1
                continue
        i += 1
    return spans


def prose(text: str) -> str:
    """The spec's prose for a reader: Python literals and SymPy plain text become math.

    ``{'a': 1000}`` becomes "(a: 1,000)", a list of lists a KaTeX matrix, ``x**2`` or
    ``Max(0, t - 1)`` SymPy's LaTeX; what remains is escaped like :func:`md_text`.
    LaTeX already between dollars is kept.
    """
    parts = text.split("$")
    if len(parts) % 2 == 0:
        return md_text(text)
    out = []
    for k, part in enumerate(parts):
        if k % 2:
            out.append(f"${part}$")
            continue
        spans = _literal_spans(part)
        spans += [s for s in _sympy_spans(part)
                  if not any(a < s[1] and s[0] < b for a, b, _ in spans)]
        spans = [(a, b, t if t.startswith(("$", "(")) else f"${t}$") for a, b, t in spans]
        pos, pieces = 0, []
        for a, b, shown in sorted(spans):
            pieces.append(_plain_prose(part[pos:a]))
            pieces.append(shown if not shown.startswith("(") else _keep_math(shown))
            pos = b
        pieces.append(_plain_prose(part[pos:]))
        out.append("".join(pieces))
    return "".join(out)


def _keep_math(text: str) -> str:
    """Escape a rendered literal's words, keeping its ``$...$`` math."""
    return md_text(text)


def _plain_prose(text: str) -> str:
    # SymPy's names for the math's max / min, where no expression could be parsed
    text = re.sub(r"\bMax\(", "max(", text)
    text = re.sub(r"\bMin\(", "min(", text)
    text = text.replace(" -> ", " → ")  # n -> n - 2: an arrow, as a reader writes it
    # powers written the plain-text way, 10^12, as a reader writes them: 10¹²
    text = re.sub(r"\b(\d+)\^(\d+)\b", lambda m: m.group(1) + m.group(2).translate(
        _SUPERSCRIPTS), text)
    return md_text(text).replace("$", "\\$")


# ------------------------------------------------------------------- the engine's table


def primitive_table() -> str:
    """The derivative table of the engine, rendered from ``tinygrad_cnn.primitives.TABLE``."""
    from tinygrad_cnn.primitives import TABLE

    rows = []
    for name, cls in TABLE.items():
        check(cls.formula and cls.vjp_formula, f"primitive {name} has no formula to show")
        rows.append([f"`{name}`", cls.kind, f"`{cls.formula}`", f"`{cls.vjp_formula}`",
                     "yes" if cls.linear else ""])
    return md_table(["primitive", "kind", "forward", "vector-Jacobian product", "linear"], rows)


def primitives_used(output: Tensor) -> list[str]:
    """Names of the primitives in the graph of ``output``, in the order they ran."""
    from tinygrad_cnn.autograd import topological_order

    names = [node._op.name for node in topological_order(output) if node._op is not None]
    check("freed" not in names, "primitives_used: backward() already freed this graph; "
          "read the primitives before calling backward()")
    return names


def windows_by_movement(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                        dilation: tuple[int, int] = (1, 1)) -> Tensor:
    """Sliding windows built only from pad, slice, reshape, expand and permute.

    The trick of early tinygrad's ``_pool``: repeat each row ``e`` times (expand), lay the
    copies end to end (reshape), and cut rows of length ``n + d``: row ``r`` of the result
    is the input shifted by ``r·d``. Keeping every ``s``-th column handles the stride.
    ``(..., H, W) -> (..., OH, OW, KH, KW)``, the same tensor as ``x.windows(...)``.
    """
    lead = x.shape[:-2]
    out_sizes = []
    for axis, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=True)):
        ax = x.ndim - 2 + axis  # the spatial axis handled now (the other one rides along)
        n = x.shape[ax]
        o = (n - d * (k - 1) - 1) // s + 1
        e = -(-k * (n + d) // n)  # copies needed so that k rows of length n + d fit
        shape = x.shape
        x = x.reshape(*shape[:ax], 1, n, *shape[ax + 1:])
        x = x.expand(*shape[:ax], e, n, *shape[ax + 1:])
        x = x.reshape(*shape[:ax], e * n, *shape[ax + 1:])
        x = x[(slice(None),) * ax + (slice(0, k * (n + d)),)]
        x = x.reshape(*shape[:ax], k, n + d, *shape[ax + 1:])  # row r = input shifted by r·d
        if o * s > n + d:  # the stride cut below needs o·s columns
            pads = [(0, 0)] * x.ndim
            pads[ax + 1] = (0, o * s - (n + d))
            x = x.pad(pads)
        x = x[(slice(None),) * (ax + 1) + (slice(0, o * s),)]
        x = x.reshape(*shape[:ax], k, o, s, *shape[ax + 1:])
        x = x[(slice(None),) * (ax + 2) + (slice(0, 1),)]  # keep every s-th position
        x = x.reshape(*shape[:ax], k, o, *shape[ax + 1:])
        out_sizes.append(o)
    # the axes are now (..., KH, OH, KW, OW): move the window offsets last
    m = len(lead)
    return x.permute(*range(m), m + 1, m + 3, m, m + 2)


# -------------------------------------------------------------------- the specification


@functools.cache
def _run_topic(topic: str) -> tuple[Any, ...]:
    """Every item of one topic, through ``spec.report.run_all`` (what ``verify`` runs)."""
    from spec.report import run_all

    return tuple(run_all([topic]))


def spec_items(topic: str) -> list[Any]:
    """Run every item of a spec topic once per build (cached) and return the Items."""
    items = list(_run_topic(topic))
    check(items, f"the specification has no items under topic {topic!r}")
    return items


def spec_item(topic: str, name: str) -> Any:
    """One item of a topic, by name; every item shown on a page must have passed."""
    for it in spec_items(topic):
        if it.name == name:
            check(it.passed, f"spec item {topic}/{name} FAILED: {it.statement}")
            return it
    names = [it.name for it in spec_items(topic)]
    raise DocsCheckError(f"no spec item {name!r} in topic {topic!r}; it has {names}")


def show_value(value: Any) -> str:
    """Render an item's result or engine value for a reader.

    SymPy through ``sympy.latex`` (matrices as bracketed matrices), numbers with separators,
    small 2-D arrays and lists of rows as KaTeX matrices, dicts as small labelled tables,
    a dict of checks as one line naming them, strings through :func:`prose`.
    """
    import sympy

    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, sympy.MatrixBase):
        return f"${matrix_tex(np.array(value.tolist(), dtype=object))}$"
    if isinstance(value, sympy.Basic):
        return tex(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 2 and value.size <= 100:
            return f"${matrix_tex(value)}$"
        return "an array of shape " + " × ".join(map(str, value.shape))
    if isinstance(value, str):
        return prose(value)
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating, Fraction)):
        return number(value)
    if _is_matrix(value):
        return f"${matrix_tex(value)}$"
    if isinstance(value, dict) and value and all(isinstance(v, (bool, np.bool_))
                                                 for v in value.values()):
        if all(value.values()):
            return (f"all {len(value)} checks hold ("
                    + ", ".join(md_text(str(k)) for k in value) + ")")
        # some are False: properties (max is not additive), not failed checks (a failed
        # check fails its item, and the build stops before a page shows it)
        return "; ".join(f"{md_text(str(k))}: {'yes' if v else 'no'}" for k, v in value.items())
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        keys: list[Any] = []
        for v in value.values():
            keys += [k for k in v if k not in keys]
        return md_table(["", *map(str, keys)],
                        [[md_text(str(k)), *(_cell(v.get(c, "")) for c in keys)]
                         for k, v in value.items()], align="l" + "r" * len(keys))
    if isinstance(value, dict) and value:
        return md_table(["", "value"], [[md_text(str(k)), _cell(v)] for k, v in value.items()],
                        align="lr")
    if (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
            and all(v.keys() == value[0].keys() for v in value)):
        keys = list(value[0])
        return md_table(list(map(str, keys)), [[_cell(v[k]) for k in keys] for v in value])
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (str, Fraction, int, np.integer)) and not isinstance(v, bool)
            for v in value):
        try:
            return "$" + ", ".join(sympy.latex(sympy.Rational(str(v))) for v in value) + "$"
        except (TypeError, ValueError):
            pass  # words, not numbers
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) if len(value) <= 16 else (
            f"{len(value)} values: " + "; ".join(_cell(v) for v in value))
    return md_text(fmt(value)).replace("\n", " ")


def _cell(value: Any) -> str:
    """A value inside a table cell or a list: one line, no Python repr."""
    import sympy

    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (int, np.integer)) for v in value):
            # a shape or a pair: no thousands separators, which would read as more entries
            return "(" + ", ".join(str(int(v)) for v in value) + ")"
        return "(" + ", ".join(_cell(v) for v in value) + ")"
    if isinstance(value, dict):
        return "; ".join(f"{md_text(str(k))}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, sympy.Basic) and not isinstance(value, sympy.MatrixBase):
        return tex(value)
    if isinstance(value, str):
        return prose(value)
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating, Fraction)):
        return number(value)
    return show_value(value).strip()


def _plain(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " x ".join(map(fmt, value)) if all(isinstance(v, int) for v in value) \
            else ", ".join(map(fmt, value))
    return fmt(value)


def render_item(it: Any, *, heading: str | None = None, level: int = 3,
                result_label: str = "SymPy", engine_label: str = "the engine",
                shown_above: str | None = None, engine_text: str | None = None) -> str:
    """Statement, derivation, result, engine value and verdict of one spec item.

    ``result_label`` / ``engine_label`` say what each value was computed on (the two may be
    different instances: say so). ``shown_above`` replaces both values with a sentence
    pointing at the page's own figure of them, and ``engine_text`` the engine's value (when
    it repeats the result the page has checked it against), so that a matrix appears once.
    """
    check(it.passed, f"spec item {it.topic}/{it.name} FAILED: {it.statement}")
    lines = []
    if heading is not None:
        lines.append(f"{'#' * level} {heading}\n")
    lines.append(f"**Statement.** {prose(it.statement)}\n")
    if it.source:
        lines.append(f"*Source:* {prose(it.source)}\n")
    if it.derivation:
        lines.append(f"**Derivation.** {prose(it.derivation)}\n")
    if shown_above is not None:
        lines.append(f"**Result and engine.** {shown_above[:1].upper()}{shown_above[1:]}\n")
    else:
        lines.append(f"**Result** ({result_label}). {show_value(it.result)}\n")
        shown = engine_text if engine_text is not None else show_value(it.engine)
        lines.append(f"**Engine** ({engine_label}). {shown}\n")
    lines.append('**Verdict.** <span class="verdict-pass">agrees</span> '
                 f"(checked while this page was built; spec item `{it.topic}/{it.name}`)\n")
    for e in it.errata:
        lines.append(f'!!! warning "Erratum in {e.document}"\n'
                     f"    At {e.location} the document prints **{fmt(e.printed)}**; "
                     f"the math and the engine give **{fmt(e.correct)}**.\n")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ exercises


def _indent(text: str, by: int = 4) -> str:
    return "\n".join((" " * by + line) if line.strip() else "" for line in text.splitlines())


def exercise(number_: int, title: str, question: str, answer: str) -> str:
    """One numeric exercise as a collapsible block, its answer in a nested collapsed block.

    The answer is computed while the page is built (the caller passes the computed value).
    """
    body = question.strip() + '\n\n??? success "Answer"\n' + _indent(answer.strip()) + "\n"
    return f'\n??? question "{number_}. {title}"\n' + _indent(body) + "\n\n"


def exercises_dir() -> Any:
    """The checkout's ``examples/exercises`` directory (starters; ``solutions/`` inside)."""
    from pathlib import Path

    return Path(__file__).resolve().parent.parent.parent / "examples" / "exercises"


def oracle_command(op: str, forward: str, backward: str | None = None,
                   path: str = "examples/exercises") -> list[str]:
    """The ``tinygrad-cnn oracle`` arguments that check an exercise file."""
    args = [op, forward]
    if backward:
        args += ["--backward", backward]
    return [*args, "--path", path]


def run_oracle(args: list[str]) -> tuple[int, str]:
    """Run ``tinygrad-cnn oracle ARGS`` in this process; (exit status, what it printed)."""
    import contextlib
    import sys

    from spec import oracle

    modules = {a.split(":")[0] for a in args if ":" in a}
    buffer = io.StringIO()
    saved_path = list(sys.path)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = oracle.main(list(args))
    finally:
        sys.path[:] = saved_path  # --path DIR is prepended only once: forget it
        for name in modules:  # the starter and the solution share a module name
            sys.modules.pop(name, None)
    return int(code), buffer.getvalue()


def coding_exercise(number_: int, title: str, task: str, op: str, filename: str,
                    forward: str, backward: str | None = None) -> str:
    """A coding exercise: the starter file, the command that checks it, and proof that the
    starter fails and the reference solution passes (both run while the page is built)."""
    from pathlib import Path

    folder = exercises_dir()
    starter = folder / filename
    solution = folder / "solutions" / filename
    check(starter.exists() and solution.exists(), f"missing exercise file {filename}")
    code, report = run_oracle(oracle_command(op, forward, backward, str(folder)))
    check(code == 1, f"the starter {filename} should fail the oracle, exit {code}:\n{report}")
    solved, solved_report = run_oracle(oracle_command(op, forward, backward,
                                                      str(folder / "solutions")))
    check(solved == 0, f"the solution of {filename} fails the oracle:\n{solved_report}")
    tail = report[report.find("SMALLEST FAILING CASE"):] if "SMALLEST FAILING CASE" in report \
        else "\n".join(report.strip().splitlines()[-12:])
    command = "tinygrad-cnn oracle " + " ".join(
        oracle_command(op, forward, backward))
    source = Path(starter).read_text().rstrip()
    body = (f"{task.strip()}\n\nStart from `examples/exercises/{filename}` and check it with\n\n"
            f"```bash\n{command}\n```\n\n"
            "The command exits 0 when your code passes every case and 1 otherwise, with the "
            "smallest case it found that fails, what was expected and what your code returned.\n"
            f'\n??? abstract "The starter file"\n' + _indent(f"```python\n{source}\n```") +
            '\n\n??? failure "What the oracle says about the unchanged starter"\n'
            + _indent(f"```text\n{tail.strip()}\n```") +
            "\n\nThe reference solution, `examples/exercises/solutions/" + filename + "`, passes "
            "every case (both checked while this page was built).\n")
    return f'\n??? example "{number_}. Coding: {title}"\n' + _indent(body) + "\n\n"


# ------------------------------------------------------------------ step-by-step algebra


def equal(a: Any, b: Any) -> bool:
    """Whether two SymPy expressions are equal (expand, then simplify the difference)."""
    import sympy

    diff = sympy.expand(sympy.sympify(a) - sympy.sympify(b))
    return diff == 0 or sympy.simplify(diff) == 0


def steps(lhs: str, chain: Sequence[tuple[Any, str]], shown: Sequence[str] | None = None) -> str:
    """A derivation as aligned display math, each step checked equal to the one before.

    ``chain`` is a list of (SymPy expression, reason); ``shown`` optionally gives the LaTeX
    to print for each step (when ``sympy.latex`` would reorder or evaluate the written
    form), but the check is always on the expressions. A step that is not equal to the
    previous one fails the build.
    """
    import sympy

    check(chain, "steps: an empty derivation")
    rows = []
    for n, (expr, reason) in enumerate(chain):
        if n:
            check(equal(chain[n - 1][0], expr),
                  f"step {n + 1} of {lhs} does not follow: {chain[n - 1][0]} != {expr}")
        body = shown[n] if shown is not None else sympy.latex(expr)
        why = rf"&&\text{{{reason}}}" if reason else ""
        rows.append(("" if n else lhs) + f" &= {body} {why}")
    return display(r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}")


def written_sum(window: Any, kernel: Any) -> tuple[str, int]:
    """``a×b + c×d + ... = total`` for one window (d2l's 0×0 + 1×1 + 3×2 + 4×3 = 19)."""
    import sympy

    w = np.asarray(window).ravel().tolist()
    k = np.asarray(kernel).ravel().tolist()
    products = [sympy.Mul(sympy.Integer(a), sympy.Integer(b), evaluate=False)
                for a, b in zip(w, k, strict=True)]
    total = sympy.Add(*products, evaluate=False)
    value = int(total.doit())
    text = " + ".join(rf"{a} \times {b}" for a, b in zip(w, k, strict=True))
    return f"{text} = {value}", value
