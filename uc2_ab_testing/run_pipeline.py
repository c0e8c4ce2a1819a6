"""UC2 A/B testing: put the challenger beside the champion (01), declare the experiment and start its load (02),
then monitor it and promote or roll back (03), and after a promotion score every customer again by the new
champion (04). Skipped from step 01 on when there is no challenger."""

from common.pipeline import use_case_script

run, main = use_case_script(__file__, __doc__)  # the steps of this folder, in order (common.usecases)

if __name__ == "__main__":
    raise SystemExit(main())
