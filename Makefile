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

.PHONY: install infinity demo test bench clean

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

demo: install
	mkdir -p runs/demo
	$(BIN)/radllm extract synthetic --out runs/demo/features.parquet --jobs 2
	$(BIN)/python -c "import pandas as pd; from radllm.evaluation import evaluate; \
	  r = evaluate(None, pd.read_parquet('runs/demo/features.parquet'), arms=['radiomics'], dataset='synthetic', n_permutations=0, progress=False); \
	  print(r.table().to_string())"

test: install infinity
	$(BIN)/nbdev_test --n_workers 2 --do_print
	set -o pipefail; $(BIN)/python -m pytest tests -q -p no:cacheprovider 2>&1 | tee .pytest.log; \
	  status=$$?; echo; tail -n 1 .pytest.log; exit $$status

bench: install infinity
	for f in tests/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(INF_VENV) runs _docs _proc .pytest.log

# README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, which is not installable everywhere)
readme: install
	$(BIN)/python tests/make_readme.py
