# FER Studio: `make run` starts the dashboard, `make test` runs the whole test suite.
# Both create .venv and install the pinned requirements first (only when they changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FER_DATA_DIR ?= $(CURDIR)/data/fer2013

.PHONY: run classroom test test-fast lint train bench bench-presets bench-accuracy bench-detectors bench-video load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# The project itself is installed editable (fer_core, fer_ui and the shipped models, plus the
# `fer-studio` command), so pages, tests, benchmarks and tools import it with no path tricks.
$(VENV)/.runtime: requirements.txt constraints.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -r requirements.txt -c constraints.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt constraints.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --no-deps -e .
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run streamlit_app.py

# Serve the app to a classroom over https (a self-signed certificate for this computer's address),
# so students' devices may use their cameras; prints the quiz's join link and QR code.
classroom: $(VENV)/.runtime
	$(BIN)/python -m tools.classroom

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -m "not e2e and not slow"

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

train: $(VENV)/.runtime
	mkdir -p logs
	$(BIN)/python -m fer_core train all 2>&1 | tee logs/train-$$(date +%Y%m%d-%H%M%S).log

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/pip install --no-deps -r requirements-bench.txt
	touch $@

# Speed: data loading, the training step (float32 vs bfloat16 vs XLA), the presets' recorded times, inference,
# the app (prints a table, writes benchmarks/results.json).
bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks.perf

# Every model's lesson preset trained once on this machine (about 25 minutes on 2 cores): wall time, test
# accuracy, the time-left estimate's error; writes artifacts/presets.json, which the Training page reads.
bench-presets: $(VENV)/.dev
	$(BIN)/python -m benchmarks.presets

bench-accuracy: $(VENV)/.bench
	$(BIN)/python -m benchmarks.accuracy

# Face detectors on hard real faces (tilted, covered, close-up, small), faceless pictures, latency.
bench-detectors: $(VENV)/.bench
	$(BIN)/python -m benchmarks.detectors

# Video files: speed against real time and against fer's Video.analyze, memory over a 10-minute clip.
bench-video: $(VENV)/.bench
	$(BIN)/python -m benchmarks.video

# Load: 10 detector users + 2 comparison-page users on a local server for 60 s, then 500 predictions.
load: $(VENV)/.dev
	$(BIN)/python -m benchmarks.load

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
