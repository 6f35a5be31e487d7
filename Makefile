# The README's two commands: `make lab` (the workbench on the demo data) and `make test`.
.PHONY: setup lab test lint benchmarks
VENV := .venv/bin

setup:
	bash .ci/setup

lab: setup
	$(VENV)/jupyter lab notebooks/quickstart.ipynb

test: setup
	$(VENV)/python -m ruff check workbench tests benchmarks
	$(VENV)/python -m pytest -q

lint: setup
	$(VENV)/python -m ruff format --check workbench tests benchmarks
	$(VENV)/python -m ruff check workbench tests benchmarks

benchmarks: setup
	for b in benchmarks/*.py; do $(VENV)/python $$b || exit 1; done
