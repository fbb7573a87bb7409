"""spec.report: run_all, the text / JSON report, the exit code, --list / --only, the CLIs."""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import spec.report as R
from spec.core import REGISTRY, Item
from tinygrad_cnn import cli

ROOT = Path(__file__).resolve().parents[1]
R.load_topics()
N_DOC = len(REGISTRY["documents"])  # the documents topic's items


def args(**kw) -> argparse.Namespace:
    base = {"json": False, "only": None, "list": False, "quiet": False}
    base.update(kw)
    return argparse.Namespace(**base)


def run(**kw) -> tuple[int, str]:
    out = io.StringIO()
    code = R.main(args(**kw), out=out)
    return code, out.getvalue()


def test_run_all_documents_in_order():
    items = R.run_all(["documents"])
    names = [it.name for it in items]
    assert names[:2] == ["seed001_5x5_input_3x3_filter", "seed003_6x6_image_two_filters"]
    assert names.index("seed004_7x7_image_feature_detector") > 1
    assert all(isinstance(it, Item) and it.passed for it in items)


def test_known_topics_in_reading_order():
    topics = R.known_topics()
    order = [t for t in R.TOPICS if t in topics]
    assert topics[:len(order)] == order
    assert "convolution" in topics and "documents" in topics


def test_text_report_and_exit_code_zero():
    code, text = run(only=["documents"])
    assert code == 0
    for word in ("statement:", "derivation:", "result:", "engine:", "verdict:", "[PASS]"):
        assert word in text
    assert "printed 1, correct 0" in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"verify: {N_DOC} passed, 0 failed; known errata: 1 listed, "
                           "1 confirmed; in ")
    assert "known erratum, confirmed" in text and "why: the window" in text
    assert all(len(line) <= 100 for line in text.splitlines() if not line.startswith("  ·"))
    assert "\033[" not in text  # no colour when the output is not a terminal


def test_quiet_is_one_line_per_item():
    code, text = run(only=["documents"], quiet=True)
    assert code == 0
    assert sum(line.startswith("[PASS]") for line in text.splitlines()) == N_DOC
    assert "derivation:" not in text


def test_failing_and_raising_items_give_exit_code_one(monkeypatch):
    def wrong() -> Item:
        return Item("documents", "wrong", "2 + 2 = 5", "by hand", 5, 4, False)

    def broken() -> Item:
        """Raises."""
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(REGISTRY, "documents", [*REGISTRY["documents"], wrong, broken])
    code, text = run(only=["documents"])
    assert code == 1
    assert "[FAIL] documents/wrong" in text and "[FAIL] documents/broken" in text
    assert "ZeroDivisionError: boom" in text
    assert f"verify: {N_DOC} passed, 2 failed" in text.strip().splitlines()[-1]
    items = R.run_all(["documents"])
    broken_item = items[-1]
    assert broken_item.passed is False and broken_item.name == "broken"
    assert broken_item.details["error"].startswith("ZeroDivisionError: boom")


def test_a_module_that_fails_to_import_is_a_failed_item(monkeypatch):
    monkeypatch.setattr(R, "TOPICS", ("no_such_module_really", "documents"))
    real_find_spec = R.importlib.util.find_spec
    monkeypatch.setattr(R.importlib.util, "find_spec",
                        lambda name: True if name.endswith("really") else real_find_spec(name))
    failures = R.load_topics()
    assert [(f.topic, f.name) for f in failures] == [("no_such_module_really", "import")]
    assert failures[0].passed is False
    assert "ModuleNotFoundError" in failures[0].details["error"]
    assert R.known_topics()[0] == "no_such_module_really"
    items = R.run_all(["no_such_module_really", "documents"])
    assert (items[0].topic, items[0].passed) == ("no_such_module_really", False)
    assert all(it.passed for it in items[1:])
    code, text = run(only=["no_such_module_really"])
    assert code == 1 and "[FAIL] no_such_module_really/import" in text


def test_json_report_parses():
    code, text = run(only=["documents"], json=True)
    assert code == 0
    report = json.loads(text)
    assert (report["passed"], report["failed"]) == (N_DOC, 0)
    assert [e["printed"] for e in report["errata"]] == [1]
    assert report["errata"][0]["correct"] == 0
    assert report["errata"][0]["known"] is True and report["errata"][0]["reason"]
    assert [k["confirmed"] for k in report["known_errata"]] == [True]
    assert report["errata"][0]["item"] == "seed004_7x7_image_feature_detector"
    seed004 = next(i for i in report["items"] if i["name"].startswith("seed004"))
    assert seed004["passed"] is True
    assert seed004["result"]["value"][2] == ["1", "0", "0", "2", "1"]
    assert seed004["result"]["latex"].startswith("\\left[\\begin{matrix}")
    assert isinstance(report["seconds"], float)


def test_to_json_conversions():
    x = sp.Symbol("x")
    assert R.to_json(Fraction(3, 4)) == "3/4"
    assert R.to_json(Fraction(6, 3)) == "2"
    assert R.to_json(x ** 2) == {"str": "x**2", "latex": "x^{2}"}
    assert R.to_json(np.array([[Fraction(1, 2), 1]], dtype=object)) == [["1/2", 1]]
    assert R.to_json(np.float32(0.5)) == 0.5
    assert R.to_json(float("nan")) == "nan"
    assert R.to_json({(1, 2): (3,)}) == {"(1, 2)": [3]}
    json.dumps(R.to_json({"m": sp.Matrix([[1, x]]), "a": np.arange(3)}))


def test_list_and_only_unknown():
    code, text = run(list=True)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("convolution (")
    assert "  seed004_7x7_image_feature_detector" in lines
    code, text = run(only=["nonsense"])
    assert code == 2 and text == ""


def test_list_json_names_every_item():
    code, text = run(list=True, json=True)
    assert code == 0
    listing = json.loads(text)
    names = {(e["topic"], e["name"]) for e in listing}
    registered = {(t, fn.__name__) for t, fns in REGISTRY.items() for fn in fns}
    assert names == registered
    assert all(e["summary"] for e in listing)


def test_only_accepts_item_names_and_topics():
    code, text = run(only=["same_padding", "documents/seed001_5x5_input_3x3_filter"],
                     quiet=True)
    assert code == 0
    heads = [line for line in text.splitlines() if line.startswith("[")]
    assert heads == [line for line in heads if "same_padding" in line or "seed001" in line]
    assert len(heads) == 2
    items = R.run_all(["rules"])
    assert {it.topic for it in items} == {"rules"} and len(items) >= 6


def test_progress_is_printed_item_by_item(monkeypatch):
    out = io.StringIO()
    seen = []

    def first() -> Item:
        return Item("documents", "first", "s", "d", 1, 1, True)

    def second() -> Item:
        seen.append(out.getvalue())  # what was printed before the second item ran
        return Item("documents", "second", "s", "d", 1, 1, True)

    monkeypatch.setitem(REGISTRY, "documents", [first, second])
    assert R.main(args(only=["documents"], quiet=True), out=out) == 0
    assert "[PASS] documents/first" in seen[0]


def test_an_unlisted_disagreement_fails_and_a_missing_erratum_fails(monkeypatch):
    from spec.core import Erratum
    from spec.errata import reconcile

    it = Item("documents", "seed004_7x7_image_feature_detector", "s", "d", 1, 1, True)
    reconcile(it)  # the listed erratum of this item does not appear
    assert not it.passed
    assert "FAILED: a known erratum no longer appears" in it.details
    it = Item("parameters", "x", "s", "d", 1, 1, True,
              errata=[Erratum("seed 000", "somewhere", 10, 1)])
    reconcile(it)
    assert not it.passed and not it.errata[0].known
    code, text = run(only=["documents"], quiet=True)
    assert code == 0 and "known erratum, confirmed" in text


def test_cli_verify_entry_point(capsys):
    assert cli.main(["verify", "--list"]) == 0
    assert f"documents ({N_DOC} items)" in capsys.readouterr().out
    assert cli.main(["verify", "--only", "documents", "-q"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(f"verify: {N_DOC} passed")


def test_python_dash_m_spec_parser():
    from spec.__main__ import build_parser

    parsed = build_parser().parse_args(["--json", "--only", "shapes", "--only", "documents"])
    assert parsed.json and parsed.only == ["shapes", "documents"]
    assert build_parser().prog == "python -m spec"


def test_one_definition_of_the_command():
    """`python -m spec` and `tinygrad-cnn verify` share spec.command; spec never imports the
    engine's CLI."""
    import spec.__main__ as spec_main
    from spec import command

    verify = cli.build_parser()._subparsers._group_actions[0].choices["verify"]
    ours = command.build_parser()
    assert sorted(a.dest for a in verify._actions) == sorted(a.dest for a in ours._actions)
    assert verify.description == ours.description == command.DESCRIPTION
    source = Path(spec_main.__file__).read_text() + Path(command.__file__).read_text()
    assert "tinygrad_cnn.cli" not in source


@pytest.mark.slow
def test_whole_report_from_the_command_line():
    """`python -m spec` runs everything, exits 0, and stays within the 30 s budget.

    The budget is checked on the child's CPU time (user + system), which does not grow when
    other processes share the machine; the wall clock only has a generous timeout.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "spec", "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("verify: ") and " 0 failed" in last
    assert cpu < 30
    assert "FAIL" not in done.stdout


def test_colour_only_when_asked():
    it = Item("t", "n", "s", "d", 1, 1, True)
    assert "\033[32mPASS\033[0m" in R.format_item(it, colour=True)
    bad = Item("t", "n", "s", "d", 1, 2, False)
    assert "\033[31mFAIL\033[0m" in R.format_item(bad, colour=True)
    assert R.format_item(bad, quiet=True) == "[FAIL] t/n"


def test_item_names_are_unique_so_a_bare_name_is_enough():
    names = [fn.__name__ for _, fn in R.item_functions()]
    assert len(names) == len(set(names))


def test_a_new_module_registers_its_items_with_one_decorator():
    """A module spec/<name>.py with @item("topic") is found by verify with no other edit."""
    import spec

    module = Path(spec.__file__).parent / "zz_planted_topic.py"
    module.write_text('from .core import Item, item\n\n\n@item("planted")\n'
                      'def planted_item() -> Item:\n    """A planted item."""\n'
                      '    return Item("planted", "planted_item", "s", "d", 1, 1, True)\n')
    try:
        code, text = run(only=["planted_item"], quiet=True)
        assert code == 0 and "[PASS] planted/planted_item" in text
    finally:
        module.unlink()
        REGISTRY.pop("planted", None)
        sys.modules.pop("spec.zz_planted_topic", None)
