"""The detection job's config (the shared base and the dataset section live in :mod:`defectlab.config`)."""
