"""UC6 GitOps deployment: the champion promoted through the deployment repo (01: a commit with trailers, pushed),
then the environment synced to it (02: Argo CD's API, or the local model server following the repo)."""

from common.pipeline import use_case_script

run, main = use_case_script(__file__, __doc__)  # the steps of this folder, in order (common.usecases)

if __name__ == "__main__":
    raise SystemExit(main())
