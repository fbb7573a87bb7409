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
    def escape(part: str, chars: str = "\\*_[]<>`") -> str:
        return "".join("\\" + c if c in chars else c for c in part)

    parts = text.split("$")
    if len(parts) % 2 == 0:  # an unmatched dollar: no math at all
        return escape(text, "\\*_[]<>`$")
    out = [f"${part}$" if i % 2 else escape(part) for i, part in enumerate(parts)]
    return "".join(out)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]],
             align: str | None = None) -> str:
    """A Markdown table; cells are formatted with :func:`fmt` unless already strings."""
    rows = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    align = align or "l" * len(header)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |",
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
            cells.append(f"<td{cls}>{html.escape(fmt(v))}</td>")
        head = f"<th>{i + 1}</th>" if labels else ""
        out.append(f"<tr>{head}{''.join(cells)}</tr>")
    out.append("</table>")
    return "\n" + "".join(out) + "\n"


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

    return [node._op.name for node in topological_order(output) if node._op is not None]


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
    """Render an item's result or engine value: math for SymPy, a grid for 2-D arrays."""
    if type(value).__module__.startswith("sympy"):
        return tex(value)
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.size <= 100:
        return grid(value, labels=False)
    if isinstance(value, np.ndarray):
        return f"array of shape `{value.shape}`"
    if (isinstance(value, list) and len(value) <= 12 and value
            and all(isinstance(v, list) and len(v) == len(value[0]) <= 12 for v in value)):
        return grid(np.array(value, dtype=object), labels=False)
    if (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
            and all(v.keys() == value[0].keys() for v in value)):
        keys = list(value[0])
        return md_table(keys, [[_plain(v[k]) for k in keys] for v in value])
    if isinstance(value, (list, tuple)) and len(value) <= 12:
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} = {show_value(v)}" for k, v in value.items())
    return f"`{fmt(value)}`".replace("\n", " ")


def _plain(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " x ".join(map(fmt, value)) if all(isinstance(v, int) for v in value) \
            else ", ".join(map(fmt, value))
    return fmt(value)


def render_item(it: Any, *, heading: str | None = None, level: int = 3) -> str:
    """Statement, derivation, result, engine value and verdict of one spec item."""
    check(it.passed, f"spec item {it.topic}/{it.name} FAILED: {it.statement}")
    lines = []
    if heading is not None:
        lines.append(f"{'#' * level} {heading}\n")
    lines.append(f"**Statement.** {md_text(it.statement)}\n")
    if it.source:
        lines.append(f"*Source:* {md_text(it.source)}\n")
    if it.derivation:
        lines.append(f"**Derivation.** {md_text(it.derivation)}\n")
    lines.append(f"**Result.** {show_value(it.result)}\n")
    lines.append(f"**Engine.** {show_value(it.engine)}\n")
    lines.append('**Verdict.** <span class="verdict-pass">agrees</span> '
                 f"(checked while this page was built; spec item `{it.topic}/{it.name}`)\n")
    for e in it.errata:
        lines.append(f'!!! warning "Erratum in {e.document}"\n'
                     f"    At {e.location} the document prints **{fmt(e.printed)}**; "
                     f"the math and the engine give **{fmt(e.correct)}**.\n")
    return "\n".join(lines) + "\n"
