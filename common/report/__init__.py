"""The reports page: <workspace>/reports/index.html links the newest of every report and shows the run history.
`python -m common.report` rebuilds it; `--open` opens it."""
