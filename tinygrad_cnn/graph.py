"""Draw the computation graph of a `Value` expression: DOT, Mermaid, and SVG via Graphviz.

Each value is a box showing its label, its data and its gradient (after ``backward()``);
each operation is a separate round node between its inputs and its result, as in
micrograd's drawings. The node order is the topological order of the graph, so the text
is the same on every run.

``tinygrad-cnn graph`` parses its expression with :mod:`ast` and accepts only names,
numbers, ``+ - * / **``, unary minus and the methods ``.relu() .exp() .log() .tanh()``:
nothing is evaluated as Python code. The work is bounded: at most 5,000 characters and 500
syntax nodes, exponents up to 64, and exact numbers (values and gradients) up to `MAX_BITS`
bits, each size predicted from the operands before it is computed, so a hostile expression
(``((a**64)**64)**64``, ``--var a=1e999999999``) is refused at once.

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
import math
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from typing import Any

from . import autograd
from .value import Value

__all__ = ["to_dot", "to_mermaid", "graph_order", "parse_expression", "parse_var", "tiny_conv",
           "write_svg", "ExpressionError", "check_gradient_sizes", "MAX_BITS", "main"]

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
_MAX_CHARS = 5000
_MAX_EXPONENT = 64
#: Size limit of an exact number (a value or a gradient): bits of numerator + denominator.
#: 8192 bits is about 2,466 decimal digits, which Python still prints.
MAX_BITS = 8192
# the bound on the gradients, estimated before backward runs: Fraction arithmetic on numbers
# of this size stays in the milliseconds (gcd is quadratic in the size)
_MAX_GRAD_BOUND_BITS = 4 * MAX_BITS
_MAX_VAR_CHARS = 200


def _bits(x: Any) -> int:
    """The size of an exact number in bits (numerator + denominator); 0 for a float."""
    if isinstance(x, int):
        return x.bit_length()
    if isinstance(x, Fraction):
        return x.numerator.bit_length() + x.denominator.bit_length()
    return 0


def _predict_bits(op: str, a: Any, b: Any) -> int:
    """An upper bound on ``_bits(a op b)`` for exact numbers, found without computing it."""
    if not (isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction))):
        return 0  # a float result has a fixed size
    na, da = Fraction(a).numerator.bit_length(), Fraction(a).denominator.bit_length()
    nb, db = Fraction(b).numerator.bit_length(), Fraction(b).denominator.bit_length()
    if op == "*":
        return na + nb + da + db
    if op == "/":
        return na + db + da + nb
    return max(na + db, nb + da) + 1 + da + db  # (na·db ± nb·da) / (da·db)


def _digits(bits: int) -> str:
    return f"about {int(bits * 0.30103) + 1:,} digits"


def _check_result(value: Value, what: str) -> Value:
    """Refuse a result that is too large, not finite, or not real."""
    x = value.data
    if isinstance(x, complex):
        raise ExpressionError(f"{what} is not a real number ({x})")
    if isinstance(x, float) and not math.isfinite(x):
        raise ExpressionError(f"{what} overflows: {x} (numbers must stay finite)")
    if _bits(x) > MAX_BITS:  # pragma: no cover - predicted and refused before computing
        raise ExpressionError(f"{what} is too large ({_digits(_bits(x))})")
    return value


def _refuse_size(bits: int, what: str) -> None:
    if bits > MAX_BITS:
        raise ExpressionError(f"{what} would have {_digits(bits)}, more than the limit of "
                              f"{_digits(MAX_BITS)[6:]} ({MAX_BITS} bits); refused before "
                              f"computing it")


def _number(node: ast.AST) -> Fraction | None:
    """The exact value of a numeric literal (optionally negated), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * Fraction(node.value)
    if isinstance(node, ast.Constant) and type(node.value) is float:
        if not math.isfinite(node.value):
            raise ExpressionError(f"the number {ast.unparse(node)[:20]} overflows to "
                                  f"{node.value} (numbers must be finite)")
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
    if len(text) > _MAX_CHARS:
        raise ExpressionError(f"expression too long ({len(text)} characters, more than "
                              f"{_MAX_CHARS})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, MemoryError, RecursionError) as err:
        # CPython refuses deep nesting with a SyntaxError ("too many nested parentheses")
        # or, for a long chain of unary operators, a RecursionError / MemoryError
        message = getattr(err, "msg", None) or "too deeply nested"
        raise ExpressionError(f"cannot parse {_cut(text)}: {message}") from None
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
            _refuse_size(_bits(value), f"the literal {_short(node)}")
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
            base = build(node.left)
            what = f"{_short(node)}"
            if exponent.denominator == 1:  # exact powers grow: |e| times the base's size
                _refuse_size(abs(exponent.numerator) * _bits(base.data), what)
            return _check_result(base ** _exact(exponent), what)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = build(node.left), build(node.right)
            op = _BINARY[type(node.op)]
            what = _short(node)
            _refuse_size(_predict_bits(op, left.data, right.data), what)
            if op == "+":
                return _check_result(left + right, what)
            if op == "-":
                return _check_result(left - right, what)
            if op == "*":
                return _check_result(left * right, what)
            return _check_result(left / right, what)
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in _METHODS
                    and not node.args and not node.keywords):
                return _check_result(getattr(build(func.value), func.attr)(), _short(node))
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


def _cut(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _short(node: ast.AST) -> str:
    """A node's source text for a message, cut to 40 characters."""
    try:
        text = ast.unparse(node)
    except ValueError:  # an int literal too long for str()
        return "(too many digits to show)"
    return repr(text if len(text) <= 40 else text[:37] + "...")


_EXPONENT = re.compile(r"[eE]([-+]?[0-9_]+)$")


def parse_var(text: str) -> tuple[str, int | Fraction]:
    """``"a=1/2"`` -> ``("a", Fraction(1, 2))``; decimals are exact (``0.1`` is ``1/10``).

    The size of the number is checked from its text before it is computed, so
    ``a=1e999999999`` is refused at once (see `MAX_BITS`).
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier():
        raise ExpressionError(f"--var expects NAME=VALUE, got {text!r}")
    too_large = (f"--var {name}: {value[:20]!r} needs more than {MAX_BITS} bits (the limit, "
                 f"{_digits(MAX_BITS)}) to be exact; refused before computing it")
    if len(value) > _MAX_VAR_CHARS:
        raise ExpressionError(f"--var {name}: {len(value)} characters, more than the "
                              f"{_MAX_VAR_CHARS} a number may have")
    exponent = _EXPONENT.search(value)
    # Fraction("1e999999999") would compute 10**999999999: look at the exponent first
    if exponent and abs(int(exponent.group(1).replace("_", "") or 0)) > MAX_BITS * 0.30103:
        raise ExpressionError(too_large)
    try:
        number = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ExpressionError(f"--var {name}: {value!r} is not a number (examples: 2, -3, "
                              f"1/2, 0.25)") from None
    if _bits(number) > MAX_BITS:
        raise ExpressionError(too_large)
    return name, _exact(number)


def _vjp_factor_bits(node: Value, parent: int) -> int:
    """An upper bound on the size of what a VJP multiplies the incoming gradient by."""
    op, inputs = node._op, [p.data for p in node._parents]
    if op.name == "add":
        return 0
    if op.name == "mul":  # ḡ · (the other input)
        return _bits(inputs[1 - parent])
    if op.name == "pow":  # ḡ · c · x^(c−1)
        c = Fraction(op.exponent) if isinstance(op.exponent, int) else op.exponent
        if isinstance(c, Fraction) and c.denominator == 1:
            return _bits(c) + abs(c.numerator - 1) * _bits(inputs[0])
        return _bits(c)  # a fractional power is a float
    # log: ḡ / x; exp, tanh: a float; maximum: ḡ or 0
    return sum(_bits(x) for x in inputs) + _bits(node.data)


def check_gradient_sizes(root: Value) -> None:
    """Refuse (before ``backward``) a graph whose exact gradients could grow too large.

    An upper bound on the size in bits of every gradient, from the sizes of the values:
    a vector-Jacobian product multiplies the incoming gradient by a number made of the
    node's inputs (``c·x^(c−1)``, the other factor, ``1/x``), so its size is at most the sum
    of both sizes; a sum of contributions at most the sum of their sizes plus one per term.
    Floats count as 0 (their size is fixed). The bound ignores cancellation, so it can
    refuse an expression whose true gradients are small; it never lets a huge one through.
    """
    bound = {id(root): 1}
    for node in reversed(graph_order(root)):
        g = bound.get(id(node), 0)
        if g > _MAX_GRAD_BOUND_BITS:
            raise ExpressionError(f"the gradients of this expression could reach "
                                  f"{_digits(g)}, more than the limit; refused before "
                                  f"computing them")
        if node._op is None:
            continue
        for i, p in enumerate(node._parents):
            bound[id(p)] = bound.get(id(p), 0) + g + _vjp_factor_bits(node, i) + 1


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
            if args.var:
                raise ExpressionError("--conv draws a fixed 3x3 input and 2x2 kernel; --var "
                                      "gives values only to the names of an expression")
            root = tiny_conv()
        else:
            variables: dict[str, Any] = {}
            if args.expression is None:
                variables.update(_DEFAULT_VARS)
            given: set[str] = set()
            for item in args.var:
                name, value = parse_var(item)
                if name in given:  # the last one won, silently
                    raise ExpressionError(f"--var {name} is given twice")
                given.add(name)
                variables[name] = value
            root = parse_expression(args.expression or _DEFAULT_EXPRESSION, variables)
        check_gradient_sizes(root)
        try:
            root.backward()
        except (ZeroDivisionError, OverflowError, ValueError) as err:
            raise ExpressionError(f"cannot differentiate the expression: {err}") from None
        for node in graph_order(root):
            _check_result(node, f"the value of a node ({node.label or 'unnamed'})")
            if _bits(node.grad) > MAX_BITS:
                raise ExpressionError(f"a gradient has {_digits(_bits(node.grad))}, more "
                                      f"than the limit of {_digits(MAX_BITS)[6:]}")
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
