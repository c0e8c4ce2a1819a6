"""The labelled customers of a canary experiment, and the ROC AUC comparison on them. Scores come from the replay's
answers (its customers' labels are known) or the inference log (shadow answers, and live traffic); labels from the
replay or, live, from the feedback table (UC3's). Only the fair comparison set counts (common.experiment.fair): a
customer either version was trained on is left out, and each customer counts once per version.

  split   each customer meets one version: the two AUCs are independent (unpaired DeLong);
  shadow  both versions scored every customer: the same customers, a paired DeLong, far more power."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from common.settings import Settings
from common.workspace import Workspace

if TYPE_CHECKING:
    from common.experiment.sequential import Aucs

Scores = dict[object, float]  # customer id -> churn probability, its first answer
MIN_CLASS = 10  # positives and negatives each, at least, before an AUC is compared


def replay_scores(responses: list[dict[str, Any]], version: str) -> Scores:
    """The first answered probability of each replayed customer by `version`."""
    found: Scores = {}
    for r in responses:
        if r["status"] == 200 and r["version"] == version and r["p"] is not None:
            found.setdefault(r["id"], float(r["p"]))
    return found


def replay_labels(responses: list[dict[str, Any]]) -> dict[object, int]:
    return {r["id"]: int(r["label"]) for r in responses if r.get("label") is not None}


def compare(
    mode: str,
    stable: Scores,
    candidate: Scores,
    labels: Mapping[object, int],
    excluded: set[object],
    min_rows: int,
) -> tuple[Aucs | None, str]:
    """(the comparison, "") or (None, why there is none yet)."""
    import numpy as np

    from common.experiment.sequential import delong_paired, delong_unpaired

    def fair(scores: Scores) -> list[object]:
        return [i for i in scores if i in labels and i not in excluded]

    if mode == "shadow":
        both = [i for i in fair(stable) if i in candidate]
        y = np.array([labels[i] for i in both], dtype=int)
        if (short := _too_few("paired", y, min_rows)) is not None:
            return None, short
        p_s = np.array([stable[i] for i in both])
        return delong_paired(y, p_s, np.array([candidate[i] for i in both])), ""
    sides = []
    for name, scores in (("stable", stable), ("candidate", candidate)):
        ids = fair(scores)
        y = np.array([labels[i] for i in ids], dtype=int)
        if (short := _too_few(name, y, min_rows)) is not None:
            return None, short
        sides.append((y, np.array([scores[i] for i in ids])))
    return delong_unpaired(sides[0], sides[1]), ""


def _too_few(which: str, y: Any, min_rows: int) -> str | None:
    positives = int(y.sum())
    if len(y) < min_rows or min(positives, len(y) - positives) < MIN_CLASS:
        return (
            f"insufficient data: {which}: {len(y)} fair labelled customers, {positives} positive "
            f"(at least {min_rows}, and {MIN_CLASS} of each class)"
        )
    return None


def logged_scores(cfg: Settings, ws: Workspace, since: datetime, until: datetime, version: str) -> Scores:
    """`version`'s first logged probability of each customer scored in [since, until), from the inference log."""
    from common.drift.current import log_root
    from common.drift.window import log_files, read_window

    key = cfg.dataset.id_column
    with log_root(cfg, ws, since, until) as (root, _):
        files = log_files(root, since, until)
        window = read_window(files, since, until, [key, "churn_probability"], 10**9, 0, version)
    frame = window.frame.sort_values("ts").drop_duplicates(key, keep="first")
    return dict(zip(frame[key].tolist(), frame["churn_probability"].astype(float).tolist(), strict=True))


def feedback_labels(
    cfg: Settings, ws: Workspace, since: datetime
) -> Callable[[list[object]], dict[object, int]]:
    """Live traffic's labels: the feedback table's newest label of each customer, known after the experiment
    began (an outcome known before was there to train on; none: no table)."""

    def labels(ids: list[object]) -> dict[object, int]:
        import pandas as pd

        from common.drift.feedback import LABEL, LABELLED_AT, labels_for

        found = labels_for(cfg, ws, pd.Series(ids))
        found = found[found[LABELLED_AT] >= pd.Timestamp(since)]
        return dict(zip(found[cfg.dataset.id_column].tolist(), found[LABEL].tolist(), strict=True))

    return labels
