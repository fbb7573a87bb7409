"""Graph drawing (DOT, Mermaid, SVG) and the safe expression parser of `tinygrad-cnn graph`."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction

import numpy as np
import pytest

from tinygrad_cnn import Value, cli, graph
from tinygrad_cnn.graph import ExpressionError, parse_expression, parse_var, to_dot, to_mermaid


def product() -> Value:
    a, b = Value(2, label="a"), Value(-3, label="b")
    out = a * b + Value(10, label="c")
    out.backward()
    return out


# ------------------------------------------------------------------------- rendering


def test_mermaid_has_value_nodes_op_nodes_and_edges():
    text = to_mermaid(product())
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    values = [line for line in lines if re.fullmatch(r'    n\d+\[".*"\]', line)]
    ops = [line for line in lines if re.fullmatch(r'    n\d+_op\(\(".*"\)\)', line)]
    edges = [line for line in lines if "-->" in line]
    assert len(values) == 5 and len(ops) == 2  # a, b, c, a*b, a*b + c; × and +
    assert len(edges) == 2 * 2 + 2  # two inputs per op, one op -> result edge each
    assert '    n0["a<br/>data 2<br/>grad -3"]' in lines  # label, data and grad
    assert '    n1["b<br/>data -3<br/>grad 2"]' in lines
    assert any('(("×"))' in line for line in ops) and any('(("+"))' in line for line in ops)


def test_dot_is_a_digraph_with_records():
    text = to_dot(product())
    assert text.startswith("digraph computation {") and text.rstrip().endswith("}")
    assert 'n0 [shape=record, label="{ a | data 2 | grad -3 }"];' in text
    assert text.count("->") == 6
    assert text.count("shape=circle") == 2


def test_drawing_is_deterministic_and_escapes_labels():
    first = to_mermaid(product())
    assert first == to_mermaid(product())
    x = Value(1, label='say "hi" <b>')
    y = x * 2
    y.backward()
    mermaid, dot = to_mermaid(y), to_dot(y)
    assert '"hi"' not in mermaid and "#quot;hi#quot;" in mermaid and "#lt;b#gt;" in mermaid
    assert '\\"hi\\" \\<b\\>' in dot


def test_a_reused_name_is_one_node_with_the_summed_gradient():
    out = parse_expression("a*a + a", {"a": 3})
    out.backward()
    leaves = [n for n in graph.graph_order(out) if n.label == "a"]
    assert len(leaves) == 1 and leaves[0].grad == 2 * 3 + 1


# --------------------------------------------------------------------------- parser


def test_parse_expression_is_exact_with_fractions():
    variables = dict([parse_var("a=1/2"), parse_var("b=3")])
    assert variables == {"a": Fraction(1, 2), "b": 3}
    out = parse_expression("a/b - a**-1 + 0.1*b", variables)
    out.backward()
    nodes = {n.label: n for n in graph.graph_order(out) if n.label}
    # f = a/b - 1/a + b/10: f = 1/6 - 2 + 3/10; df/da = 1/b + 1/a²; df/db = -a/b² + 1/10
    assert out.data == Fraction(1, 6) - 2 + Fraction(3, 10)
    assert nodes["a"].grad == Fraction(1, 3) + 4
    assert nodes["b"].grad == -Fraction(1, 18) + Fraction(1, 10)


def test_methods_and_unary_minus():
    out = parse_expression("(-a).relu() + (a*0).exp() + b.tanh()*0 + b.log()", {"a": -2, "b": 1})
    out.backward()
    assert out.data == pytest.approx(2 + 1 + 0 + 0)


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('echo hacked')", "call of 'system' is not allowed"),
    ("open('/tmp/tinygrad_cnn_should_not_exist', 'w')", "call of 'open'"),
    ("a.__class__", "Attribute is not allowed"),
    ("a.relu(1)", "call of 'relu' is not allowed"),
    ("a.exp(b=1)", "call of 'exp'"),
    ("(lambda: 1)()", "call of 'Lambda'"),
    ("[a, a]", "List is not allowed"),
    ("a if a else a", "IfExp is not allowed"),
    ("a < 1", "Compare is not allowed"),
    ("'text'", "only int and float literals"),
    ("a // 2", "BinOp is not allowed"),
    ("a ** a", "exponent of \\*\\* must be a number"),
    ("a ** 1000", "too large"),
    ("9 ** 9 ** 9", "exponent of \\*\\* must be a number"),
    ("x + 1", "unknown name 'x'"),
    ("a +", "cannot parse"),
    ("a / 0", "division by zero"),
    ("(a - a).log()", "cannot evaluate"),
    ("a; a", "cannot parse"),
])
def test_unsafe_or_invalid_expressions_are_rejected(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, {"a": 1})


def test_rejected_call_had_no_side_effect(tmp_path):
    target = tmp_path / "created"
    with pytest.raises(ExpressionError):
        parse_expression(f"open({str(target)!r}, 'w')", {})
    assert not target.exists()


def test_parse_var():
    assert parse_var("x=0.1") == ("x", Fraction(1, 10))
    assert parse_var(" w = -3 ") == ("w", -3)
    for bad in ("x", "1x=2", "x=abc", "x=1/0"):
        with pytest.raises(ExpressionError):
            parse_var(bad)


def test_tiny_conv_gradients_are_window_sums():
    loss = graph.tiny_conv()
    loss.backward()
    nodes = {n.label: n for n in graph.graph_order(loss) if n.label}
    x = np.array([[nodes[f"x[{i},{j}]"].data for j in range(3)] for i in range(3)])
    w = np.array([[nodes[f"w[{p},{q}]"].data for q in range(2)] for p in range(2)])
    # L = Σ_ij Σ_pq w[p,q] x[i+p, j+q]: dL/dw[p,q] = Σ_ij x[i+p, j+q]
    for p in range(2):
        for q in range(2):
            assert nodes[f"w[{p},{q}]"].grad == x[p:p + 2, q:q + 2].sum()
    expected = sum(w[p, q] * x[p:p + 2, q:q + 2].sum() for p in range(2) for q in range(2))
    assert loss.data == expected
    assert {f"y[{i},{j}]" for i in range(2) for j in range(2)} <= set(nodes)


# -------------------------------------------------------------------------- the CLI


def test_cli_graph_default_and_formats(capsys):
    assert cli.main(["graph"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR") and "grad -3" in out
    assert cli.main(["graph", "a*b", "--var", "a=1/2", "--var", "b=4", "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph") and "data 1/2 | grad 4" in out and "data 2" in out
    assert cli.main(["graph", "--conv"]) == 0
    assert "w[1,1]" in capsys.readouterr().out


def test_cli_graph_errors_exit_2(capsys):
    assert cli.main(["graph", "__import__('os')"]) == 2
    assert "not allowed" in capsys.readouterr().err
    assert cli.main(["graph", "a", "--var", "a=x"]) == 2
    assert "not a number" in capsys.readouterr().err
    assert cli.main(["graph", "a*b", "--conv"]) == 2
    assert "not both" in capsys.readouterr().err


def test_cli_svg_without_graphviz(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    assert cli.main(["graph", "--svg", str(tmp_path / "g.svg")]) == 1
    captured = capsys.readouterr()
    assert "Graphviz" in captured.err and captured.out.startswith("flowchart")
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_cli_svg_with_graphviz(tmp_path):  # pragma: no cover - needs Graphviz
    path = tmp_path / "g.svg"
    assert cli.main(["graph", "--svg", str(path)]) == 0
    assert "<svg" in path.read_text()
