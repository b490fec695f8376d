"""Product workflows: fit, evaluate and score models (used by the CLI, the service and the studies)."""
