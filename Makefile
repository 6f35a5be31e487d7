# The README's two commands: `make lab` (the workbench on the demo data) and `make test`.
.PHONY: setup lab test lint benchmarks
VENV := .venv/bin

setup:
	bash .ci/setup

# Jupyter refuses to run as root (containers, Binder-like machines) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Extra JupyterLab options, e.g. `make lab LAB_ARGS="--no-browser --port=8890"`.
LAB_ARGS ?=

lab: setup
	$(VENV)/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks/quickstart.ipynb

test: setup
	$(VENV)/python -m ruff check workbench tests benchmarks
	$(VENV)/lint-imports
	$(VENV)/python -m pytest -q

lint: setup
	$(VENV)/python -m ruff format --check workbench tests benchmarks
	$(VENV)/python -m ruff check workbench tests benchmarks

benchmarks: setup
	for b in benchmarks/*.py; do $(VENV)/python $$b || exit 1; done
