# One venv in .venv/, CPU-only, offline-capable after install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build keeps the environment near 2.5 GB; on machines without a local wheel pip takes it from the PyTorch CPU index.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: setup fad-venv browser demo test test-fast lint bench clean

$(BIN)/musiscene: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)" || $(BIN)/pip install -q "$(TORCH_SPEC)" --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -c constraints.txt -e ".[cpu,dev]"
	touch $@

# WordNet 3.0 for METEOR from Debian's packages (never downloaded at run time), copied into the venv's nltk data
# folder with the lexnames file Debian lacks. The apt step is skipped when the files are already there.
WORDNET := $(VENV)/share/nltk_data/corpora/wordnet/lexnames
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(WORDNET): $(BIN)/musiscene
	@test -f /usr/share/wordnet/data.noun -a -f /usr/share/wordnet/index.sense || \
	  ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index)
	$(BIN)/python -m musiscene_core.metrics.wordnet --data-dir $(VENV)/share/nltk_data

# The frechet-audio-distance package in its own small environment (it needs numpy<2), used by one test to check
# that the project's FAD equals the package's formula. Its model dependencies are not installed (never used).
FAD_VENV := .venv-fad

$(FAD_VENV)/bin/python:
	$(PYTHON) -m venv $(FAD_VENV)
	$(FAD_VENV)/bin/pip install -q --no-deps numpy==1.26.4 scipy==1.13.1 frechet-audio-distance==0.3.4

fad-venv: $(FAD_VENV)/bin/python

setup: $(BIN)/musiscene $(WORDNET) $(FAD_VENV)/bin/python browser

# Debian's headless Chromium for the browser tests of the web page and the report (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo: setup
	$(BIN)/musiscene demo

test: setup
	$(BIN)/python -m pytest -q

# ruff with the project's settings (pyproject.toml): lint, and the formatter's check.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: setup
	$(BIN)/python -m pytest -q -m "not integration"

bench: setup
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(FAD_VENV) build *.egg-info
