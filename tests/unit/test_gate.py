import pytest

from common.model.gate import decide, pick
from common.settings import GateCfg

GATE = GateCfg(
    thresholds={"accuracy": 0.75, "precision": 0.70, "recall": 0.65, "f1": 0.70, "roc_auc": 0.75},
    primary_metric="roc_auc",
    regression_tolerance=0.01,
    promotion_margin=0.005,
    max_latency_ms=50,
)
GOOD = {"accuracy": 0.83, "precision": 0.72, "recall": 0.74, "f1": 0.73, "roc_auc": 0.90, "pr_auc": 0.79}


def _decide(metrics: dict = GOOD, champion: float | None = None, latency: float = 4.0, same: bool = True):
    return decide("lr", metrics, GATE, champion, latency, same)


def test_passes_and_takes_champion_when_there_is_none() -> None:
    d = _decide()
    assert (d.passed, d.promote, d.unmet) == (True, True, [])
    assert d.reasons[-1] == "registered as challenger and champion: there was no champion"


@pytest.mark.parametrize(
    ("metric", "value"),
    [("accuracy", 0.70), ("precision", 0.69), ("recall", 0.60), ("f1", 0.65), ("roc_auc", 0.74)],
)
def test_each_threshold_fails_on_its_own_and_is_named(metric: str, value: float) -> None:
    d = _decide({**GOOD, metric: value})
    assert not d.passed and not d.promote
    assert d.unmet == [f"{metric} {value:.3f} < {GATE.thresholds[metric]}"]


def test_every_unmet_threshold_is_listed() -> None:
    d = _decide({**GOOD, "precision": 0.3, "recall": 0.2, "f1": 0.25}, latency=80.0, same=False)
    assert len(d.unmet) == 5
    assert "single-row latency 80.0 ms > 50.0 ms" in d.unmet
    assert "the same input twice gave different outputs" in d.unmet


def test_regression_beyond_tolerance_fails() -> None:
    d = _decide(champion=0.92)
    assert not d.passed
    assert d.unmet == ["roc_auc 0.9000 regresses against the champion's 0.9200 by more than 0.01"]


def test_within_tolerance_is_registered_but_stays_challenger() -> None:
    d = _decide(champion=0.905)
    assert d.passed and not d.promote
    assert "the champion stays" in d.reasons[-1]


def test_a_tie_with_the_champion_stays_challenger() -> None:
    d = _decide(champion=0.90)
    assert d.passed and not d.promote


def test_beating_the_champion_by_the_margin_takes_over() -> None:
    assert _decide(champion=0.895).promote
    assert not _decide(champion=0.8990).promote  # better, but by less than the margin


def test_pick_prefers_the_best_candidate_that_meets_every_threshold() -> None:
    candidates = {
        "rf": {**GOOD, "roc_auc": 0.95, "precision": 0.5},
        "lr": GOOD,
        "gb": {**GOOD, "roc_auc": 0.89},
    }
    assert pick(candidates, GATE) == "lr"
    failing = {"rf": {**GOOD, "roc_auc": 0.95, "precision": 0.5}, "gb": {**GOOD, "roc_auc": 0.9, "f1": 0.1}}
    assert pick(failing, GATE) == "rf"  # none passes: the best is judged, and fails


def test_with_promotion_off_a_better_model_stays_challenger_and_says_why() -> None:
    d = decide("lr", GOOD, GATE.model_copy(update={"promote": False}), 0.80, 4.0, True)
    assert d.passed and not d.promote
    assert "training.gate.promote is false" in d.reasons[-1] and "champion 0.8000" in d.reasons[-1]


def test_a_retrain_that_may_not_promote_names_the_key_that_governs_it() -> None:
    """UC3's retrain sets promote from drift.retrain_promotes: the reason names that key, not the gate's."""
    gate = GATE.model_copy(update={"promote": False, "promote_key": "drift.retrain_promotes"})
    reason = decide("lr", GOOD, gate, 0.80, 4.0, True).reasons[-1]
    assert "drift.retrain_promotes is false" in reason and "training.gate.promote" not in reason
