"""Job configs as pydantic models: the shared base, the dataset section and the detection job's config."""
