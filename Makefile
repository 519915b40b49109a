# One venv in .venv/, CPU-only, offline-capable after install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build keeps the environment near 2.5 GB; on machines without a local wheel pip takes it from the PyTorch CPU index.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: setup browser demo test test-fast bench clean

$(BIN)/musiscene: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)" || $(BIN)/pip install -q "$(TORCH_SPEC)" --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -c constraints.txt -e ".[cpu,dev]"
	touch $@

setup: $(BIN)/musiscene browser

# Debian's headless Chromium for the web page's browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

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
