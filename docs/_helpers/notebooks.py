"""Each course page as a Jupyter notebook, generated while the site is built.

A page's prose becomes Markdown cells and its Python blocks (the ``exec`` blocks that
compute the page, and the blocks shown to type) become code cells, in page order, so the
notebook recomputes everything the page shows. The first cell finds the repository (the
notebook must run from a clone, where ``spec``, ``tinygrad_cnn`` and the pages' helper
``tgdocs`` live) and renders what the page's code prints as Markdown, as the page does.

``docs/_helpers/hooks.py`` adds the notebooks to the site as ``notebooks/<page>.ipynb``
and links each from its page; ``tests/test_notebooks.py`` executes every one.
"""

from __future__ import annotations

import re
from pathlib import Path

#: the course pages, in reading order (the notebooks' names are these stems)
COURSE_PAGES = ("why", "convolution", "output-size", "parameters", "pooling", "softmax",
                "backprop", "training")

DOCS = Path(__file__).resolve().parent.parent

SETUP = '''\
# Run this notebook from a clone of tinygrad_cnn, with its docs extra installed:
#     pip install -e ".[docs]"
# This cell finds the clone (from the working directory up), makes its `spec`,
# `tinygrad_cnn` and the pages' helper `tgdocs` importable, and shows what the page's code
# prints as Markdown, as the page does.
import os
import pathlib
import sys

root = next((p for p in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]
             if (p / "docs" / "_helpers" / "tgdocs.py").exists()), None)
if root is None:
    raise RuntimeError("run this notebook inside a clone of the tinygrad_cnn repository")
sys.path[:0] = [str(root / "docs" / "_helpers"), str(root)]
os.chdir(root)
os.environ.setdefault("MPLBACKEND", "Agg")

import builtins

try:
    from IPython.display import Markdown, display as _display
except ImportError:  # plain Python: print as usual
    _display = None


def print(*args, sep=" ", end="\\n", file=None, **kwargs):  # noqa: A001
    """Show printed Markdown rendered (the page's blocks print Markdown)."""
    if file is not None or _display is None:
        return builtins.print(*args, sep=sep, end=end, file=file, **kwargs)
    _display(Markdown(sep.join(map(str, args))))
'''

_FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)


def cells_of(markdown: str) -> list[tuple[str, str]]:
    """(kind, source) cells of a page: "markdown" for prose, "code" for Python blocks."""
    cells: list[tuple[str, str]] = []
    position = 0
    for match in _FENCE.finditer(markdown):
        prose = markdown[position:match.start()].strip()
        if prose:
            cells.append(("markdown", prose))
        cells.append(("code", match.group(2).rstrip()))
        position = match.end()
    tail = markdown[position:].strip()
    if tail:
        cells.append(("markdown", tail))
    return cells


def notebook_of(page: str) -> str:
    """The notebook of ``docs/<page>.md``, as nbformat v4 JSON text (validated)."""
    import nbformat
    from nbformat import v4

    markdown = (DOCS / f"{page}.md").read_text()
    title = markdown.splitlines()[0].lstrip("# ").strip()
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(v4.new_markdown_cell(
        f"*{title}*: the code of this page of the tinygrad_cnn course, as a notebook. "
        "Every cell recomputes what the page shows; a cell that raises means a number "
        "disagrees with the specification."))
    nb.cells.append(v4.new_code_cell(SETUP))
    for kind, source in cells_of(markdown):
        nb.cells.append(v4.new_markdown_cell(source) if kind == "markdown"
                        else v4.new_code_cell(source))
    nbformat.validate(nb)
    return nbformat.writes(nb)
