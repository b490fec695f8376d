# Both targets set everything up on a fresh machine (see scripts/venv.sh), defectlab included:
# `$(VENV)/bin/defectlab` is the command line of this clone.
VENV := $(shell scripts/venv.sh)

.PHONY: run test bench

run:  ## fit PatchCore and PaDiM on the bundled ELPV data, write outputs/elpv/
	$(VENV)/bin/defectlab run configs/elpv.yaml

test:  ## lint, check the layer map, then run the whole test suite (installs Debian's chromium for the browser test when missing)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=src $(VENV)/bin/lint-imports
	scripts/chromium.sh
	$(VENV)/bin/python -m pytest -n 2 -q

bench:  ## detection benchmark on ELPV
	PYTHONPATH=src $(VENV)/bin/python benchmarks/detection_elpv.py
