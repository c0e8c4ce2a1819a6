"""UC4 data lineage: deliver the lineage spool (01), then answer the standing questions (02): the impact of the
warehouse table and the provenance of the served model. Each step with transient-only retries."""

from common.pipeline import use_case_script

run, main = use_case_script(__file__, __doc__)  # the steps of this folder, in order (common.usecases)

if __name__ == "__main__":
    raise SystemExit(main())
