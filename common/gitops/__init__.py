"""GitOps (UC6): the deployment repo, its layout, promotion and rollback commits, and the sync."""
