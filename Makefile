# Two commands do everything on a fresh machine:
#   make run    set up .venv and serve the app on the shipped checkpoints (no network)
#   make test   set up .venv with the test tools and run the whole suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7860

.PHONY: run test venv dev-venv bench figures clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

run: $(VENV)/.runtime
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} GRADIO_SERVER_PORT=$(PORT) $(BIN)/python app.py

test: $(VENV)/.dev
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/pip install -q --no-deps -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache

figures: $(VENV)/.dev
	$(BIN)/pip install -q kaleido==1.5.2
	BROWSER_PATH=$${BROWSER_PATH:-/usr/bin/chromium} PYTHONPATH=. $(BIN)/python docs/make_figures.py $(FAMILIES)
