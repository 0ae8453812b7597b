"Shared pytest fixtures: offline environment, the mini-MIAS folder, a fresh cache per test, the documentation site."
import importlib.util, json, os, subprocess, sys, time, warnings
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
# Where this project keeps what is not in the repository (the tests know the layout; the package does not): the
# shared/ folder beside the clone (RADLLM_SHARED), the real mini-MIAS in it (RADLLM_MIAS), the infinity-emb venv that
# `make infinity` installs (RADLLM_INFINITY). Set here for radllm.testing, as the Makefile sets them for `make test`.
SHARED = Path(os.environ.get("RADLLM_SHARED", ROOT.parent / "shared"))
MIAS = Path(os.environ.setdefault("RADLLM_MIAS", str(SHARED / "data" / "mini-mias")))
os.environ.setdefault("RADLLM_INFINITY", str(ROOT / ".venv-infinity" / "bin" / "infinity_emb"))
# Under pytest-xdist each worker, and every process it starts (a batch's kernels, a server), gets its share of the
# cores: torch and BLAS default to every core, and two workers each spinning two threads on two cores ran the LoRA
# tests about three times slower (one thread beats two on a busy 2-core machine).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(max(1, len(os.sched_getaffinity(0)) // _WORKERS)))


# the groups that take longest (minutes each on two cores), handed out first: a long group started last would run
# alone at the end while the other worker waits
LONG_GROUPS = ("test_run_faults", "test_llm", "notebook-08_finetune", "site", "test_runs", "test_finetune",
               "test_embedding")


def _group(item) -> str:
    "A test's xdist group: its file, the two site files together, and each notebook of test_notebooks.py alone."
    if item.path.stem == "test_notebooks" and hasattr(item, "callspec"): return f"notebook-{item.callspec.id}"
    return "site" if item.path.stem in ("test_site", "test_site_render") else item.path.stem


@pytest.hookimpl(tryfirst=True)          # before xdist reads the groups (its worker plugin is registered later)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs `-n auto --dist loadgroup`) the tests of one file share a worker, so a
    module's fixtures (a server, a finished batch) are made once; the two site files share the session's site. The
    long groups come first (`LONG_GROUPS`), each file's tests in their order."""
    rank = {g: i for i, g in enumerate(LONG_GROUPS)}
    items.sort(key=lambda item: rank.get(_group(item), len(rank)))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))


@pytest.fixture
def mias_dir() -> Path:
    "The real mini-MIAS folder (../shared/data/mini-mias); tests using it skip where it is absent."
    if not (MIAS / "Info.txt").is_file():
        pytest.skip(f"mini-MIAS data not found at {MIAS} (set RADLLM_MIAS to its folder)")
    return MIAS


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder as the end-to-end notebook writes it (metrics, predictions, config), made without papermill: 36
    synthetic lesions, radiomics and text, 3 folds (test_explain.py explains its lesions and reports on it;
    test_site_render.py looks at its model report and a lesion card in the browser)."""
    from radllm.config import RunConfig
    from radllm.data import open_dataset
    from radllm.evaluation import evaluate_config, extraction_options
    from radllm.extraction import extract
    base = tmp_path_factory.mktemp("explain")
    cfg = RunConfig(dataset="synthetic:36", arms=["radiomics", "text"], n_splits=3, ablations=[], n_permutations=0,
                    cache_dir=str(base / "cache"))
    data = open_dataset(cfg.dataset, cache_dir=cfg.cache_dir)
    features, _ = extract(data, **extraction_options(cfg), progress=False)
    res = evaluate_config(cfg, data, features, progress=False)
    folder = base / "runs" / "synthetic36" / "seed0"
    res.save(folder, figures=False)
    cfg.to_yaml(folder / "config.yaml")
    (folder / "run.json").write_text(json.dumps({"config_hash": cfg.hash(), "dataset": cfg.dataset, "seed": 0}))
    return folder


@pytest.fixture(scope="session")
def converted_models(tmp_path_factory) -> Path:
    """One folder of converted models for the whole session, shared by the xdist workers: SmolLM2's GGUF file becomes a
    Hugging Face folder in the cache's models/ (chapter 05a; 15 s of CPU each time), which is the same for every test.
    Concurrent conversions are safe: each writes its own temporary folder and renames it."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "converted-models"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch, converted_models):
    """Every test gets its own empty cache folder (beside its tmp_path, which stays empty for the test), but for its
    models/: the session's converted models."""
    cache = tmp_path.with_name(f"{tmp_path.name}-cache")
    cache.mkdir()
    (cache / "models").symlink_to(converted_models, target_is_directory=True)
    monkeypatch.setenv("RADLLM_CACHE_DIR", str(cache))
    return cache


# ------------------------------------------------ the documentation site (test_site.py, test_site_render.py)

def _tool(name: str):
    "A script of tools/ as a module (tools/quarto.py is `make quarto`'s)."
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_quarto() -> tuple:
    """(path, "") of Quarto as `make quarto` finds it (tools/quarto.py): on PATH, else in .tools/quarto/, installed
    there from SHARED/tools/quarto (by `make quarto`, or here if it has not run); (None, why) where it cannot be had."""
    return _tool("quarto").ensure(SHARED, say=lambda message: None)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The documentation site, built once for the session as `make docs` builds it.

    nbs/ is processed as `nbdev_docs` processes it (nbdev's per-file functions `_proc_file` + `serve_drv.main`, which
    `proc_nbs` runs in worker processes; here in this one): show_doc cells run, the two generated pages (the executed
    end-to-end example, the results page) are made. Where Quarto can be had, `quarto render` then renders the processed
    folder into proc/_docs, executing the tutorial (test_site_render.py checks the pages in Chromium); elsewhere the
    tutorial is executed with papermill, a kernel as Quarto uses. One cache folder for the session, so the example and
    the tutorial share the synthetic:60 extraction. Returns proc, docs (None without Quarto), the executed tutorial
    (None where Quarto executed it), the render's return code and log, per-file errors, and the seconds each step
    took."""
    from nbdev.serve import _proc_file
    from nbdev.serve_drv import main
    from nbdev.doclinks import nbglob
    import papermill as pm
    base = tmp_path_factory.mktemp("site")
    venv_bin = str(Path(sys.executable).parent)
    env = dict(RADLLM_CACHE_DIR=str(base / "cache"), HF_HUB_OFFLINE="1", MPLBACKEND="Agg",
               PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    quarto, why = find_quarto()
    old_env, cwd, times = dict(os.environ), os.getcwd(), {}
    proc, errors, mixed, tutorial, render = base / "_proc", {}, {}, None, None
    try:
        os.environ.update(env)
        os.chdir(ROOT)
        t = time.perf_counter()
        files = list(nbglob(ROOT / "nbs", func=Path, file_glob="", file_re="")) + [ROOT / "nbs" / "_quarto.yml"]
        for f in files:
            job = _proc_file(f, proc, ROOT / "nbs")
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    if job: main(job)
                found = [str(w.message) for w in caught if "Found cells containing imports" in str(w.message)]
                if found: mixed[f.relative_to(ROOT / "nbs").as_posix()] = found
            except Exception as e: errors[f.relative_to(ROOT / "nbs").as_posix()] = f"{e}\n  caused by: {e.__cause__!r}"
        times["process"] = time.perf_counter() - t
        t = time.perf_counter()
        if quarto:
            r = subprocess.run([str(quarto), "render", "--no-cache"], cwd=proc, capture_output=True, text=True,
                               env=dict(os.environ, PATH=f"{quarto.parent}{os.pathsep}{env['PATH']}",
                                        QUARTO_PYTHON=sys.executable))
            render = dict(returncode=r.returncode, log=r.stdout + r.stderr)
            times["render"] = time.perf_counter() - t
        else:
            run = base / "tutorial"
            run.mkdir()
            pm.execute_notebook(str(ROOT / "nbs" / "tutorial.ipynb"), str(run / "tutorial.ipynb"),
                                kernel_name="python3",
                                cwd=str(run), progress_bar=False)
            tutorial = run / "tutorial.ipynb"
            times["tutorial"] = time.perf_counter() - t
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(old_env)
    docs = proc / "_docs" if render and render["returncode"] == 0 else None
    return dict(proc=proc, docs=docs, tutorial=tutorial, render=render, quarto=quarto, no_quarto=why,
                errors=errors, mixed=mixed, times=times)
