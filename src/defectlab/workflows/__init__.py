"""Product workflows: fit, evaluate and score models (used by the CLI and the studies)."""
