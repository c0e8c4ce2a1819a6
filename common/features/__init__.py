"""Features: derived-feature expressions, feature engineering on arrays, the Feast store."""
