"""Use case 2: A/B testing of model versions: the challenger beside the champion on real requests."""

USE_CASE = "uc2"
RETRY_HELP = "test a candidate an experiment rejected again (ab_testing.retry_rejected)"
