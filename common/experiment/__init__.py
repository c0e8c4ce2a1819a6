"""UC2's wing: the canary experiment's judgement (objectives, windows, the verdict), the readers of its evidence
(the servers' own metrics or Prometheus), replayed traffic, its report, and the act on its decision. The model
server, the split and the inference log stay in common.serving."""
