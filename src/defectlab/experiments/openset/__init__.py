"""The open-set study (`job: openset`): one-stage open-set recognition vs the anomaly-gated cascade."""
