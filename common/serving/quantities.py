"""Kubernetes quantities in their canonical form, as the API server writes them back ("1000m" is stored as "1",
"2048Mi" as "2Gi"). A manifest written in another form is permanently OutOfSync under Argo CD (argo-cd #12463)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

_BINARY = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}


def canonical(quantity: str) -> str:
    """The form Kubernetes serialises `quantity` in: binary suffixes stay binary when the value is a whole number
    of bytes of at least 1024, everything else is decimal with the largest suffix that keeps an integer."""
    value = Decimal(parse_quantity(quantity))
    binary = quantity.strip().endswith("i")
    if binary and abs(value) >= 1024 and value == value.to_integral_value():
        return _binary(int(value))
    return _decimal(value)


def parse_quantity(quantity: str) -> Decimal:
    """kubernetes' own `parse_quantity` (ValueError for a malformed one)."""
    return _kubernetes_quantity().parse_quantity(quantity)


@cache
def _kubernetes_quantity() -> Any:
    """kubernetes/utils/quantity.py loaded from its file alone: through its package, the import brings the whole
    Kubernetes client (~0.5 s, in every process that validates a config) for a function of `decimal` only."""
    import importlib.util
    from pathlib import Path

    package = importlib.util.find_spec("kubernetes")  # found, not imported
    if package is None or package.origin is None:
        raise ImportError("the kubernetes package is not installed")
    path = Path(package.origin).parent / "utils" / "quantity.py"
    spec = importlib.util.spec_from_file_location("common.serving._kubernetes_quantity", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _binary(value: int) -> str:
    power = 0
    while value % 1024 == 0 and power < len(_BINARY) - 1 and value != 0:
        value //= 1024
        power += 1
    return f"{value}{_BINARY[power]}"


def _decimal(value: Decimal) -> str:
    if value == 0:
        return "0"
    # Kubernetes keeps nano precision at most, rounding up
    nanos = (value * Decimal(10) ** 9).to_integral_value(rounding="ROUND_CEILING")
    exponent = -9
    while nanos % 1000 == 0 and exponent < 18:
        nanos //= 1000
        exponent += 3
    return f"{nanos}{_DECIMAL[exponent]}"
