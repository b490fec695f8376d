"""Analysis of a detector's test results.

``errors``: where it fails (defect size and position, calibration, worst images);
``embeddings``: what its features see (sampled patch embeddings projected to 2-D).
"""
