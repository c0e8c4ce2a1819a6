"""UC3 drift detection and retraining: compare the champion's training data with what the server logged (01),
and when that calls for it, retrain a challenger on the current data (02); when the champion or the data
changed, score every customer of the newest data by the champion (03). Hourly from cron; exit 0 when there
is no drift, too little data or a cool-down."""

from common.pipeline import use_case_script

run, main = use_case_script(__file__, __doc__)  # the steps of this folder, in order (common.usecases)

if __name__ == "__main__":
    raise SystemExit(main())
