"""The training pipeline on this machine, by kfp.local: its own DAG walk, executor input and output handling.

`kubeflow.local_runner` chooses how a task runs:
- `inprocess` (default): kfp's own Executor runs the component function in this process, on the executor input
  kfp.local built for it. The imports (sklearn, pandas, mlflow, kfp) are paid once per run, not once per task,
  and joblib's worker processes stay warm from one candidate's CV to the next.
- `subprocess`: kfp.local's SubprocessRunner, a fresh Python process per task running the component's shipped
  source, as a cluster pod would: for fidelity, when a component's imports or globals are in question.

Both run the same compiled pipeline with the same inputs, so their results match; a cluster (`kubeflow.host`)
never goes through here. Candidate tasks run one after another: each one's CV already keeps every core busy
(its folds run in parallel), so running candidates side by side would only split the same cores."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

RUNNERS = ("inprocess", "subprocess")
log = logging.getLogger(__name__)


def run_local(
    pipeline: Callable[..., Any],
    args: dict[str, str],
    root: Path,
    runner: str,
    components: Mapping[str, Callable[..., Any]],
) -> None:
    """Run `pipeline` (a dsl.pipeline) with kfp.local, its artifacts under `root`; raises RuntimeError naming the
    task that failed."""
    from kfp import local

    from common.progress import progress

    if runner not in RUNNERS:
        raise ValueError(f"kubeflow.local_runner must be one of {RUNNERS}, got {runner!r}")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    in_process = components if runner == "inprocess" else None
    with progress("training", task_count(pipeline), "tasks") as shown, _tasks(in_process, shown.update):
        pipeline(**args)


def task_count(pipeline: Any) -> int | None:
    """The tasks of the pipeline's top-level DAG (ours has no nested one); None when kfp does not say."""
    try:
        return len(pipeline.pipeline_spec.root.dag.tasks)
    except AttributeError:
        return None


@contextlib.contextmanager
def _tasks(
    components: Mapping[str, Callable[..., Any]] | None, on_done: Callable[[int], None]
) -> Iterator[None]:
    """kfp.local's subprocess handler starts each task with `run_local_subprocess(full_command)`: for the span
    of one run, that call executes the task here instead (given `components`: the inprocess runner) or in its
    process as kfp.local would, and counts it done. Everything else is kfp.local's own."""
    from kfp.local import subprocess_task_handler as handler

    original = handler.run_local_subprocess

    def run_task(full_command: list[str]) -> int:
        code = original(full_command) if components is None else execute(full_command, components)
        on_done(1)
        return int(code)

    handler.run_local_subprocess = run_task
    try:
        yield
    finally:
        handler.run_local_subprocess = original


def execute(full_command: list[str], components: Mapping[str, Callable[..., Any]]) -> int:
    """What the task's process would do (`python -m kfp.dsl.executor_main`), in this one: kfp's Executor calls
    the component function named by --function_to_execute with the artifacts and parameters of --executor_input
    and writes its executor output. Returns the exit code the process would have had."""
    from kfp.dsl.executor import Executor

    flags = _flags(full_command)
    name = flags.get("--function_to_execute", "")
    if name not in components:
        raise RuntimeError(
            f"the in-process runner has no component function {name!r} (known: {sorted(components)})"
        )
    executor_input = json.loads(flags["--executor_input"])
    try:
        Executor(executor_input=executor_input, function_to_execute=components[name]).execute()
    except Exception:  # a task's failure is its process's exit code: kfp.local reports it and stops the run
        log.exception("task %s failed", name)
        return 1
    return 0


def _flags(full_command: list[str]) -> dict[str, str]:
    """The executor's --flag value pairs at the end of a lightweight component's command line."""
    return {
        flag: value
        for flag, value in itertools.pairwise(full_command)
        if flag in ("--executor_input", "--function_to_execute")
    }
