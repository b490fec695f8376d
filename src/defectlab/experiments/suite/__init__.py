"""The detection benchmark suite: many data sets x detectors x corruption protocols in one table."""
