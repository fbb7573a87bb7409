"""Draw the computation graph of a `Value` expression: DOT, Mermaid, and SVG via Graphviz.

Each value is a box showing its label, its data and its gradient (after ``backward()``);
each operation is a separate round node between its inputs and its result, as in
micrograd's drawings. The node order is the topological order of the graph, so the text
is the same on every run.

``tinygrad-cnn graph`` parses its expression with :mod:`ast` and accepts only names,
numbers, ``+ - * / **``, unary minus and the methods ``.relu() .exp() .log() .tanh()``:
nothing is evaluated as Python code.

Examples
--------
>>> from tinygrad_cnn import Value
>>> a, b = Value(2, label="a"), Value(-3, label="b")
>>> out = a * b
>>> out.backward()
>>> print(to_mermaid(out))
flowchart LR
    n0["a<br/>data 2<br/>grad -3"]
    n1["b<br/>data -3<br/>grad 2"]
    n2["data -6<br/>grad 1"]
    n2_op(("×"))
    n0 --> n2_op
    n1 --> n2_op
    n2_op --> n2
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from fractions import Fraction
from typing import Any

from . import autograd
from .value import Value

__all__ = ["to_dot", "to_mermaid", "graph_order", "parse_expression", "parse_var", "tiny_conv",
           "write_svg", "ExpressionError", "main"]

_OP_SYMBOLS = {"add": "+", "mul": "×", "exp": "exp", "log": "log", "tanh": "tanh",
               "maximum": "max"}


def format_number(x: Any) -> str:
    """Fractions as ``p/q``, floats with 4 significant digits, anything else with str."""
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _op_text(node: Value) -> str:
    op = node._op
    if op.name == "pow":
        return f"** {format_number(op.exponent)}"
    return _OP_SYMBOLS.get(op.name, op.name)


def _node_lines(node: Value) -> list[str]:
    lines = [node.label] if node.label else []
    return lines + [f"data {format_number(node.data)}", f"grad {format_number(node.grad)}"]


def graph_order(root: Value) -> list[Value]:
    """Every node of the graph of ``root``, parents before children, inputs left to right.

    :func:`tinygrad_cnn.autograd.topological_order` with each node's parents visited in
    their own order, so ``a * b`` lists ``a`` first.
    """
    return autograd.topological_order(root, parents_in_order=True)


def _numbered(root: Value) -> list[tuple[str, Value]]:
    return [(f"n{i}", node) for i, node in enumerate(graph_order(root))]


def _dot_escape(text: str) -> str:
    out = text.replace("\\", "\\\\")
    for ch in '{}|<>"':
        out = out.replace(ch, "\\" + ch)
    return out


def to_dot(root: Value, rankdir: str = "LR") -> str:
    """The graph of ``root`` as Graphviz DOT text (``dot -Tsvg`` renders it)."""
    nodes = _numbered(root)
    ids = {id(node): nid for nid, node in nodes}
    lines = ["digraph computation {", f"    rankdir={rankdir};",
             '    node [fontname="Helvetica", fontsize=11];']
    for nid, node in nodes:
        label = " | ".join(_dot_escape(line) for line in _node_lines(node))
        lines.append(f'    {nid} [shape=record, label="{{ {label} }}"];')
        if node._op is not None:
            lines.append(f'    {nid}_op [shape=circle, label="{_dot_escape(_op_text(node))}"];')
            lines.extend(f"    {ids[id(p)]} -> {nid}_op;" for p in node._parents)
            lines.append(f"    {nid}_op -> {nid};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_escape(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def to_mermaid(root: Value, direction: str = "LR") -> str:
    """The graph of ``root`` as a Mermaid flowchart (the text inside a mermaid block)."""
    nodes = _numbered(root)
    ids = {id(node): nid for nid, node in nodes}
    lines = [f"flowchart {direction}"]
    for nid, node in nodes:
        label = "<br/>".join(_mermaid_escape(line) for line in _node_lines(node))
        lines.append(f'    {nid}["{label}"]')
        if node._op is not None:
            lines.append(f'    {nid}_op(("{_mermaid_escape(_op_text(node))}"))')
            lines.extend(f"    {ids[id(p)]} --> {nid}_op" for p in node._parents)
            lines.append(f"    {nid}_op --> {nid}")
    return "\n".join(lines)


# ---------------------------------------------------------------- safe expressions


class ExpressionError(ValueError):
    """The expression uses something outside the small allowed grammar."""


_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_METHODS = ("relu", "exp", "log", "tanh")
_MAX_NODES = 500
_MAX_EXPONENT = 64


def _number(node: ast.AST) -> Fraction | None:
    """The exact value of a numeric literal (optionally negated), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * Fraction(repr(node.value))  # repr keeps 0.1 as 1/10, not binary
    return None


def _exact(x: Fraction) -> int | Fraction:
    return int(x) if x.denominator == 1 else x


def parse_expression(text: str, variables: dict[str, Any]) -> Value:
    """Build the `Value` graph of ``text``; nothing is evaluated as Python code.

    Allowed: names (looked up in ``variables``, which become labelled leaves), int and
    float literals (exact: ``0.1`` is ``1/10``), ``+ - * /``, ``**`` with a number as the
    exponent, unary ``-`` / ``+``, and the methods ``.relu() .exp() .log() .tanh()``.

    Raises
    ------
    ExpressionError
        A syntax error, an unknown name, or any other construct (the message names it).
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"cannot parse {text!r}: {err.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ExpressionError(f"expression too long (more than {_MAX_NODES} syntax nodes)")
    leaves: dict[str, Value] = {}

    def build(node: ast.AST) -> Value:
        if isinstance(node, ast.Name):
            if node.id not in variables:
                raise ExpressionError(f"unknown name {node.id!r}: give its value with "
                                      f"--var {node.id}=VALUE")
            if node.id not in leaves:  # one leaf per name, so a reused name accumulates
                leaves[node.id] = Value(variables[node.id], label=node.id)
            return leaves[node.id]
        if isinstance(node, ast.Constant):
            value = _number(node)
            if value is None:
                raise ExpressionError(f"only int and float literals are allowed, got "
                                      f"{node.value!r}")
            return Value(_exact(value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = _number(node.right)
            if exponent is None:
                raise ExpressionError("the exponent of ** must be a number (Value ** Value "
                                      "is not supported)")
            if abs(exponent) > _MAX_EXPONENT:
                raise ExpressionError(f"exponent {exponent} is too large (at most "
                                      f"{_MAX_EXPONENT} in absolute value)")
            return build(node.left) ** _exact(exponent)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = build(node.left), build(node.right)
            op = _BINARY[type(node.op)]
            if op == "+":
                return left + right
            if op == "-":
                return left - right
            if op == "*":
                return left * right
            return left / right
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in _METHODS
                    and not node.args and not node.keywords):
                return getattr(build(func.value), func.attr)()
            name = func.attr if isinstance(func, ast.Attribute) else \
                getattr(func, "id", type(func).__name__)
            raise ExpressionError(f"call of {name!r} is not allowed: only .relu() .exp() "
                                  f".log() .tanh() with no arguments")
        raise ExpressionError(f"{type(node).__name__} is not allowed: use names, numbers, "
                              f"+ - * / **, unary -, .relu() .exp() .log() .tanh()")

    try:
        return build(tree.body)
    except ZeroDivisionError:
        raise ExpressionError(f"division by zero in {text!r}") from None
    except (ValueError, OverflowError) as err:
        if isinstance(err, ExpressionError):
            raise
        raise ExpressionError(f"cannot evaluate {text!r}: {err}") from None


def parse_var(text: str) -> tuple[str, int | Fraction]:
    """``"a=1/2"`` -> ``("a", Fraction(1, 2))``; decimals are exact (``0.1`` is ``1/10``)."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier():
        raise ExpressionError(f"--var expects NAME=VALUE, got {text!r}")
    try:
        number = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ExpressionError(f"--var {name}: {value!r} is not a number (examples: 2, -3, "
                              f"1/2, 0.25)") from None
    return name, _exact(number)


def tiny_conv() -> Value:
    """``L = Σ y`` for ``y = conv2d(x, w)``, a 3x3 input and a 2x2 kernel, from `Value`s."""
    from . import scalar

    x = scalar.values([[1, 2, 0], [0, 1, 3], [2, 1, 1]], "x")
    w = scalar.values([[1, 0], [0, -1]], "w")
    y = scalar.conv2d(x, w)
    for i, row in enumerate(y):
        for j, v in enumerate(row):
            v.label = f"y[{i},{j}]"
    loss = y[0][0] + y[0][1] + y[1][0] + y[1][1]
    loss.label = "L"
    return loss


def write_svg(dot_text: str, path: str) -> None:
    """Render DOT text to an SVG file with Graphviz's ``dot``.

    Raises
    ------
    FileNotFoundError
        ``dot`` is not installed.
    RuntimeError
        ``dot`` failed (its message is included).
    """
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError("Graphviz's `dot` is not installed (e.g. apt install "
                                "graphviz), so no SVG was written; the Mermaid text "
                                "(--format mermaid) renders without it")
    result = subprocess.run([dot, "-Tsvg", "-o", path], input=dot_text, text=True,
                            capture_output=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"dot failed: {result.stderr.strip()}")


_DEFAULT_EXPRESSION = "(a*b + c).relu()"
_DEFAULT_VARS = {"a": 2, "b": -3, "c": 10}


def main(args: argparse.Namespace) -> int:
    """``tinygrad-cnn graph``: print the graph (DOT or Mermaid); write an SVG with --svg."""
    try:
        if args.conv:
            if args.expression is not None:
                raise ExpressionError("give either an expression or --conv, not both")
            root = tiny_conv()
        else:
            variables: dict[str, Any] = {}
            if args.expression is None:
                variables.update(_DEFAULT_VARS)
            for item in args.var:
                name, value = parse_var(item)
                variables[name] = value
            root = parse_expression(args.expression or _DEFAULT_EXPRESSION, variables)
        root.backward()
    except ExpressionError as err:
        print(f"tinygrad-cnn graph: error: {err}", file=sys.stderr)
        return 2
    dot_text = to_dot(root)
    print(dot_text if args.format == "dot" else to_mermaid(root))
    if args.svg:
        try:
            write_svg(dot_text, args.svg)
        except (FileNotFoundError, RuntimeError, OSError) as err:
            print(f"tinygrad-cnn graph: error: {err}", file=sys.stderr)
            return 1
        print(f"SVG written to {args.svg}", file=sys.stderr)
    return 0
