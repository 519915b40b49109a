# One venv in .venv/, CPU-only, offline-capable after install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build keeps the environment near 2.5 GB; on machines without a local wheel pip takes it from the PyTorch CPU index.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: setup chromium demo test test-fast bench clean

$(BIN)/musiscene: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)" || $(BIN)/pip install -q "$(TORCH_SPEC)" --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -c constraints.txt -e ".[cpu,dev]"
	touch $@

# Headless Chromium for the browser tests: Playwright drives the system's browser and never downloads one.
# Skipped when a chromium is already on PATH.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

setup: $(BIN)/musiscene chromium

demo: setup
	$(BIN)/musiscene demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not integration"

bench: setup
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info
