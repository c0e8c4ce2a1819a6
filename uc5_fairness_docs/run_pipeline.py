"""UC5 fairness and documentation: how the champion treats groups of customers (01, fairlearn), then its model
card (02) from the registry, the workspace and config. Under fairness.enforce: block a violation stops it (exit 4)."""

from common.pipeline import use_case_script

run, main = use_case_script(__file__, __doc__)  # the steps of this folder, in order (common.usecases)

if __name__ == "__main__":
    raise SystemExit(main())
