# Two commands for a fresh machine:  `make verify` (the main job) and `make test` (the test suite).
# Both create or reuse the virtual environment .venv and install the two distributions into it:
# the layers (./layer, import name ibnorm) and the suite (., import name ibnorm_verify).
# CPU machines use the pinned CPU build of torch; a GPU user overrides TORCH_SPEC, e.g.
#   make verify TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"
# `make verify` installs no Triton (it only runs on CUDA: add ./layer[triton] there); `make test` does,
# because the tests run the Triton kernels on CPU through Triton's interpreter.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
SCALE ?= quick
OUT ?= results
PYTEST_ARGS ?=

.PHONY: verify test install figures benchmarks clean

$(STAMP): pyproject.toml layer/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ./layer -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ./layer -e ".[test]"
	touch $(TEST_STAMP)

install: $(STAMP)

verify: $(STAMP)
	$(BIN)/ibnorm-verify --scale $(SCALE) --out $(OUT)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

figures: $(STAMP)
	$(BIN)/ibnorm-verify figures --results $(OUT) --out $(OUT)/figures

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
