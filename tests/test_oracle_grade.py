"""``tinygrad-cnn oracle grade``: the sample assignment and hostile submissions give the
expected scores and reasons in all four formats; a bad config is refused, naming the key."""

from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from spec.oracle import grade, isolation
from tinygrad_cnn.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "grading"
CONFIG = EXAMPLE / "grade.toml"
SUBMISSIONS = EXAMPLE / "submissions"
# the hostile submissions below are built from a right arrays-style file (the sample
# assignment is in the cs231n style)
ALICE = (ROOT / "tests" / "oracle_grade_arrays_layers.py").read_text()
SAMPLE_ALICE = (SUBMISSIONS / "alice" / "layers.py").read_text()

pytestmark = pytest.mark.skipif(not isolation.can_fork(), reason="grading forks")


def _grade(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main(["oracle", "grade", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ the sample assignment


@pytest.fixture(scope="module")
def sample_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("grade") / "grades.json"
    code = cli_main(["oracle", "grade", str(SUBMISSIONS), "--config", str(CONFIG),
                     "--format", "json", "--out", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def test_sample_assignment_scores(sample_json):
    rows = {s["name"]: s for s in sample_json["submissions"]}
    assert sample_json["assignment"] == "CNN layers" and sample_json["max_score"] == 20
    assert list(rows) == ["alice", "bob", "carol"]
    assert rows["alice"]["score"] == 20
    checks = {c["check"]: c for c in rows["bob"]["checks"]}
    assert rows["bob"]["score"] == 10 and checks["conv"]["status"] == "fail"
    assert checks["conv"]["diagnoses"][0] == "flipped-kernel"
    assert "DIAGNOSIS: flipped kernel" in checks["conv"]["report"]
    loss = {c["check"]: c for c in rows["carol"]["checks"]}["loss"]
    assert loss["status"] == "fail" and loss["diagnoses"][0] == "loss-gradient-missing-1/N"
    assert 0 < loss["score"] < 5  # partial = true: credit by the share of cases passed
    assert loss["score"] == pytest.approx(5 * loss["cases_passed"] / loss["cases_run"])
    assert rows["carol"]["score"] == pytest.approx(15 + loss["score"])
    conv = {c["check"]: c for c in rows["alice"]["checks"]}["conv"]
    assert conv["unsupported"] > 0 and "not checked: dilation 2" in conv["report"]


def test_sample_assignment_table(capsys):
    code, out, _ = _grade(capsys, str(SUBMISSIONS), "--config", str(CONFIG), "--jobs", "1")
    assert code == 0
    shown = (ROOT / "README.md").read_text().split(
        "$ tinygrad-cnn oracle grade examples/grading/submissions --config "
        "examples/grading/grade.toml\n", 1)[1].split("```", 1)[0]
    assert out.startswith(shown)  # the README shows the real output
    lines = out.splitlines()
    assert lines[0] == "CNN layers: 3 submissions, 3 checks (20 points)"
    assert lines[2].split() == ["student", "score", "conv", "pool", "loss", "first",
                                "problem"]
    assert lines[3].split() == ["alice", "20/20", "PASS", "PASS", "PASS"]
    assert lines[4].split()[:5] == ["bob", "10/20", "FAIL", "PASS", "PASS"]
    assert lines[4].endswith("conv: flipped kernel")
    assert lines[5].startswith("carol") and "loss: loss gradient missing 1/N" in lines[5]


def test_sample_assignment_junit_through_the_cli(tmp_path, capsys):
    out = tmp_path / "grades.xml"
    code, stdout, err = _grade(capsys, str(SUBMISSIONS), "--config", str(CONFIG), "--format",
                               "junit", "--out", str(out), "--jobs", "2")
    assert code == 0 and stdout == "" and "graded 3 submissions (46.25 points in all)" in err
    root = ET.parse(out).getroot()
    assert (root.get("tests"), root.get("failures")) == ("9", "2")
    failed = {(c.get("classname"), c.get("name")): c.find("failure")
              for c in root.iter("testcase") if c.find("failure") is not None}
    assert set(failed) == {("bob", "conv"), ("carol", "loss")}
    assert "DIAGNOSIS: flipped kernel" in failed["bob", "conv"].text
    scores = {s.get("name"): s.find("properties/property").get("value")
              for s in root.iter("testsuite")}
    assert scores == {"alice": "20/20", "bob": "10/20", "carol": "16.25/20"}
    code, _, err = _grade(capsys, str(SUBMISSIONS), "--config", str(CONFIG), "--format",
                          "gradescope")
    assert code == 2 and "the gradescope format grades one submission" in err


# ----------------------------------------------------------------- hostile submissions


HOSTILE = {
    "exits_at_import": "import os\nos._exit(0)\n" + ALICE,
    "exits_in_call": ALICE.replace('    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)\n'
                                   '    x = np.pad(', '    import os\n    os._exit(0)\n'
                                   '    x = np.pad(', 1),
    "loops": ALICE.replace("def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, "
                           "groups=1):\n", "def conv2d(x, w, b=None, stride=1, padding=0, "
                           "dilation=1, groups=1):\n    while True:\n        pass\n", 1),
    "segfaults": ALICE.replace("def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, "
                               "groups=1):\n", "def conv2d(x, w, b=None, stride=1, padding=0, "
                               "dilation=1, groups=1):\n    import ctypes\n"
                               "    ctypes.string_at(0)\n", 1),
    "floods": ALICE.replace("def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, "
                            "groups=1):\n", "def conv2d(x, w, b=None, stride=1, padding=0, "
                            "dilation=1, groups=1):\n    print('x' * 10_000_000)\n", 1),
    "right": ALICE,
}

REASONS = {
    "exits_at_import": "exited with status 0 (os._exit, or exit() in compiled code) while "
                       "importing the candidate's module",
    "exits_in_call": "exited with status 0 (os._exit, or exit() in compiled code) while "
                     "running its forward",
    "loops": "did not return within 1 s: the oracle stopped the process",
    "segfaults": "killed by signal 11 (SIGSEGV",
    "floods": "raised OSError: [Errno 27] File too large",
}

HOSTILE_CONFIG = """
[assignment]
name = "hostile"
timeout = 1

[[check]]
name = "conv"
op = "conv2d"
forward = "conv2d"
backward = "conv2d_backward"
supports = { groups = [1], dilation = [1] }
points = 10
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs = root / "submissions"
    for name, source in HOSTILE.items():
        assert source != ALICE or name == "right", name  # each replacement applied
        (subs / name).mkdir(parents=True)
        (subs / name / "layers.py").write_text(source)
    (root / "grade.toml").write_text(HOSTILE_CONFIG)
    return root


@pytest.fixture(scope="module")
def hostile_json(hostile):
    out = hostile / "grades.json"
    start = time.monotonic()
    assert cli_main(["oracle", "grade", str(hostile / "submissions"), "--config",
                     str(hostile / "grade.toml"), "--format", "json", "--out", str(out),
                     "--jobs", "2"]) == 0
    elapsed = time.monotonic() - start
    data = json.loads(out.read_text())
    data["elapsed"] = elapsed
    return data


def test_hostile_submissions_cost_only_their_own_row(hostile_json):
    rows = {s["name"]: s["checks"][0] for s in hostile_json["submissions"]}
    assert rows["right"]["score"] == 10 and rows["right"]["status"] == "pass"
    for name, words in REASONS.items():
        assert rows[name]["score"] == 0 and rows[name]["status"] == "fail", name
        assert words in rows[name]["reason"] + rows[name]["report"], (name, rows[name])
    assert rows["floods"]["output_bytes"] == grade.OUTPUT_LIMIT
    assert rows["floods"]["output"].startswith("x" * 100)
    assert "more than the 1 MiB allowed" in rows["floods"]["reason"]
    assert hostile_json["elapsed"] < 60


def _results(data):
    """The results behind a JSON output, to format them again."""
    return [grade.SubmissionResult(s["name"], [grade.CheckResult(**c) for c in s["checks"]])
            for s in data["submissions"]]


def test_hostile_submissions_in_every_format(hostile, hostile_json, capsys):
    results = _results(hostile_json)
    config = grade.load_config(hostile / "grade.toml")
    out = grade.format_table(results, config, 1.0)
    rows = {line.split()[0]: line for line in out.splitlines()[3:-2]}
    assert rows["right"].split()[:3] == ["right", "10/10", "PASS"]
    for name in REASONS:
        assert rows[name].split()[:3] == [name, "0/10", "FAIL"]
    assert "SIGSEGV" in rows["segfaults"] and "did not return within 1 s" in rows["loops"]

    junit = hostile / "junit.xml"
    junit.write_text(grade.format_junit(results, config, 1.0))
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "6"
    assert root.get("failures") == "5"
    cases = {c.get("classname"): c for c in root.iter("testcase")}
    assert set(cases) == set(HOSTILE) and all(c.get("name") == "conv" for c in cases.values())
    assert cases["right"].find("failure") is None
    for name, words in REASONS.items():
        failure = cases[name].find("failure")
        assert failure is not None and failure.get("type") == "fail"
        assert words in failure.get("message") + failure.text, name
    assert cases["floods"].find("system-out").text.startswith("xxxx")

    for name, expected in (("right", 10), ("segfaults", 0)):  # the CLI, as Gradescope runs it
        out_file = hostile / f"{name}.json"
        code, _, _ = _grade(capsys, str(hostile / "submissions" / name), "--config",
                            str(hostile / "grade.toml"), "--format", "gradescope", "--out",
                            str(out_file))
        assert code == 0
        results = json.loads(out_file.read_text())
        assert results["score"] == expected
        [test] = results["tests"]
        assert test["name"] == "conv" and test["max_score"] == 10
        assert test["score"] == expected
        assert ("RESULT: PASS" if expected else "RESULT: FAIL") in test["output"]


# --------------------------------------------------------------------- missing things


def test_a_missing_module_or_function_earns_0_with_the_reason(tmp_path, capsys):
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "other.py").write_text(SAMPLE_ALICE)
    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "layers.py").write_text(SAMPLE_ALICE.replace(
        "def max_pool_forward_naive(", "def maxpool(", 1))
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "layers.py").write_text("def broken(:\n")
    (tmp_path / "gina.py").write_text(SAMPLE_ALICE)  # a single-file submission
    out = tmp_path / "grades.json"
    code, _, _ = _grade(capsys, str(tmp_path), "--config", str(CONFIG), "--format", "json",
                        "--out", str(out), "--jobs", "1")
    assert code == 0
    rows = {s["name"]: {c["check"]: c for c in s["checks"]}
            for s in json.loads(out.read_text())["submissions"]}
    assert set(rows) == {"dave", "erin", "frank", "gina"}
    assert all(c["status"] == "missing" and c["reason"] == "no file layers.py in dave/"
               for c in rows["dave"].values())
    assert rows["erin"]["pool"]["reason"] == "layers.py has no 'max_pool_forward_naive'"
    assert rows["erin"]["conv"]["status"] == "pass"
    assert rows["frank"]["conv"]["reason"].startswith("importing layers.py failed: "
                                                      "SyntaxError")
    assert sum(c["score"] for c in rows["gina"].values()) == 20


def test_supports_pairs_in_toml_are_tuples():
    config = grade.parse_config({"check": [{"name": "conv", "op": "conv2d", "forward": "f",
                                            "points": 1, "supports": {"stride": [1, [1, 2]],
                                                                      "groups": 1}}]})
    assert config.checks[0].supports == {"stride": [1, (1, 2)], "groups": 1}
    assert 1 <= grade.cpu_count() <= (__import__("os").cpu_count() or 1)


def test_without_module_the_file_that_defines_the_function_is_used(tmp_path):
    (tmp_path / "hana").mkdir()
    (tmp_path / "hana" / "a_helpers.py").write_text("X = 1\n")
    (tmp_path / "hana" / "my_conv.py").write_text(ALICE)
    config = grade.parse_config({"check": [{"name": "conv", "op": "conv2d",
                                            "forward": "conv2d", "points": 1,
                                            "supports": {"groups": [1], "dilation": [1]}}]})
    [sub] = grade.discover(tmp_path)
    assert grade.locate(sub, config.checks[0]).name == "my_conv.py"
    [result] = grade.grade([sub], config, jobs=1)
    assert result.score == 1


# ------------------------------------------------------------------------- bad configs


@pytest.mark.parametrize("text, words", [
    ("[[check]]\nop = 'conv2d'\nforward = 'f'\npoints = 1\n",
     "grade.toml: check[1].name: missing; expected a non-empty string"),
    ("[[check]]\nname = 'c'\nop = 'conv3d'\nforward = 'f'\npoints = 1\n",
     "grade.toml: check[1] (c).op: expected one of conv1d, conv2d"),
    ("[[check]]\nname = 'c'\nop = 'conv2d'\nforward = 'f'\npoints = '10'\n",
     "grade.toml: check[1] (c).points: expected a number >= 0, got '10'"),
    ("[[check]]\nname = 'c'\nop = 'conv2d'\nforward = 'f g'\npoints = 1\n",
     "grade.toml: check[1] (c).forward: expected a Python name"),
    ("[[check]]\nname = 'c'\nop = 'conv2d'\nforward = 'f'\npoints = 1\n"
     "supports = { strides = [1] }\n",
     "grade.toml: check[1] (c).supports: conv2d has no parameter 'strides'"),
    ("[[check]]\nname = 'c'\nop = 'conv2d'\nforward = 'f'\npoints = 1\nstyle = 'fortran'\n",
     "grade.toml: check[1] (c).style: expected one of"),
    ("[[check]]\nname = 'c'\nop = 'conv2d'\nforward = 'f'\npoints = 1\npartial = 'yes'\n",
     "grade.toml: check[1] (c).partial: expected true or false, got 'yes'"),
    ("[[check]]\nname = 'c'\nop = 'relu'\nforward = 'f'\npoints = 1\n"
     "[[check]]\nname = 'c'\nop = 'relu'\nforward = 'g'\npoints = 1\n",
     "grade.toml: check[2] (c).name: 'c' is used by an earlier check"),
    ("[assignment]\nname = 'x'\n", "grade.toml: check: expected at least one [[check]]"),
    ("[assignment]\ntimeout = -1\n[[check]]\nname = 'c'\nop = 'relu'\nforward = 'f'\n"
     "points = 1\n", "grade.toml: assignment.timeout: expected a finite number of seconds"),
    ("[assignment]\nmemory = 8\n[[check]]\nname = 'c'\nop = 'relu'\nforward = 'f'\n"
     "points = 1\n", "grade.toml: assignment.memory: expected a finite number of MiB"),
    ("[[check]\n", "grade.toml: not valid TOML"),
])
def test_a_bad_config_is_refused_naming_the_key(text, words, tmp_path, capsys):
    config = tmp_path / "grade.toml"
    config.write_text(text)
    code, out, err = _grade(capsys, str(SUBMISSIONS), "--config", str(config))
    assert code == 2 and out == ""
    assert err.startswith(f"tinygrad-cnn oracle grade: {words}"), err
    assert len(err.strip().splitlines()) == 1


def test_missing_folder_config_or_submissions(tmp_path, capsys):
    code, _, err = _grade(capsys, str(tmp_path / "nope"), "--config", str(CONFIG))
    assert code == 2 and "no such folder" in err
    code, _, err = _grade(capsys, str(SUBMISSIONS), "--config", str(tmp_path / "none.toml"))
    assert code == 2 and "cannot read the config" in err
    code, _, err = _grade(capsys, str(SUBMISSIONS))
    assert code == 2 and "--config FILE is required" in err
    code, _, err = _grade(capsys, str(tmp_path), "--config", str(CONFIG))
    assert code == 2 and "no submissions in" in err


def test_the_example_folder_is_self_contained(tmp_path, capsys):
    copy = tmp_path / "grading"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    code, out, _ = _grade(capsys, str(copy / "submissions"), "--config",
                          str(copy / "grade.toml"), "--jobs", "1")
    assert code == 0 and "alice    20/20" in out
