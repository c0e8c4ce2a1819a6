-- The team's databases, made on the first start of the postgres service: the warehouse (stack.py seeds the
-- sample customers into it: python -m common.data.sample_data --set warehouse.url=...), MLflow's backend store,
-- Feast's SQL registry and Marquez's.
CREATE DATABASE team_warehouse;
CREATE DATABASE team_mlflow;
CREATE DATABASE team_feast;
CREATE DATABASE team_marquez;
