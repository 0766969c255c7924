# Two commands for a fresh machine:  `make verify` (the main job) and `make test` (the test suite).
# Both create or reuse the virtual environment .venv and install the project into it.
# CPU machines use the pinned CPU build of torch; a GPU user overrides TORCH_SPEC, e.g.
#   make verify TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
SCALE ?= quick
OUT ?= results
PYTEST_ARGS ?=

.PHONY: verify test install figures benchmarks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[test,kernels]"
	touch $(STAMP)

install: $(STAMP)

verify: $(STAMP)
	$(BIN)/ibnorm-verify --scale $(SCALE) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

figures: $(STAMP)
	$(BIN)/python -m paper_figures --all --results $(OUT) --out $(OUT)/figures

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
