"""Serving: the request contract, the model server process and its control, the KServe InferenceService."""
