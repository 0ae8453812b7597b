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

.PHONY: install infinity demo test bench clean docs results readme study

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

test: install infinity
	$(BIN)/nbdev_test --n_workers 2 --do_print
	set -o pipefail; $(BIN)/python -m pytest tests -q -p no:cacheprovider 2>&1 | tee .pytest.log; \
	  status=$$?; echo; tail -n 1 .pytest.log; exit $$status

bench: install infinity
	for f in tests/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(INF_VENV) runs _docs _proc .pytest.log

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
	$(BIN)/python -c "from radllm.study import gather_results; gather_results('runs/study', 'nbs/results/study')"

# README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, which is not installable everywhere)
readme: install
	$(BIN)/python tests/make_readme.py

# The documentation site (_quarto.yml at the root; nbs/_quarto.yml links to it): nbdev_docs processes nbs/ into _proc/,
# renders it with Quarto into _docs/. nbdev_docs also re-renders README.md with Quarto when index.ipynb is newer, so
# README.md is written again from index.ipynb afterwards (tests/test_docs.py checks it). The venv goes first on PATH:
# Quarto's Jupyter kernel and the tutorial's `!radllm` commands use it. Without Quarto, nbdev_docs would try to
# install it with sudo, so this target checks first. nbdev re-makes a generated page (x.qmd.py) only when its script
# is newer than _proc/, so the two generated pages are removed first: they follow the template and summary.csv.
docs: install
	@if command -v quarto >/dev/null 2>&1; then \
	  rm -f _proc/results.qmd _proc/experiments/example.qmd; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" QUARTO_PYTHON="$(CURDIR)/$(BIN)/python" $(BIN)/nbdev_docs && \
	  $(BIN)/python tests/make_readme.py && echo "site written to _docs/ (open _docs/index.html)"; \
	else \
	  echo "make docs needs Quarto (https://quarto.org/docs/get-started/), which renders the site; nbdev_docs was not run."; \
	  echo "checked: 'command -v quarto' found no quarto on PATH=$$PATH"; \
	  echo "everything short of Quarto is tested by: $(BIN)/python -m pytest tests/test_site.py"; \
	  exit 1; \
	fi

# The results page: copy the summary of a finished `make demo` (or RESULTS_RUN=runs/NAME) into nbs/results/, the
# committed source of nbs/results.qmd.py, and print the page it makes. Only numbers are copied, never images.
RESULTS_RUN ?= runs/demo
results: install
	@test -f $(RESULTS_RUN)/summary.csv || { echo "$(RESULTS_RUN)/summary.csv not found: run 'make demo' (or radllm report $(RESULTS_RUN)) first"; exit 1; }
	mkdir -p nbs/results
	cp $(RESULTS_RUN)/summary.csv $(RESULTS_RUN)/summary.md nbs/results/
	touch nbs/results.qmd.py
	$(BIN)/python nbs/results.qmd.py
