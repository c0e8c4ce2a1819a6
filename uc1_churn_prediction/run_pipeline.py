"""UC1 churn prediction: run the steps in order in one process (01 extract, 02 version, 03 validate,
04 features, 05 train + gate, 06 serve, 07 batch scores), each with transient-only retries; the first permanent
failure stops the pipeline and sets the exit code."""

from common.pipeline import use_case_script

run, main = use_case_script(__file__, __doc__)  # the steps of this folder, in order (common.usecases)

if __name__ == "__main__":
    raise SystemExit(main())
