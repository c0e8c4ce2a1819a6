"""The churn data-and-training chain: extract, version, validate, features, train. UC1 runs it as its steps
01-05 and UC3 runs it again to retrain on newer data. Each step keeps UC1's name, so the workspace state, the
next step and lineage see one job whoever ran it."""

EXTRACT = "uc1_01_data_ingestion_postgres"
VERSION = "uc1_02_data_versioning_dvc"
VALIDATE = "uc1_03_data_validation_ge"
FEATURES = "uc1_04_feature_engineering_feast"
TRAIN = "uc1_05_model_training_kubeflow"
BATCH = "uc1_07_batch_scoring_mlflow"  # not in ORDER: the scores follow the champion (chain.batch.refresh)
ORDER = [EXTRACT, VERSION, VALIDATE, FEATURES, TRAIN]
LOCK = "uc1"  # the lock UC1's scripts take: whoever runs the chain's steps holds it
