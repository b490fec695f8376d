"""The classification study (`job: classification`): baselines vs the causal classifier on ELPV."""
