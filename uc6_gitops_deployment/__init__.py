"""UC6: GitOps deployment."""

USE_CASE = "uc6"
