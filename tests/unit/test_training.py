import numpy as np
import pandas as pd
import pytest

from common.config import load_config
from common.data.sample_data import generate
from common.features.engineering import build_features, feature_types
from common.model import training

CFG = load_config(environ={})
TYPES = feature_types(CFG.features, CFG.dataset)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = generate(3000, seed=11)
    df = build_features(raw, CFG.features, CFG.dataset).assign(churn=raw["churn"])
    return training.split(df, "churn", 0.2, 42)


def test_split_is_seeded_and_stratified(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = data
    assert len(test) == 600 and abs(train["churn"].mean() - test["churn"].mean()) < 0.01
    whole = pd.concat([train, test]).sort_values("customer_id").reset_index(drop=True)
    first, second = training.split(whole, "churn", 0.2, 42), training.split(whole, "churn", 0.2, 42)
    assert first[1]["customer_id"].tolist() == second[1]["customer_id"].tolist()
    assert (
        first[1]["customer_id"].tolist() != training.split(whole, "churn", 0.2, 7)[1]["customer_id"].tolist()
    )


def test_candidate_pipeline_learns_and_predicts_with_missing_values(data: tuple) -> None:
    train, test = data
    model = training.make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, TYPES)
    model.fit(train[list(TYPES)], train["churn"])
    proba = model.predict_proba(test[list(TYPES)])[:, 1]
    assert test["income"].isna().any()  # imputation is exercised
    assert training.scores(test["churn"], proba, 0.5)["roc_auc"] > 0.85


def test_only_sklearn_estimators_are_built() -> None:
    with pytest.raises(ValueError, match="sklearn"):
        training.make_model("os.system", {}, TYPES)


def test_threshold_auto_meets_the_floors_on_out_of_fold_scores(data: tuple) -> None:
    train, _ = data
    model = training.make_model("sklearn.linear_model.LogisticRegression", {"max_iter": 500}, TYPES)
    oof = training.out_of_fold(model, train[list(TYPES)], train["churn"], 3, 0)
    cut = training.choose_threshold(train["churn"], oof, "auto", 0.7, 0.65, margin=0.02)
    at_cut = training.scores(train["churn"], oof, cut)
    assert at_cut["precision"] >= 0.72 and at_cut["recall"] >= 0.67  # the floors with headroom
    bare = training.scores(
        train["churn"], oof, training.choose_threshold(train["churn"], oof, "auto", 0.7, 0.65)
    )
    assert (
        bare["f1"] >= at_cut["f1"] and bare["precision"] < at_cut["precision"]
    )  # headroom costs a little F1
    impossible = training.choose_threshold(train["churn"], oof, "auto", 0.99, 0.99, margin=0.02)
    assert impossible == training.choose_threshold(train["churn"], oof, "auto")  # no cut meets: F1-best
    assert training.choose_threshold(train["churn"], oof, 0.3) == 0.3


def test_scores_and_confusion_matrix() -> None:
    y = pd.Series([0, 0, 1, 1])
    s = training.scores(y, np.array([0.1, 0.6, 0.4, 0.9]), 0.5)
    assert s["confusion_matrix"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    assert (s["accuracy"], s["precision"], s["recall"]) == (0.5, 0.5, 0.5)


def test_serving_copy_predicts_single_threaded_and_repeatably(data: tuple) -> None:
    train, test = data
    rf = training.make_model(
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 20, "n_jobs": -1, "random_state": 0},
        TYPES,
    )
    rf = training.for_serving(rf.fit(train[list(TYPES)], train["churn"]))
    assert rf.named_steps["model"].n_jobs == 1
    assert training.is_deterministic(rf, test[list(TYPES)].head(20))
    assert training.latency_ms(rf, test[list(TYPES)].head(1), repeats=5) > 0


def test_plots_are_written_as_png(tmp_path, data: tuple) -> None:
    _, test = data
    proba = np.linspace(0, 1, len(test))
    made = training.plots(test["churn"], proba, 0.5, tmp_path, "demo")
    assert [p.name for p in made] == ["roc_curve.png", "pr_curve.png", "confusion_matrix.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in made)


def test_reachable_tells_an_unreachable_floor_from_a_missed_one() -> None:
    y = pd.Series([0] * 6 + [1] * 4)
    proba = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.5, 0.65, 0.8, 0.9])
    best = training.reachable(y, proba, min_precision=0.8, min_recall=0.75)
    # recall >= 0.75 (3 of 4) at best at the cut 0.65: 3 of 4 flagged churn; precision >= 0.8 only at 0.8 (2 of 4)
    assert best["precision"] == pytest.approx(0.75) and best["recall"] == pytest.approx(0.5)
    assert best["both_floors"] is False
    line = training.describe_reachable(0.55, best)
    assert line.startswith(
        "decision threshold 0.550; on this holdout any threshold reaches at best: precision 0.750"
    )
    assert line.endswith("no threshold meets both floors")
    assert training.reachable(y, proba, 0.5, 0.5)["both_floors"] is True


def test_the_training_fingerprint_is_what_shapes_the_model_and_nothing_else() -> None:
    """The same data and training config make the same fingerprint (the step is skipped); a new data version, a
    changed candidate or derived feature do not; who may take the champion alias does not count."""
    from common.chain.train import training_fingerprint
    from common.config import load_config

    cfg = load_config(environ={})
    base = training_fingerprint(cfg, "data-v1", "md5a")
    retrain = load_config(None, ["training.gate.promote=false"], environ={})  # UC3's retrain, challenger only
    assert training_fingerprint(retrain, "data-v1", "md5a") == base
    assert training_fingerprint(cfg, "data-v2", "md5b") != base
    assert training_fingerprint(cfg, "data-v1", "md5c") != base  # same tag, other content (another workspace)
    for change in ("training.cv_folds=3", "features.derived=[]", "training.gate.thresholds={roc_auc: 0.5}"):
        assert training_fingerprint(load_config(None, [change], environ={}), "data-v1", "md5a") != base, (
            change
        )


def test_a_training_part_over_the_limit_is_a_seeded_sample_that_keeps_the_churn_share() -> None:
    from common.model.training import at_most

    df = pd.DataFrame({"x": range(10_000), "churn": [1] * 2_000 + [0] * 8_000})
    kept = at_most(df, "churn", 1_000, seed=3)
    assert len(kept) == 1_000 and kept["churn"].mean() == 0.2  # stratified: the share exactly
    assert kept["x"].is_unique and kept.equals(at_most(df, "churn", 1_000, seed=3))  # seeded
    assert not kept.equals(at_most(df, "churn", 1_000, seed=4))
    assert at_most(df, "churn", 10_000, seed=3) is df  # at or under the limit: whole, untouched
