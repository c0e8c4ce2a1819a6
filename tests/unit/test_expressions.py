import numpy as np
import pytest

from common.features.expressions import ExpressionError, compile_expression, evaluate

COLS = {
    "a": np.array([1.0, 2.0, np.nan, 4.0]),
    "b": np.array([0.0, 2.0, 1.0, 8.0]),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + b * 2", [1.0, 6.0, np.nan, 20.0]),
        ("(a + 1) / (b + 1)", [2.0, 1.0, np.nan, 5 / 9]),
        ("-a ** 2", [-1.0, -4.0, np.nan, -16.0]),
        ("b // 3 + b % 3", [0.0, 2.0, 1.0, 4.0]),
        (
            "abs(a - 3) + sqrt(b) + log1p(b) - log1p(b) + exp(0) - log(exp(1))",
            [2.0, 1 + 2**0.5, np.nan, 1 + 8**0.5],
        ),
        ("a / b", [np.inf, 1.0, np.nan, 0.5]),
        ("a > 1.5", [False, True, False, True]),  # NaN compares False
        ("1 < a <= 2", [False, True, False, False]),
        ("(a > 1) & (b > 4) | (b == 0)", [True, False, False, True]),
        ("a > 1 and not b > 4", [False, True, False, False]),
        ("~(a == 2)", [True, False, True, True]),
        ("a != a", [False, False, True, False]),
        ("1 / 0 + a * 0", [np.inf, np.inf, np.nan, np.inf]),
    ],
)
def test_expressions_compute_elementwise(text: str, expected: list) -> None:
    np.testing.assert_allclose(np.broadcast_to(evaluate(text, COLS), (4,)).astype(float), expected)


def test_the_names_read_are_reported_and_the_parse_is_cached() -> None:
    fn, names = compile_expression("total_charges / (tenure_months + 1)")
    assert names == {"total_charges", "tenure_months"}
    assert compile_expression("total_charges / (tenure_months + 1)")[0] is fn


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("__import__('os').getcwd()", "not allowed"),
        ("a.real", "'a.real' is not allowed"),
        ("a[0]", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("open(a)", "'open\\(a\\)' is not allowed"),
        ("sqrt(a, b)", "not allowed"),
        ("a +", "not an expression"),
        ("a if b else 1", "not allowed"),
    ],
)
def test_anything_but_arithmetic_is_refused(text: str, part: str) -> None:
    with pytest.raises(ExpressionError, match=part):
        compile_expression(text)


def test_text_compares_with_text_columns_and_is_refused_in_arithmetic() -> None:
    contract = {"contract": np.array(["Month-to-month", None, "One year"], dtype=object), **COLS}
    assert evaluate("contract == 'Month-to-month'", contract).tolist() == [True, False, False]
    with pytest.raises(ExpressionError, match=r"'text' \+ a"):
        evaluate("'text' + a", COLS)


def test_an_unknown_column_is_named() -> None:
    with pytest.raises(ExpressionError, match="unknown column 'salary'"):
        evaluate("a * salary", COLS)
