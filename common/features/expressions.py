"""Arithmetic expressions from config, compiled once and evaluated on NumPy arrays: names, numbers, quoted text,
+ - * / // % **, comparisons, & | ~ and/or/not, and a few math functions. A column whose name is not a Python
name (spaces, a keyword such as `class`) is written in backticks: `Payment Method` == 'Mailed check'. Parsed
with `ast` and walked here, never Python eval, so config text cannot run code. Compiled once: a one-row request
pays microseconds, not a parse."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

Columns = Mapping[str, np.ndarray]
Evaluator = Callable[[Columns], Any]  # an array, or a constant that broadcasts

_BINARY: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
}
_UNARY: dict[type, Callable] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: np.logical_not,
    ast.Invert: np.logical_not,
}
_COMPARE: dict[type, Callable] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
FUNCTIONS: dict[str, Callable] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "log1p": np.log1p,
    "exp": np.exp,
}


# a backticked name, or quoted text (kept as it is: a backtick inside 'text' is text)
_BACKTICKED = re.compile(r"'[^']*'|\"[^\"]*\"|`([^`]+)`")


class ExpressionError(ValueError):
    """Config text that is not an allowed expression, or names a column the data lacks."""


@lru_cache(maxsize=256)
def compile_expression(text: str) -> tuple[Evaluator, frozenset[str]]:
    """The evaluator of `text` and the column names it reads."""
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)
        quoted[f"__column_{len(quoted)}"] = match.group(1)
        return f"__column_{len(quoted) - 1}"

    try:
        tree = ast.parse(_BACKTICKED.sub(placeholder, text.strip()), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{text!r}: not an expression ({exc.msg})") from None
    for node in ast.walk(tree):  # back to the names as the user wrote them
        if isinstance(node, ast.Name) and node.id in quoted:
            node.id = quoted[node.id]
    names: set[str] = set()
    return _compile(tree.body, text, names), frozenset(names)


def evaluate(text: str, columns: Columns) -> np.ndarray:
    """`text` on `columns` (name -> array); x/0 gives inf, comparisons with NaN give False, as NumPy does."""
    with quiet():
        return evaluate_quietly(text, columns)


def quiet() -> np.errstate:
    """NumPy's floating-point warnings off (x/0, NaN compared): what `evaluate` runs under."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def evaluate_quietly(text: str, columns: Columns) -> np.ndarray:
    """`evaluate`, for a caller that holds `quiet()` around many: a one-row request pays per call."""
    fn, names = compile_expression(text)
    if not names <= columns.keys():
        raise ExpressionError(f"{text!r}: unknown column {sorted(names - columns.keys())[0]!r}")
    try:
        return np.asarray(fn(columns))
    except TypeError as exc:  # text in arithmetic, a number compared with text, ...
        raise ExpressionError(f"{text!r}: {exc}") from None


def _compile(node: ast.AST, text: str, names: set[str]) -> Evaluator:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        value = np.float64(float(node.value))  # type: ignore[arg-type]  # int, float or bool: checked above  # NumPy semantics even between constants: 1/0 is inf, not an exception
        return lambda _c: value
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # contract == 'Month-to-month'
        text_value = node.value
        return lambda _c: text_value
    if isinstance(node, ast.Name):
        names.add(node.id)
        name = node.id
        return lambda c: c[name]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _apply(_BINARY[type(node.op)], [node.left, node.right], text, names)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _apply(_UNARY[type(node.op)], [node.operand], text, names)
    if isinstance(node, ast.BoolOp):
        join = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return _fold(join, [_compile(v, text, names) for v in node.values])
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        # a < b < c is (a < b) & (b < c)
        sides = [_compile(n, text, names) for n in (node.left, *node.comparators)]
        parts = [_pair(_COMPARE[type(op)], sides[i], sides[i + 1]) for i, op in enumerate(node.ops)]
        return _fold(np.logical_and, parts)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        return _apply(FUNCTIONS[node.func.id], node.args, text, names)
    part = ast.unparse(node)
    raise ExpressionError(
        f"{text!r}{'' if part == text.strip() else f': `{part}`'} is not allowed (use column names, numbers, "
        f"'text', arithmetic, comparisons, & | ~ and {', '.join(FUNCTIONS)})"
    )


def _apply(fn: Callable, args: Sequence[ast.AST], text: str, names: set[str]) -> Evaluator:
    parts = [_compile(a, text, names) for a in args]
    if len(parts) == 1:
        (only,) = parts
        return lambda c: fn(only(c))
    left, right = parts
    return lambda c: fn(left(c), right(c))


def _pair(fn: Callable, left: Evaluator, right: Evaluator) -> Evaluator:
    return lambda c: fn(left(c), right(c))


def _fold(fn: Callable, parts: list[Evaluator]) -> Evaluator:
    first, *rest = parts
    if not rest:
        return first

    def run(c: Columns) -> np.ndarray:
        out = first(c)
        for part in rest:
            out = fn(out, part(c))
        return out

    return run
