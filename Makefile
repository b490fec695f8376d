# Both targets set everything up on a fresh machine (see scripts/venv.sh).
VENV = $(shell scripts/venv.sh)
PY = PYTHONPATH=src $(VENV)/bin/python

.PHONY: run test bench

run:  ## fit PatchCore and PaDiM on the bundled ELPV data, write outputs/elpv/
	$(PY) -m defectlab run configs/elpv.yaml

test:  ## lint, then run the whole test suite (installs Debian's chromium for the browser test when missing)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	scripts/chromium.sh
	$(PY) -m pytest -n 2 -q

bench:  ## detection benchmark on ELPV
	$(PY) benchmarks/detection_elpv.py
