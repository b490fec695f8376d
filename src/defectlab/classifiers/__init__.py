"""Classifiers layer: supervised defect classification.

Modules: ``labels`` (class schemes: samples -> class indices), ``splits`` (stratified JSON
splits), ``attention`` (CBAM spatial attention), ``backbone`` (late-stage feature maps of a
registry backbone), ``base`` (the interface every classifier shares), ``model`` (backbone +
attention + MLP head), ``baselines`` (small CNN from scratch, plain fine-tuned backbone),
``registry`` (build a classifier by kind), ``losses`` (focal loss), ``augment`` (albumentations
pipelines), ``train`` (trainer, ``predict``) and ``bundle`` (classifier bundles). Import from
those modules directly; this package re-exports nothing, to keep imports cheap.
"""
