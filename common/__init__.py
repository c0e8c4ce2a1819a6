"""The shared library of the use cases. Flat here, the ground floor every step imports (config, settings, cli,
errors, log, lock, retry, redact, workspace, step, pipeline, telemetry); one wing per shared concern: data,
features, model, serving. Nothing here imports a use case."""
