"""Open-set workflows: fit an open-set bundle on one known/unknown split of a defect dataset and evaluate it."""
