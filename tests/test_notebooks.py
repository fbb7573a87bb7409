"""The course pages' notebooks: generated like the site does, executed top to bottom.

``docs/_helpers/notebooks.py`` turns each of the eight course pages into a notebook (the
site links them); here each one is generated afresh and run in a real Jupyter kernel
(nbclient + ipykernel), offline, from the repository root, as a student would run it from
a clone. A cell that raises (a number that disagrees with the spec, a missing import)
fails the test with the cell's error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "docs" / "_helpers"

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (the docs extra)")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (the test extra)")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (the test extra)")


@pytest.fixture(scope="module")
def notebooks():
    sys.path.insert(0, str(HELPERS))
    try:
        import notebooks as module
    finally:
        sys.path.remove(str(HELPERS))
    return module


def test_every_course_page_has_a_notebook_of_its_code(notebooks) -> None:
    assert len(notebooks.COURSE_PAGES) == 8
    for page in notebooks.COURSE_PAGES:
        nb = nbformat.reads(notebooks.notebook_of(page), as_version=4)
        nbformat.validate(nb)
        source = (ROOT / "docs" / f"{page}.md").read_text()
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert len(code) - 1 == source.count("```python"), page  # + the setup cell
        assert all(block in source for block in code[1:]), page
        prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "## Exercises" in prose and source.splitlines()[0] in prose, page


def test_cells_keep_page_order(notebooks) -> None:
    cells = notebooks.cells_of("# T\n\ntext\n\n```python exec=\"on\"\na = 1\n```\n\nmore\n\n"
                               "```python\nprint(a)\n```\n")
    assert cells == [("markdown", "# T\n\ntext"), ("code", "a = 1"), ("markdown", "more"),
                     ("code", "print(a)")]


@pytest.mark.slow
@pytest.mark.parametrize("page", ["why", "convolution", "output-size", "parameters",
                                  "pooling", "softmax", "backprop", "training"])
def test_notebook_runs_top_to_bottom(notebooks, page: str, tmp_path: Path) -> None:
    nb = nbformat.reads(notebooks.notebook_of(page), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors[0]
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if o.get("output_type") in ("display_data", "stream", "execute_result")]
    assert len(shown) >= 3, f"{page}: the notebook showed almost nothing"
    (tmp_path / f"{page}.ipynb").write_text(nbformat.writes(nb))
