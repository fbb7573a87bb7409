"""The documentation site: strict build, computed content, code that runs, and a real browser.

The site is built once per session into a temporary directory with ``mkdocs build
--strict`` (every markdown-exec block runs and checks its numbers against the spec and
the engine), then

- the HTML is searched for tracebacks and for assets that would need the network;
- the Python blocks shown on the pages as something to type are run;
- a tiny project proves that a block which raises fails the strict build;
- headless Chromium (Debian's ``chromium``; skipped with a reason where it is absent) is
  driven through the DevTools protocol over a pipe (no browser download, no websocket
  package): every page is opened from a local server, and the test asserts that the math
  rendered (no raw TeX, no KaTeX error), the Mermaid diagrams rendered, every image loaded,
  no request left 127.0.0.1, and that following a navigation link lands on the right page.
  A screenshot is saved to ``artifacts/docs-screenshot.png``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("material", reason="mkdocs-material is not installed (the docs extra)")
pytest.importorskip("markdown_exec", reason="markdown-exec is not installed (the docs extra)")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)



def _mkdocs(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d",
         str(site_dir)], cwd=config.parent, env=env, capture_output=True, text=True,
        timeout=600)


# ------------------------------------------------------------- the pages' helper module


@pytest.fixture(scope="module")
def tgdocs():
    sys.path.insert(0, str(DOCS / "_helpers"))
    try:
        import tgdocs as module
    finally:
        sys.path.remove(str(DOCS / "_helpers"))
    return module


def test_check_raises_the_error_that_fails_the_build(tgdocs) -> None:
    tgdocs.check(True, "never")
    with pytest.raises(AssertionError, match="the message"):
        tgdocs.check(0, "the message")


def test_md_text_escapes_markdown_outside_math_only(tgdocs) -> None:
    assert tgdocs.md_text("a*b $x_1*y$ c_d") == r"a\*b $x_1*y$ c\_d"
    assert tgdocs.md_text("cost $5 of x**2") == r"cost \$5 of x\*\*2"


def test_primitive_table_has_one_row_per_table_entry(tgdocs) -> None:
    from tinygrad_cnn.primitives import TABLE

    rows = [line for line in tgdocs.primitive_table().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(TABLE)


@pytest.mark.parametrize("shape,kernel,stride,dilation", [
    ((1, 1, 5, 5), (3, 3), (1, 1), (1, 1)), ((2, 3, 7, 6), (2, 3), (2, 3), (1, 1)),
    ((1, 2, 9, 8), (3, 2), (2, 1), (2, 3)), ((1, 1, 4, 4), (2, 2), (3, 3), (1, 1)),
    ((1, 1, 3, 3), (3, 3), (1, 1), (1, 1)), ((1, 1, 6, 1), (2, 1), (4, 1), (1, 1))])
def test_movement_op_windows_equal_the_window_view(tgdocs, shape, kernel, stride,
                                                   dilation) -> None:
    import numpy as np

    from tinygrad_cnn import Tensor

    data = np.random.default_rng(0).standard_normal(shape)
    a, b = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
    view = a.windows(kernel, stride, dilation)
    trick = tgdocs.windows_by_movement(b, kernel, stride, dilation)
    assert trick.shape == view.shape
    assert (trick.numpy() == view.numpy()).all()
    used = set(tgdocs.primitives_used(trick))  # read before backward frees the graph
    assert "window" not in used and {"expand", "reshape", "slice"} <= used, used
    g = np.random.default_rng(1).standard_normal(view.shape)
    view.backward(g)
    trick.backward(g)
    np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-13, atol=1e-13)
    with pytest.raises(AssertionError, match="freed"):  # the Engines table's old mistake
        tgdocs.primitives_used(trick)


def test_prose_turns_python_reprs_and_sympy_text_into_math(tgdocs) -> None:
    text = ("At N = 1000: {'fully connected': 1000000000000, 'local': 100}. Gradient "
            "[['1/9', '2/9'], ['2/9', '4/9']]; integrate gives -Max(0, t - 1) + "
            "Max(0, t - 1, Min(1, t)); variance sigma1**2 + sigma2**2 for t < 0 on [0, t].")
    out = tgdocs.prose(text)
    for leftover in ("{'", "['", "Max(", "**", "\\<"):
        assert leftover not in out, (leftover, out)
    assert "fully connected: 1,000,000,000,000" in out
    assert r"\frac{1}{9}" in out and r"\max\left(0, t - 1\right)" in out
    assert r"\sigma_{1}^{2} + \sigma_{2}^{2}" in out
    assert "&lt; 0" in out and "\\[0, t\\]" in out  # intervals stay words
    # a list of numbers reads as a tuple; undefined and known functions are parsed
    out = tgdocs.prose("at n = 28: [28, 26, 13, 11, 5]; t on [0, 1]; "
                       "= Integral(f(t - u)*g(u), (u, -oo, oo)); 1 - tanh(x)**2")
    assert "(28, 26, 13, 11, 5)" in out and "\\[0, 1\\]" in out, out
    assert "oo" not in out.replace("\\infty", "") and "**" not in out, out
    # prose words are never symbols: Max(window) is not "window", "gives" stays outside
    assert tgdocs.prose("max is Max(window)") == "max is max(window)"
    assert tgdocs.prose("exp(engine) and exp(SymPy)") == "exp(engine) and exp(SymPy)"
    assert tgdocs.prose("gives -2/3 + log(E)/2").startswith("gives $")
    # words are never taken for an expression, a tuple is not one
    assert tgdocs.prose("the a = b integral is t*exp(-a*t), also the limit").endswith(
        "$t e^{- a t}$, also the limit")


def test_show_value_renders_for_a_reader(tgdocs) -> None:
    import numpy as np
    import sympy as sp

    checks = tgdocs.show_value({"exact": True, "float64": True})
    assert "= True" not in checks and "all 2 checks hold" in checks
    nested = tgdocs.show_value({"max error": {"indices, mean": 1.4e-17, "sum": 5.5e-17}})
    assert "{" not in nested and "| indices, mean |" in nested.replace("\\", "")
    assert tgdocs.show_value({"fully connected": 10**12}).count("1,000,000,000,000") == 1
    assert tgdocs.show_value(sp.Matrix([[1, 2], [3, 4]])).startswith("$\\begin{bmatrix}")
    assert tgdocs.show_value(np.array([["1/2", "3"]], dtype=object)).count("frac") == 1
    assert "Max(" not in tgdocs.show_value(sp.Max(0, sp.Symbol("t")))
    # properties, some false, are not "failed checks"; SymPy text in a matrix is math
    props = tgdocs.show_value({"max additive": False, "avg linear": True})
    assert "fail" not in props and "max additive: no" in props and "avg linear: yes" in props
    cell = tgdocs.matrix_tex([["E/(exp(-1) + E)", "1/2"]])
    assert "exp(" not in cell and r"e^{-1}" in cell and r"\frac{1}{2}" in cell, cell


def test_steps_fail_the_build_on_a_wrong_step(tgdocs) -> None:
    import sympy as sp

    x = sp.Symbol("x")
    shown = tgdocs.steps("f", [((x + 1)**2, "given"), (x**2 + 2 * x + 1, "expand")])
    assert r"\begin{aligned}" in shown and r"\text{expand}" in shown
    with pytest.raises(AssertionError, match="does not follow"):
        tgdocs.steps("f", [((x + 1)**2, ""), (x**2 + 1, "a wrong expansion")])
    assert tgdocs.written_sum([[0, 1], [3, 4]], [[0, 1], [2, 3]]) == (
        r"0 \times 0 + 1 \times 1 + 3 \times 2 + 4 \times 3 = 19", 19)


def test_times_tex_parenthesises_sums(tgdocs) -> None:
    import sympy as sp

    n, f, nf = sp.symbols("n f n_f")
    assert tgdocs.times_tex((n - f + 1, n - f + 1, nf)) == (
        r"\left(- f + n + 1\right) \times \left(- f + n + 1\right) \times n_{f}")


# ------------------------------------------------------------------------ exercises

EXERCISES = ROOT / "examples" / "exercises"
#: file -> the `tinygrad-cnn oracle` arguments that check it (what the pages tell students)
CODING_EXERCISES = {
    "conv2d_numpy.py": ["conv2d", "conv2d_numpy:conv2d"],
    "conv2d_backward_numpy.py": ["conv2d", "conv2d_backward_numpy:forward", "--backward",
                                 "conv2d_backward_numpy:backward"],
    "avg_pool2d_numpy.py": ["avg_pool2d", "avg_pool2d_numpy:avg_pool2d"],
    "max_pool2d_numpy.py": ["max_pool2d", "max_pool2d_numpy:max_pool2d", "--backward",
                            "max_pool2d_numpy:max_pool2d_backward"],
    "cross_entropy_numpy.py": ["cross_entropy", "cross_entropy_numpy:cross_entropy",
                               "--backward", "cross_entropy_numpy:cross_entropy_backward"],
    "linear_numpy.py": ["linear", "linear_numpy:linear", "--backward",
                        "linear_numpy:linear_backward"],
}


def test_every_exercise_file_has_a_solution_and_a_check() -> None:
    starters = {p.name for p in EXERCISES.glob("*.py")}
    solutions = {p.name for p in (EXERCISES / "solutions").glob("*.py")}
    assert starters == solutions == set(CODING_EXERCISES), (starters, solutions)


def _oracle(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    """``python -m spec.oracle`` (= ``tinygrad-cnn oracle``) in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "spec.oracle", *args, "--path", str(folder)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("filename", sorted(CODING_EXERCISES))
def test_exercise_solution_passes_and_starter_fails(filename: str) -> None:
    solved = _oracle(CODING_EXERCISES[filename], EXERCISES / "solutions")
    assert solved.returncode == 0, solved.stdout[-3000:] + solved.stderr[-2000:]
    assert "RESULT: PASS" in solved.stdout
    starter = _oracle(CODING_EXERCISES[filename], EXERCISES)
    assert starter.returncode == 1, starter.stdout[-3000:] + starter.stderr[-2000:]
    assert "FAIL" in starter.stdout and "Traceback" not in starter.stderr


# ------------------------------------------------------------------------ the built site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly once for the whole session."""
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    result = _mkdocs(ROOT / "mkdocs.yml", out)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, (
        f"mkdocs build --strict failed ({elapsed:.0f} s):\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-8000:]}")
    print(f"\nmkdocs build --strict took {elapsed:.1f} s")
    return out


def _pages(site: Path) -> list[str]:
    """Site-relative URLs of every page (directory URLs), home first."""
    pages = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return ["" if p == "." else p + "/" for p in pages if not p.startswith(("assets", "search"))]


# ------------------------------------------------------------------------ static checks


@pytest.mark.slow
def test_every_nav_page_is_built_with_content(site: Path) -> None:
    import yaml

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    sources = [next(iter(entry.values())) for entry in config["nav"]]
    assert len(sources) >= 13
    for source in sources:
        assert (DOCS / source).exists(), f"nav names {source}, which does not exist"
        page = site / ("index.html" if source == "index.md" else
                       source.removesuffix(".md") + "/index.html")
        assert page.exists(), f"{source} was not built"
        text = re.sub(r"<[^>]+>", " ", page.read_text())
        assert len(text.split()) > 60, f"{source} is nearly empty"


@pytest.mark.slow
def test_no_execution_errors_in_pages(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert "Traceback (most recent call last)" not in text, f"a block failed in {page}"
        assert "DocsCheckError" not in text, page


def _visible_text(page: Path) -> str:
    """The article's text as a reader sees it before the scripts run: no code, no TeX source."""
    import html as html_module

    match = re.search(r"<article.*?</article>", page.read_text(), re.S)
    text = match.group(0) if match else ""
    text = re.sub(r"<(script|style|pre|code)\b[^>]*>.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', " [math] ", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return html_module.unescape(text)


#: what a Python repr, SymPy's plain text or a double escape looks like in prose
LEFTOVERS = ["{'", "['", "array(", "Piecewise(", "Max(", "Matrix(", "Fraction(", "\\<",
             "\\>", "freed"]
LEFTOVER_PATTERNS = [r"\[-?\d+(?:, -?\d+){2,}\]", r"[:=] (?:True|False)\b",
                     r"\((?:True|False)\)", r"\boo\b", r"\*\*"]


@pytest.mark.slow
def test_no_python_reprs_or_escapes_in_visible_text(site: Path) -> None:
    problems = []
    for page in sorted(site.rglob("index.html")):
        text = _visible_text(page)
        for leftover in LEFTOVERS:
            at = text.find(leftover)
            if at >= 0:
                problems.append(f"{page.parent.name or 'home'}: {leftover!r} in "
                                f"{' '.join(text[max(0, at - 60):at + 60].split())!r}")
        # a verdict made of "x = True" lines
        if len(re.findall(r"= True\b", text)) >= 2:
            problems.append(f"{page.parent.name}: a list of '= True' values")
        # a Python list of 3+ numbers, a bare boolean, SymPy's -oo / oo, x**2 (the API
        # reference quotes docstrings, which may write e**x)
        for pattern in LEFTOVER_PATTERNS:
            if page.parent.name == "api" and pattern == r"\*\*":
                continue
            if (match := re.search(pattern, text)):
                at = match.start()
                problems.append(f"{page.parent.name or 'home'}: {pattern!r} in "
                                f"{' '.join(text[max(0, at - 60):at + 60].split())!r}")
        # a prose word taken for a SymPy symbol inside inline math ("e^{engine}")
        source = page.read_text()
        for math in re.findall(r'<span class="arithmatex">\\\((.*?)\\\)</span>', source):
            bare = re.sub(r"\\(text|operatorname|mathrm)\{[^}]*\}|\\[A-Za-z]+", " ", math)
            words = set(re.findall(r"[A-Za-z]{4,}", bare)) - {"bmatrix", "matrix", "cases",
                                                               "otherwise"}
            if words:
                problems.append(f"{page.parent.name}: words {sorted(words)} in math {math!r}")
    assert not problems, "\n".join(problems)


COURSE_PAGES = ["why", "convolution", "output-size", "parameters", "pooling", "softmax",
                "backprop", "training"]


@pytest.mark.slow
@pytest.mark.parametrize("page", COURSE_PAGES)
def test_course_pages_end_with_exercises(site: Path, page: str) -> None:
    text = (site / page / "index.html").read_text()
    heading = re.search(r'<h2 id="exercises">Exercises', text)
    assert heading, f"{page} has no 'Exercises' heading"
    after = text[heading.end():]
    questions = re.findall(r'<details class="(question|example)"', after)
    assert len(questions) >= 3, f"{page}: {len(questions)} exercises"
    answers = re.findall(r'<details class="success"', after)
    assert len(answers) >= questions.count("question"), f"{page}: a question has no answer"
    for match in re.finditer(r"examples/exercises/(\w+\.py)", after):
        assert match.group(1) in CODING_EXERCISES, f"{page} names {match.group(1)}"


@pytest.mark.slow
def test_the_statements_issue_13_found_wrong_stay_right(site: Path) -> None:
    """Each was wrong once: the Why page's two instances side by side with no word, the
    volume formula without parentheses, the Engines table reading a freed graph."""
    why = _visible_text(site / "why" / "index.html")
    assert "N = 1000" in why and "N = 8" in why and "instance" in why
    size = (site / "output-size" / "index.html").read_text()
    assert r"\left(- f + n + 1\right) \times \left(- f + n + 1\right)" in size
    engines = (site / "engines" / "index.html").read_text()
    table = engines.split("primitives used by the trick")[1].split("</table>")[0]
    assert "freed" not in table and table.count("<code>expand</code>") == 4, table[:500]


@pytest.mark.slow
def test_links_between_pages_land_on_an_existing_heading(site: Path) -> None:
    """A link like ``output-size.md#the-pictures`` must name a real anchor of that page."""
    from urllib.parse import urljoin, urlparse

    problems = []
    ids: dict[Path, set[str]] = {}
    for page in sorted(site.rglob("index.html")):
        base = "http://site/" + page.parent.relative_to(site).as_posix() + "/"
        for href in re.findall(r'<a[^>]+href="([^"#:]*#[^"]+)"', page.read_text()):
            url = urlparse(urljoin(base, href))
            if not url.fragment or url.fragment.startswith("__"):
                continue
            target = site / url.path.lstrip("/") / "index.html" if url.path.endswith("/") \
                else site / url.path.lstrip("/")
            if not target.exists():
                problems.append(f"{page.parent.name}: {href} (no such page)")
                continue
            if target not in ids:
                ids[target] = set(re.findall(r'id="([^"]+)"', target.read_text()))
            if url.fragment not in ids[target]:
                problems.append(f"{page.parent.name}: {href} (no such anchor)")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_mermaid_loads_only_where_a_diagram_is_drawn(site: Path) -> None:
    with_diagram, without = [], []
    for page in sorted(site.rglob("index.html")):
        text = page.read_text()
        loads = "assets/mermaid/mermaid.min.js" in text
        draws = 'class="mermaid"' in text
        assert loads == draws, f"{page}: loads Mermaid {loads}, draws a diagram {draws}"
        (with_diagram if draws else without).append(page.parent.name)
    assert with_diagram and len(without) > len(with_diagram), (with_diagram, without)


@pytest.mark.slow
def test_no_network_assets(site: Path) -> None:
    """Scripts, styles, fonts and images all come from the site itself."""
    external = re.compile(r"""<(?:script|img|link|iframe)[^>]*(?:src|href)=["']https?://""")
    for page in site.rglob("*.html"):
        text = page.read_text()
        links = [m.group(0) for m in external.finditer(text)
                 if "rel=\"canonical\"" not in m.group(0)]
        assert not links, f"{page} loads from the network: {links[:3]}"
        assert "fonts.googleapis" not in text, page
    for css in site.rglob("*.css"):
        assert not re.search(r"url\(['\"]?https?://", css.read_text()), css


@pytest.mark.slow
def test_a_failing_block_fails_the_strict_build(tmp_path: Path) -> None:
    """The guarantee every page relies on: an exception in a block stops the build."""
    (tmp_path / "docs").mkdir()
    hooks = (DOCS / "_helpers" / "hooks.py").as_posix()
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\nhooks: [" + hooks + "]\nplugins: [markdown-exec]\n"
        "markdown_extensions: [pymdownx.superfences]\n")
    block = '```python exec="on"\nimport tgdocs\ntgdocs.check({}, "deliberate")\nprint("ok")\n```\n'
    (tmp_path / "docs" / "index.md").write_text("# t\n\n" + block.format("1 + 1 == 2"))
    assert _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "ok").returncode == 0
    (tmp_path / "docs" / "index.md").write_text("# t\n\n" + block.format("1 + 1 == 3"))
    result = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "bad")
    assert result.returncode != 0
    assert "deliberate" in result.stderr


def _typed_code_blocks() -> list[tuple[str, int, str]]:
    """Python blocks shown as something to type: ```python fences that are not exec blocks."""
    fence = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)
    blocks = []
    for md in sorted(DOCS.glob("*.md")):
        text = md.read_text()
        for m in fence.finditer(text):
            if "exec=" in m.group(1):
                continue
            line = text[:m.start()].count("\n") + 1
            blocks.append((md.name, line, m.group(2)))
    return blocks


@pytest.mark.parametrize("page,line,code", _typed_code_blocks() or [("none", 0, "")],
                         ids=lambda v: str(v) if isinstance(v, (str, int)) and len(str(v)) < 30
                         else "")
def test_code_shown_on_pages_runs(page: str, line: int, code: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(compile(code, f"{page}:{line}", "exec"), {"__name__": "__docs__"})


# -------------------------------------------------------------------- headless Chromium


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """Headless Chromium driven through the DevTools protocol over ``--remote-debugging-pipe``.

    Chromium reads commands on fd 3 and writes replies on fd 4, NUL-separated JSON.
    """

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1280,1000"]

    def __init__(self, chromium: str, user_data_dir: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self._log = open(user_data_dir.parent / "chromium.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["bash", "-c", script, chromium, *self.FLAGS, f"--user-data-dir={user_data_dir}",
             "about:blank"], pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=self._log)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._log.close()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, session: str, expression: str, timeout: float = 30) -> Any:
        """Evaluate ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(session, expression)
            except RuntimeError as error:
                # a navigation in flight: the old document's context is gone and the new
                # one may not exist yet ("Execution context was destroyed", "Cannot find
                # context"); try again
                if "context" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for: {expression}")
            time.sleep(0.1)

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")


# What a page looks like once its scripts ran: run in the page after it settled.
PAGE_REPORT = r"""
(() => {
  const article = document.querySelector("article");
  const clone = article.cloneNode(true);
  clone.querySelectorAll(".katex-mathml, pre, code, script, style").forEach(e => e.remove());
  const text = clone.textContent;
  const raw = ["\\frac", "\\(", "\\[", "$$", "\\sum", "\\int", "\\begin", "\\left", "\\mathrm"]
    .filter(t => text.includes(t));
  return {
    title: document.title,
    raw: raw,
    rawContext: raw.length ? text.slice(Math.max(0, text.indexOf(raw[0]) - 80),
                                        text.indexOf(raw[0]) + 80) : "",
    arithmatex: document.querySelectorAll(".arithmatex").length,
    unrendered: document.querySelectorAll(".arithmatex:not([data-rendered])").length,
    katex: document.querySelectorAll(".katex").length,
    katexErrors: Array.from(document.querySelectorAll(".katex-error")).map(e => e.title),
    mermaidPending: document.querySelectorAll("pre.mermaid").length,
    mermaid: Array.from(document.querySelectorAll("div.mermaid")).map(e => e.offsetHeight),
    images: Array.from(document.images).map(i => ({src: i.src.slice(0, 60),
                                                  complete: i.complete, w: i.naturalWidth})),
  };
})()
"""

SETTLED = r"""
(() => document.readyState === "complete"
  && document.querySelectorAll(".arithmatex:not([data-rendered])").length === 0
  && document.querySelectorAll("pre.mermaid").length === 0
  && Array.from(document.images).every(i => i.complete))()
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run "
                    "installs it when it runs as root)")
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    b = Browser(CHROMIUM, profile)
    try:
        try:
            b.call("Browser.getVersion", timeout=60)
        except (RuntimeError, TimeoutError) as error:  # installed but cannot start here
            log = (profile.parent / "chromium.log").read_text(errors="replace")[-500:]
            pytest.skip(f"{CHROMIUM} does not start headless ({error}): {log}")
        yield b
    finally:
        b.close()


def _open(browser: Browser, url: str) -> str:
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    browser.call("Page.enable", session=session)
    browser.call("Network.enable", session=session)
    browser.call("Runtime.enable", session=session)  # console messages and uncaught errors
    browser.call("Log.enable", session=session)
    browser.call("Page.navigate", {"url": url}, session=session)
    browser.wait_for(session, SETTLED, timeout=60)
    return session


@pytest.mark.slow
@pytest.mark.browser
def test_pages_render_in_chromium(site: Path, browser: Browser) -> None:
    pages = _pages(site)
    assert len(pages) >= 13, pages
    with _serve(site) as base:
        problems = []
        totals = {"katex": 0, "images": 0, "mermaid": 0}
        for page in pages:
            session = _open(browser, base + page)
            report = browser.evaluate(session, PAGE_REPORT)
            where = page or "(home)"
            if report["raw"]:
                problems.append(f"{where}: raw TeX {report['raw']} near "
                                f"{report['rawContext']!r}")
            if report["unrendered"] or report["katexErrors"]:
                problems.append(f"{where}: KaTeX errors {report['katexErrors']}")
            if report["katex"] < report["arithmatex"]:
                problems.append(f"{where}: {report['arithmatex']} formulas, "
                                f"{report['katex']} rendered")
            for image in report["images"]:
                if not (image["complete"] and image["w"] > 0):
                    problems.append(f"{where}: image did not load: {image}")
            if any(h < 20 for h in report["mermaid"]):
                problems.append(f"{where}: a Mermaid diagram did not render {report['mermaid']}")
            errors = _console_errors(browser, session)
            if errors:
                problems.append(f"{where}: console errors {errors[:3]}")
            totals["katex"] += report["katex"]
            totals["images"] += len(report["images"])
            totals["mermaid"] += len(report["mermaid"])
        urls = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
        offsite = [u for u in urls if not u.startswith((base, "data:", "blob:", "about:"))]
        assert not offsite, f"pages requested the network: {offsite[:5]}"
        assert not problems, "\n".join(problems)
        print(f"\n{len(pages)} pages; {totals['katex']} formulas, {totals['images']} images, "
              f"{totals['mermaid']} Mermaid diagrams rendered; {len(urls)} requests, all local")
        # some math, some figures and the engine's graph exist somewhere on the site
        assert totals["katex"] >= 20 and totals["images"] >= 3 and totals["mermaid"] >= 1, totals


def _console_errors(browser: Browser, session: str) -> list[str]:
    """Uncaught exceptions and console.error / error log entries of one page (tab)."""
    errors = []
    for event in browser.events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description")
                          or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                   for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return errors


STEPPER_STATE = r"""
(() => {
  const root = document.querySelector(".stepper");
  const win = Array.from(root.querySelectorAll("table.st-input td.st-window"))
    .map(td => td.dataset.r + "," + td.dataset.c);
  const cur = Array.from(root.querySelectorAll("table.st-output td.st-current"))
    .map(td => td.dataset.r + "," + td.dataset.c);
  return {frame: root.dataset.frame, window: win, current: cur,
          sum: root.querySelector(".st-sum").textContent,
          note: root.querySelector(".st-note").textContent,
          erratum: root.querySelectorAll("table.st-output td.st-erratum").length};
})()
"""


@pytest.mark.slow
@pytest.mark.browser
def test_window_stepper_moves_the_window_and_updates_the_sum(site: Path,
                                                             browser: Browser) -> None:
    with _serve(site) as base:
        session = _open(browser, base + "convolution/")
        first = browser.evaluate(session, STEPPER_STATE)
        assert first["frame"] == "0" and len(first["window"]) == 9, first
        assert first["current"] == ["0,0"] and first["erratum"] == 1, first
        assert first["sum"].endswith("= 0") and first["sum"].count("×") == 9, first
        browser.evaluate(session, "document.querySelector('.stepper .st-next').click()")
        second = browser.evaluate(session, STEPPER_STATE)
        assert second["frame"] == "1" and second["current"] == ["0,1"], second
        moved = {tuple(map(int, c.split(","))) for c in second["window"]}
        assert moved == {(r, c + 1) for r, c in
                         (tuple(map(int, c.split(","))) for c in first["window"])}, second
        assert second["sum"] != first["sum"] and second["sum"].endswith("= 1"), second
        # previous goes back; stepping to the erratum cell shows the note
        browser.evaluate(session, "document.querySelector('.stepper .st-prev').click()")
        assert browser.evaluate(session, STEPPER_STATE)["frame"] == "0"
        note = browser.evaluate(session, r"""(() => {
            const root = document.querySelector(".stepper");
            for (let i = 0; i < 25; i++) {
              if (root.querySelector("table.st-output td.st-current.st-erratum")) break;
              root.querySelector(".st-next").click();
            }
            return root.querySelector(".st-note").textContent; })()""")
        assert "slides print" in note, note
        assert not _console_errors(browser, session)


ANIMATIONS = r"""
(() => Array.from(document.querySelectorAll("svg.conv-anim")).map(svg => {
  const rect = svg.querySelector("rect.tap");
  svg.pauseAnimations();
  svg.setCurrentTime(0.01);
  const a = [rect.x.animVal.value, rect.y.animVal.value];
  svg.setCurrentTime(0.01 + 0.7);
  const b = [rect.x.animVal.value, rect.y.animVal.value];
  return {frames: +svg.dataset.frames, animate: svg.querySelectorAll("animate").length,
          moved: a[0] !== b[0] || a[1] !== b[1], width: svg.getBoundingClientRect().width};
}))()
"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("page,count", [("output-size/", 5), ("backprop/", 1)])
def test_conv_arithmetic_animations_play(site: Path, browser: Browser, page: str,
                                         count: int) -> None:
    with _serve(site) as base:
        session = _open(browser, base + page)
        animations = browser.evaluate(session, ANIMATIONS)
        assert len(animations) == count, animations
        for anim in animations:
            assert anim["frames"] >= 4 and anim["animate"] >= 2 * 9, anim
            assert anim["moved"] and anim["width"] > 100, anim


@pytest.mark.slow
@pytest.mark.browser
def test_navigation_and_screenshot(site: Path, browser: Browser) -> None:
    with _serve(site) as base:
        session = _open(browser, base)
        assert "tinygrad_cnn" in browser.evaluate(session, "document.title")
        # follow the "Why convolutions" link of the navigation, as a reader would click it
        href = browser.evaluate(session, r"""
          (() => { const a = Array.from(document.querySelectorAll("a.md-nav__link"))
                     .find(a => a.textContent.trim() === "Why convolutions");
                   a.click(); return a.getAttribute("href"); })()""")
        assert href and "why" in href
        browser.wait_for(session, "location.pathname.includes('why')", timeout=30)
        browser.wait_for(session, SETTLED, timeout=60)
        title = browser.evaluate(session, "document.title")
        heading = browser.evaluate(session, "document.querySelector('article h1').textContent")
        assert title.startswith("Why convolutions"), title
        assert "onvolution" in heading, heading
        # and the footer's "Next" link goes on to the following page
        browser.evaluate(session, "document.querySelector('a.md-footer__link--next').click()")
        browser.wait_for(session, "location.pathname.includes('convolution')", timeout=30)
        browser.wait_for(session, SETTLED, timeout=60)
        assert browser.evaluate(session, "document.title").startswith("Convolution")

        session = _open(browser, base + "convolution/")
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        ARTIFACTS.mkdir(exist_ok=True)
        png = base64.b64decode(shot)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        (ARTIFACTS / "docs-screenshot.png").write_bytes(png)
