"""Fairness (UC5): group metrics with bootstrap intervals, the What-If views as static plots, the verdict."""
