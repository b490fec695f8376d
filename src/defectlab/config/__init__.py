"""Config machinery shared by every job and the CLI: strict pydantic models read from YAML, one dataset model."""
