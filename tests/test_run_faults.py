"""`radllm run` on a user's own data: nothing lost or mixed, every setting honoured, paths relative to the user,
mistakes and file-system faults caught before any work with one line each (issue 9). Fast checks call `main()`
in-process; runs that must really execute a notebook use the smallest configuration (radiomics arm, 3 folds, no
controls)."""
import dataclasses, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from radllm.config import RunConfig
from radllm.runs import runnable_config
from radllm.synthetic import make_dataset

from helpers import RADLLM, cli, radllm

TINY = "arms: [radiomics]\nn_splits: 3\nablations: []\nn_permutations: 0\n"


def one_line_error(err: str, *needles) -> None:
    "stderr holds `radllm CMD: error:` lines only, no traceback, and mentions every needle."
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines and all(": error: " in l for l in lines) and "Traceback" not in err, err
    for n in needles: assert n in err, (n, err)


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def synth_dirs(tmp_path_factory):
    "Two small synthetic datasets written as manifests, as a user's own data would be."
    root = tmp_path_factory.mktemp("data")
    for name, seed in (("a", 1), ("b", 2)): make_dataset(root / name, n=30, seed=seed)
    return root


# 1 and 4. two datasets of one kind never share a folder; paths are relative to the user's folder ----------------------

def test_colliding_dataset_names_are_refused_before_any_work(capsys, tmp_path, synth_dirs, tiny):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for d in "xy": shutil.copy(synth_dirs / "a" / "manifest.csv", tmp_path / d / "m.csv")
    code, _, err = cli(capsys, "run", "--dataset", f"manifest:{tmp_path}/x/m.csv", "--dataset",
                       f"manifest:{tmp_path}/y/m.csv",
                       "--out", tmp_path / "runs", "--config", tiny)
    assert code == 2
    one_line_error(err, "would both be written to manifest-m/", "--dataset manifest-m-1=manifest:")
    assert not (tmp_path / "runs").exists()


def test_two_manifests_from_the_users_folder_get_two_folders(tmp_path, synth_dirs):
    ("Two manifests of one kind, one of them named, get two folders; the dataset, config and parameter-file paths are "
     "relative to the user's folder (item 4).")
    work = tmp_path / "study"
    (work / "data").mkdir(parents=True)
    for name in "ab": shutil.copytree(synth_dirs / name, work / "data" / name)
    params = work / "my-params.yaml"
    params.write_text(yaml.safe_dump({"setting": {"binCount": 32, "force2D": True}, "imageType": {"Original": {}},
                                      "featureClass": {"firstorder": None, "shape2D": None, "glcm": None}}))
    (work / "tiny.yaml").write_text(TINY + "params: my-params.yaml\n")
    r = radllm("run", "--dataset", "manifest:data/a/manifest.csv", "--dataset", "second=manifest:data/b/manifest.csv",
               "--seeds", "0", "--out", "runs/two", "--config", "tiny.yaml", cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 run, 0 already finished, 0 failed" in r.stdout
    status = pd.read_csv(work / "runs/two/status.csv")
    assert sorted(status.dataset) == ["manifest-a", "second"] and (status.status == "ok").all()
    for name, data in (("manifest-a", "a"), ("second", "b")):
        cfg = json.loads((work / "runs/two" / name / "seed0/metrics.json").read_text())["config"]["run"]
        assert cfg["dataset"].endswith(f"manifest:{work}/data/{data}/manifest.csv") and cfg["params"] == str(params)


# 2. one config per batch folder, a status table that keeps every row --------------------------------------------------

@pytest.fixture(scope="module")
def tiny_batch(tmp_path_factory) -> Path:
    "A finished batch of two runs (synthetic:30, seeds 0 and 1, the TINY config); a test copies it before changing it."
    root = tmp_path_factory.mktemp("batch")
    (root / "tiny.yaml").write_text(TINY)
    r = radllm("run", "--dataset", "synthetic:30", "--seeds", "0", "1", "--out", root / "runs", "--config",
               root / "tiny.yaml", "--cache-dir", root / "cache")
    assert r.returncode == 0 and "2 run, 0 already finished, 0 failed" in r.stdout, r.stdout + r.stderr
    return root / "runs"


def test_a_changed_config_is_refused_and_replace_starts_over(capsys, tmp_path, tiny, tiny_batch):
    out = tmp_path / "runs"
    shutil.copytree(tiny_batch, out)                                     # seeds 0 and 1 of the TINY config, finished
    other = tmp_path / "other.yaml"
    other.write_text(TINY + "n_features: 4\n")
    code, _, err = cli(capsys, "run", "--dataset", "synthetic:30", "--seeds", 2, "--out", out, "--config", other)
    assert code == 2
    one_line_error(err, "holds a batch of another config (n_features: 4 here, 8 in the batch)", "--replace")
    assert sorted(pd.read_csv(out / "status.csv").seed) == [0, 1]              # nothing was touched
    assert not (out / "synthetic30" / "seed2").exists()
    # more seeds with the same config join the batch, and status.csv keeps the earlier rows
    assert cli(capsys, "run", "--dataset", "synthetic:30", "--seeds", 2, "--out", out, "--config", tiny)[0] == 0
    assert sorted(pd.read_csv(out / "status.csv").seed) == [0, 1, 2]
    code, outp, _ = cli(capsys, "run", "--dataset", "synthetic:30", "--seeds", 0, "--out", out, "--config", other,
                        "--replace")
    assert code == 0 and "1 run, 0 already finished" in outp
    assert sorted(p.name for p in (out / "synthetic30").iterdir()) == ["seed0"]
    assert yaml.safe_load((out / "batch.yaml").read_text())["n_features"] == 4


def test_report_never_mixes_configs(capsys, tmp_path):
    "A folder from before batch.yaml whose runs have different configs is not averaged."
    for seed, n in ((0, 4), (1, 8)):
        f = tmp_path / "old" / "synthetic" / f"seed{seed}"
        f.mkdir(parents=True)
        RunConfig(seed=seed, n_features=n).to_yaml(f / "config.yaml")
        (f / "run.json").write_text("{}")
        (f / "metrics.json").write_text(json.dumps({"seed": seed,
                                                    "arms": {"radiomics": {"auc": {"value": 0.7, "ci": [0.6, 0.8]}}}}))
    code, _, err = cli(capsys, "report", tmp_path / "old")
    assert code == 2
    one_line_error(err, "holds runs of 2 different configs")


# 3. the whole RunConfig reaches the notebook --------------------------------------------------------------------------

def non_default_config(tmp_path, scheduler) -> RunConfig:
    "Every RunConfig field set to a value other than its default (a new field must be added here, or this fails)."
    from radllm.embedding import minilm_path
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"setting": {"binCount": 16, "force2D": True}, "imageType": {"Original": {}},
                                      "featureClass": {"firstorder": None, "shape2D": None, "glcm": None}}))
    values = dict(dataset="synthetic:30?seed=5", seed=7, params=str(params), n_splits=3, n_repeats=2,
                  arms=["radiomics", "text"],
                  selector="mannwhitney", n_features=4, classifier="svm", serializer="zscore",
                  embedder=f"local:{minilm_path()}",
                  describer="rules", lora={"epochs": 1}, ablations=[], n_permutations=1, jobs=2, scheduler=scheduler,
                  cache_dir=str(tmp_path / "cache"), request_timeout=30.0, roi=["full", "margin"],
                  image_types=["original", "log"])
    missing = [f.name for f in dataclasses.fields(RunConfig) if f.name not in values]
    assert not missing, f"give the new RunConfig field(s) {missing} a non-default value in this test"
    cfg = RunConfig(**values)
    assert not [f.name for f in dataclasses.fields(RunConfig) if getattr(cfg, f.name) == getattr(RunConfig(), f.name)]
    return runnable_config(cfg)


def test_every_setting_reaches_the_notebook_and_metrics(tmp_path):
    import papermill as pm
    distributed = pytest.importorskip("distributed")
    from radllm.runs import kernel_manager, run_parameters, template_path
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None,
                                  silence_logs=40) as cluster:
        cfg = non_default_config(tmp_path, cluster.scheduler_address)
        pm.execute_notebook(str(template_path()), str(tmp_path / "run.ipynb"),
                            parameters=run_parameters(cfg, tmp_path / "out"),
                            kernel_name="python3", progress_bar=False, cwd=str(tmp_path),
                            kernel_manager_class=kernel_manager(str(tmp_path)))
        assert cluster.scheduler.transition_counter > 0                  # the extraction went through the scheduler
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["config"]["run"] == cfg.to_dict()
    assert RunConfig.from_yaml(tmp_path / "out" / "config.yaml") == cfg
    text = (tmp_path / "run.ipynb").read_text()
    # the custom params (firstorder 18 + shape2D 9 + glcm 24 = 51, not 102) on the full ROI, 42 (no shape) on its
    # margin band, and 42 of each on 3 LoG images: 51 + 42 + 2 x 3 x 42
    assert "x 345 features" in text
    assert "Findings: " in text                                         # the describer's text reached the prompts
    assert m["seed"] == 7 and m["config"]["n_repeats"] == 2 and m["config"]["selector"] == "mannwhitney"
    e = m["config"]["embedding"]                                        # what computed the vectors
    assert e["embedder"] == cfg.embedder and "float64 computed" in e["backend"]
    work = json.loads((tmp_path / "out" / "work.json").read_text())["embedding"]   # how much it did (cache-dependent)
    assert work["embedded"] > 0 and work["mean_tokens"] > 10


# 6. errors early: one line each, exit 2, nothing done -----------------------------------------------------------------

@pytest.mark.parametrize("config, needle", [
    ("arms: [radiomics, txt]\n", "arms: unknown 'txt'; choose from radiomics"),
    ("arms: radiomics\n", "arms: expected a list of names, e.g. [a, b], got 'radiomics'"),
    ("n_splits: five\n", "n_splits: expected a whole number, got 'five'"),
    ("ablations: [names]\n", "ablations: unknown 'names'"),
    ("selector: best\n", "selector: unknown 'best'"),
    ("embedder: local:/no/model\n", "embedder: 'local:/no/model': model folder /no/model not found"),
    ("arms: [radiomics\n", "YAML syntax error at line 2, column 1"),
    ("n_features: 8\nseeed: 1\n", "unknown setting(s) ['seeed']"),
])
def test_config_mistakes_stop_before_any_work(capsys, tmp_path, config, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config)
    code, _, err = cli(capsys, "run", "--dataset", "synthetic:30", "--out", tmp_path / "runs", "--config", cfg)
    assert code == 2
    one_line_error(err, needle, str(cfg))
    assert not (tmp_path / "runs").exists()


def manifest_of(tmp_path, labels, patients) -> str:
    d = tmp_path / "own"
    d.mkdir(exist_ok=True)
    pd.DataFrame({"lesion_id": [f"l{i}" for i in range(len(labels))], "patient_id": patients,
                  "image": ["x.png"] * len(labels), "label": labels,
                  "roi": ['{"circle": [5, 5, 3]}'] * len(labels)}).to_csv(d / "manifest.csv", index=False)
    return f"manifest:{d / 'manifest.csv'}"


@pytest.mark.parametrize("labels, patients, needle", [
    ([0, 1, 1], ["p1", "p2", "p3"], "manifest-own: 1 patient(s) with a benign and 2 with a malignant lesion; 5-fold"),
    ([1] * 12, [f"p{i}" for i in range(12)], "manifest-own: all 12 lesions are malignant"),
    ([0, 1] * 8, [f"p{i // 2}" for i in range(16)],
     "manifest-own: 8 patient(s) with a benign and 8 with a malignant lesion"),
])
def test_datasets_too_small_for_the_design_stop_before_any_work(capsys, tmp_path, labels, patients, needle):
    spec = manifest_of(tmp_path, labels, patients)
    code, _, err = cli(capsys, "run", "--dataset", spec, "--out", tmp_path / "runs", "--config",
                       _cfg(tmp_path, "n_splits: 10\n" if len(labels) == 16 else ""))
    assert code == 2
    one_line_error(err, needle)
    assert not (tmp_path / "runs").exists()


def _cfg(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(TINY.replace("n_splits: 3\n", "") + (text or "n_splits: 5\n"))
    return p


def test_header_only_manifest_and_jobs_zero(capsys, tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "manifest.csv").write_text("lesion_id,patient_id,image,label,roi\n")
    code, _, err = cli(capsys, "extract", f"manifest:{d / 'manifest.csv'}", "--out", tmp_path / "f.parquet")
    assert code == 2
    one_line_error(err, f"no lesion loaded: {d / 'manifest.csv'} has a header and no rows")
    code, _, err = cli(capsys, "extract", "synthetic", "--out", tmp_path / "f.parquet", "--jobs", "0")
    assert code == 2 and "argument --jobs: must be at least 1, got 0" in err


# 7. a failed run says why, in the words of what failed ----------------------------------------------------------------

def test_a_failed_run_shows_the_notebooks_own_error(tmp_path):
    "An embeddings endpoint that refuses the key (401, not retried) fails the run with the notebook's own error."
    from radllm.testing import ChatServer, FaultProxy
    (tmp_path / "c.yaml").write_text("arms: [radiomics, text]\nn_splits: 3\nablations: []\nn_permutations: "
                                     "0\nembedder: openai:text-embedding-3-small\n")
    with ChatServer() as upstream, FaultProxy(upstream.url) as proxy:     # the proxy answers the 401 itself
        proxy.reset("http:401")
        env = {**os.environ, "OPENAI_BASE_URL": proxy.url, "OPENAI_API_KEY": "sk-test-not-a-key"}
        r = radllm("run", "--dataset", "synthetic:30", "--out", "runs/f", "--config", "c.yaml", cwd=tmp_path, env=env)
    assert r.returncode == 1 and "0 run, 0 already finished, 1 failed" in r.stdout, r.stdout + r.stderr
    status = pd.read_csv(tmp_path / "runs/f/status.csv")
    error = status.error.iloc[0]
    assert error.startswith(f"EmbeddingError: embedding endpoint {proxy.url} (model "
                            "'text-embedding-3-small'): HTTP 401") and "PapermillExecutionError" not in r.stderr, error
    assert "injected 401" in error and "sk-test-not-a-key" not in error and proxy.requests == 1
    assert f"failed: synthetic30 seed 0: {error}" in r.stderr
    details = (tmp_path / "runs/f/synthetic30/seed0/error.txt").read_text()
    assert details.startswith(error) and "in cell" in details and "Traceback" in details


# 8. file-system and cache faults --------------------------------------------------------------------------------------

def test_out_is_a_file_or_under_a_file(capsys, tmp_path, tiny):
    (tmp_path / "afile").write_text("x")
    for out, needle in ((tmp_path / "afile", "is a file: choose another folder"),
                        (tmp_path / "afile" / "runs", "which is a file")):
        code, _, err = cli(capsys, "run", "--dataset", "synthetic:30", "--out", out, "--config", tiny)
        assert code == 2
        one_line_error(err, f"--out {out}", needle)


def test_cache_dir_that_is_a_file(capsys, tmp_path, tiny, monkeypatch):
    "Given as $RADLLM_CACHE_DIR (the option itself is checked by argparse: BAD_OPTIONS below)."
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("RADLLM_CACHE_DIR", str(tmp_path / "cachefile"))
    code, _, err = cli(capsys, "extract", "synthetic:30", "--out", tmp_path / "f.parquet")
    assert code == 2
    one_line_error(err, f"cache folder {tmp_path / 'cachefile'}", "a file is in the way")


def test_a_damaged_cache_is_set_aside_and_rebuilt(capsys, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "features.sqlite").write_bytes(b"not a database" * 1000)
    with pytest.warns(UserWarning, match="could not be read"):
        code, out, _ = cli(capsys, "extract", "synthetic:30", "--out", tmp_path / "f.parquet", "--cache-dir", cache)
    assert code == 0 and "30 extracted" in out
    assert list(cache.glob("features.sqlite.damaged-*"))


def test_read_only_out_folder(tiny):
    ("A folder the user cannot write to. Root writes anywhere, so as root the command runs as the unprivileged user "
     "'nobody'.")
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="radllm-ro-"))
    base.chmod(0o755)
    try:
        (base / "cache").mkdir(mode=0o777)
        (base / "cache").chmod(0o777)
        config = base / "tiny.yaml"
        config.write_text(TINY)
        config.chmod(0o644)
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        prefix = []
        if os.geteuid() == 0:
            if not shutil.which("setpriv"): pytest.skip("running as root and setpriv (util-linux) is missing: cannot "
                                                        "drop privileges")
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            probe = subprocess.run(prefix + [sys.executable, "-c", "import radllm"], capture_output=True, text=True,
                                   cwd=base)
            if probe.returncode: pytest.skip("the unprivileged user cannot run this project's Python here: "
                                             f"{probe.stderr.strip()[-200:]}")
        env = {**os.environ, "RADLLM_CACHE_DIR": str(base / "cache"), "HOME": str(base)}
        r = radllm("run", "--dataset", "synthetic:30", "--out", ro / "runs", "--config", config, prefix=prefix,
                   env=env, cwd=base)
        assert r.returncode == 2, r.stdout + r.stderr
        one_line_error(r.stderr, f"--out {ro / 'runs'} is not writable: choose a folder you can write to")
    finally:
        ro.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_report_leaves_out_a_damaged_run_and_names_it(capsys, tmp_path, tiny_batch):
    out = tmp_path / "runs"
    shutil.copytree(tiny_batch, out)
    m = out / "synthetic30" / "seed1" / "metrics.json"
    m.write_text(m.read_text()[:200])                                    # cut off
    code, text, _ = cli(capsys, "report", out)
    assert code == 0 and "1 finished runs" in (out / "summary.md").read_text()
    assert f"synthetic30/seed1: {m} is not valid JSON" in (out / "summary.md").read_text()
    code, _, err = cli(capsys, "report", tmp_path / "nothing-here")
    assert code == 2
    one_line_error(err, f"batch folder {tmp_path / 'nothing-here'} not found")


# 9. transfer names the dataset at fault; workers do not outlive a killed command --------------------------------------

def test_transfer_says_which_dataset_is_at_fault(capsys, tmp_path):
    for role, args in (("--train", ["--train", "mini-mias:/no/such", "--test", "synthetic:30"]),
                       ("--test", ["--train", "synthetic:30", "--test", "mini-mias:/no/such"])):
        code, _, err = cli(capsys, "transfer", *args, "--out", tmp_path / "t")
        assert code == 2
        one_line_error(err, f"{role} mini-mias:/no/such: mini-mias: folder not found")


def _cached(db: Path) -> int:
    "Entries of a cache file another process is writing (0 while it does not exist yet)."
    import contextlib, sqlite3
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            return con.execute("SELECT COUNT(*) FROM kv").fetchone()[0]
    except sqlite3.Error: return 0


def _children(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try: fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError: continue
        if int(fields[1]) == pid: kids.add(int(stat.parent.name))
    return kids


def _running(pid: int) -> bool:
    "The process exists and is not a zombie."
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and "Z" not in stat.read_text().split()[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_do_not_outlive_a_killed_extract(tmp_path, sig):
    make_dataset(tmp_path / "big", n=300, seed=4)
    env = {**os.environ, "RADLLM_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([RADLLM, "extract", f"manifest:{tmp_path / 'big' / 'manifest.csv'}",
                             "--out", str(tmp_path / "f.parquet"), "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline, workers = time.time() + 120, set()
    while time.time() < deadline and len(workers) < 2:
        workers = ({k for k in _children(proc.pid) if "loky" in Path(f"/proc/{k}/cmdline").read_text(errors="replace")}
                   if proc.poll() is None else workers)
        time.sleep(0.2)
    assert len(workers) >= 2, "the extraction did not start its workers"
    # kill it mid-work, once a few lesions are cached (each worker watches its parent from its start)
    while time.time() < deadline and _cached(tmp_path / "cache" / "features.sqlite") < 4: time.sleep(0.2)
    proc.send_signal(sig)
    proc.wait()
    deadline = time.time() + 30        # each worker notices within a second; a loaded machine may take longer
    while time.time() < deadline and any(_running(w) for w in workers): time.sleep(0.2)
    alive = [w for w in workers if _running(w)]
    assert not alive, f"workers {alive} still running 30 s after {sig.name}"


def test_a_worker_that_never_got_a_task_goes_with_its_killed_parent():
    ("Two local workers, one task: the second worker may still be starting (importing) when its parent is killed. It "
     "must go too, though it never ran a task and its parent died before it could watch it.")
    code = ("import time\nfrom radllm.config import parallel_map\n"
            "list(parallel_map(abs, [1], jobs=2, progress=False))\nprint('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        workers = {k for k in _children(proc.pid) if "LokyProcess" in Path(f"/proc/{k}/cmdline").read_text("latin-1")}
        assert len(workers) == 2, workers
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_running(w) for w in workers): time.sleep(0.2)
    alive = [w for w in workers if _running(w)]
    for w in alive: os.kill(w, signal.SIGKILL)
    assert not alive, f"workers {alive} still running 30 s after their parent was killed"


# 10. same seed, same numbers, whatever the embedding batches, threads or cache ----------------------------------------

def test_metrics_do_not_depend_on_how_the_texts_were_batched(tmp_path, monkeypatch):
    ("A cold cache embedding 32 texts per batch on every thread, and one embedding 3 per batch on one thread: one "
     "metrics.json, ablations and controls included; another seed gives other numbers.")
    import torch
    from radllm.embedding import SentenceTransformerEmbedder
    from radllm.evaluation import evaluate_config
    from radllm.extraction import extract
    make_dataset(tmp_path / "data", n=36, seed=2)
    cfg = RunConfig(dataset=f"manifest:{tmp_path / 'data' / 'manifest.csv'}", arms=["radiomics", "text", "weighted"],
                    n_splits=3, ablations=["order"], n_permutations=1, cache_dir=str(tmp_path / "features"))
    features, _ = extract(cfg.dataset, cache_dir=cfg.cache_dir, progress=False)
    def run(name):
        evaluate_config(cfg.replace(cache_dir=str(tmp_path / name)), None, features,
                        progress=False).save(tmp_path / name)
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        return {k: v for k, v in m.items() if k != "config"}
    first = run("a")
    monkeypatch.setattr(SentenceTransformerEmbedder, "default_batch_size", 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try: second = run("b")
    finally: torch.set_num_threads(threads)
    assert second == first
    # and the seed matters: another seed gives other folds, other numbers
    other = evaluate_config(cfg.replace(seed=1, arms=["radiomics"], ablations=[], n_permutations=0), None, features,
                            progress=False).to_dict()
    assert other["arms"]["radiomics"]["auc"]["value"] != first["arms"]["radiomics"]["auc"]["value"]


# 11. issue 18, class 5: every setting and every option checked for type and range before any work -------------------

# one bad value of every RunConfig setting, given in a --config YAML, and what the one-line error says
BAD_SETTINGS = [
    ("dataset", "dataset: [a, b]", "dataset: expected a text, got ['a', 'b']"),
    ("seed", "seed: -1", "seed: must be at least 0, got -1"),
    ("params", "params: /no/such.yaml", "params: parameter file /no/such.yaml not found"),
    ("n_splits", "n_splits: 1000", "n_splits: must be at most 100 (folds), got 1000"),
    ("n_repeats", "n_repeats: 2.5", "n_repeats: expected a whole number, got 2.5"),
    ("arms", "arms: [1, 2]", "arms: expected a list of names, e.g. [a, b], got [1, 2]"),
    ("selector", "selector: [mrmr]", "selector: expected a text, got ['mrmr']"),
    ("n_features", "n_features: 1000", "n_features: 1000 is more than the 102 features this extraction yields"),
    ("classifier", "classifier: svm2", "classifier: unknown 'svm2'"),
    ("serializer", "serializer: 3", "serializer: expected a text or a mapping, e.g. {r: 8}, got 3"),
    ("embedder", "embedder: minilm", "embedder: 'minilm': expected local:minilm"),
    ("describer", "describer: {a: 1}", "describer: expected a text, got {'a': 1}"),
    ("lora", "lora: [1, 2]", "lora: expected a mapping, e.g. {r: 8}, got [1, 2]"),
    ("ablations", "ablations: order", "ablations: expected a list of names"),
    ("n_permutations", "n_permutations: 1000000000", "n_permutations: must be at most 10000 (each permutation runs"),
    ("jobs", "jobs: 0", "jobs: must be at least 1"),
    ("scheduler", "scheduler: nohost", "scheduler: 'nohost': expected a Dask scheduler address"),
    ("cache_dir", "cache_dir: CACHEFILE", "cache_dir: CACHEFILE is a file"),
    ("request_timeout", "request_timeout: 0", "request_timeout: must be at least 1, got 0"),
    ("roi", "roi: [rim]", "roi: unknown ROI region(s) ['rim']"),
    ("image_types", "image_types: original", "image_types: expected a list of names"),
]


def test_bad_setting_table_covers_every_setting():
    assert [name for name, *_ in BAD_SETTINGS] == [f.name for f in dataclasses.fields(RunConfig)]


@pytest.mark.parametrize("name, yaml_text, needle", BAD_SETTINGS, ids=[b[0] for b in BAD_SETTINGS])
def test_bad_setting_is_named_before_any_work(capsys, tmp_path, name, yaml_text, needle):
    "Each bad value is named in one line with what is expected; exit 2, nothing runs and nothing is created."
    cache_file = tmp_path / "cache-file"
    cache_file.write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text.replace("CACHEFILE", str(cache_file)) + "\n")
    needle = needle.replace("CACHEFILE", str(cache_file))
    if name == "dataset":   # `run` takes its datasets from --dataset; the experiment notebook checks the config's
        with pytest.raises(ValueError) as e: runnable_config(RunConfig.from_yaml(cfg), str(cfg))
        assert needle in str(e.value)
        return
    code, _, err = cli(capsys, "run", "--dataset", "synthetic:24", "--out", tmp_path / "runs", "--config", cfg)
    assert code == 2
    one_line_error(err, needle, str(cfg))
    assert not (tmp_path / "runs").exists()


def test_a_declared_type_is_accepted(tmp_path):
    "The study gives the serializer as a mapping; RunConfig declares `str | dict`: a config file may too."
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serializer: {style: names_values}\narms: [text]\n")
    assert runnable_config(RunConfig.from_yaml(cfg)).serializer == {"style": "names_values"}


# every option of every sub-command with a bad value: (argv, what the one-line error says); FILE is a plain file
BAD_OPTIONS = [
    (["synth", "FILE"], "output folder FILE is a file"),
    (["synth", "OUT", "--n", "0"], "argument --n: must be at least 1, got 0"),
    (["synth", "OUT", "--n", "10000000"], "argument --n: must be at most 100000"),
    (["synth", "OUT", "--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    (["synth", "OUT", "--seed", "x"], "argument --seed: expected a whole number, got 'x'"),
    (["extract", "bogus:1", "--out", "OUT/f.parquet"], "unknown dataset kind 'bogus'"),
    (["extract", "synthetic:24", "--out", "FILE/f.parquet"], "FILE is a file"),
    (["extract", "synthetic:24", "--out", "OUT/f.parquet", "--params", "/no/p.yaml"], "/no/p.yaml not found"),
    (["extract", "synthetic:24", "--out", "OUT/f.parquet", "--jobs", "0"], "argument --jobs: must be at least 1"),
    (["extract", "synthetic:24", "--out", "OUT/f.parquet", "--jobs", "99999"], "argument --jobs: must be at most 1024"),
    (["extract", "synthetic:24", "--out", "OUT/f.parquet", "--scheduler", "tcp://h:0"],
     "argument --scheduler: 'tcp://h:0': expected a Dask scheduler address"),
    (["extract", "synthetic:24", "--out", "OUT/f.parquet", "--cache-dir", "FILE/c"],
     "argument --cache-dir: FILE/c is inside FILE, a file"),
    (["extract", "synthetic:24", "--out", "OUT/f.parquet", "--cache-dir", "FILE"],
     "argument --cache-dir: FILE is a file"),
    (["run", "--dataset", "bogus:1", "--out", "OUT"], "dataset: dataset spec 'bogus:1': unknown dataset kind"),
    (["run", "--dataset", "synthetic:24", "--out", "OUT", "--seeds", "0", "-1"],
     "argument --seeds: must be at least 0"),
    (["run", "--dataset", "synthetic:24", "--out", "OUT", "--seeds", "4294967296"],
     "argument --seeds: must be at most"),
    (["run", "--dataset", "synthetic:24", "--out", "FILE"], "--out FILE is a file"),
    (["run", "--dataset", "synthetic:24", "--out", "OUT", "--config", "/no/c.yaml"], "/no/c.yaml: file not found"),
    (["run", "--dataset", "synthetic:24", "--out", "OUT", "--jobs", "x"], "argument --jobs: expected a whole number"),
    (["run", "--dataset", "synthetic:24", "--out", "OUT", "--scheduler", "a b:1"], "argument --scheduler"),
    (["run", "--dataset", "synthetic:24", "--out", "OUT", "--cache-dir", "FILE"],
     "argument --cache-dir: FILE is a file"),
    (["report", "FILE"], "batch folder FILE not found"),
    (["explain", "OUT", "L1", "--top", "0"], "argument --top: must be at least 1, got 0"),
    (["explain", "OUT", "L1", "--card", "FILE/c.png"], "argument --card: FILE is a file"),
    (["explain", "OUT", "L1", "--card", "card.jpg"], "argument --card: card.jpg: a lesion card is a .png file"),
    (["explain", "OUT", "L1", "--cache-dir", "FILE"], "argument --cache-dir: FILE is a file"),
    (["transfer", "--train", "synthetic:24", "--test", "bogus:2", "--out", "OUT"], "unknown dataset kind 'bogus'"),
    (["transfer", "--train", "bogus:2", "--test", "synthetic:24", "--out", "OUT"], "unknown dataset kind 'bogus'"),
    (["transfer", "--train", "synthetic:24", "--test", "synthetic:30", "--out", "FILE/t"], "FILE/t is inside FILE"),
    (["transfer", "--train", "synthetic:24", "--test", "synthetic:30", "--out", "OUT", "--config", "/no/c.yaml"],
     "/no/c.yaml: file not found"),
    (["transfer", "--train", "synthetic:24", "--test", "synthetic:30", "--out", "OUT", "--jobs", "-2"],
     "argument --jobs: must be at least 1"),
    (["transfer", "--train", "synthetic:24", "--test", "synthetic:30", "--out", "OUT", "--scheduler", "tcp://h"],
     "argument --scheduler"),
    (["transfer", "--train", "synthetic:24", "--test", "synthetic:30", "--out", "OUT", "--cache-dir", "FILE"],
     "argument --cache-dir: FILE is a file"),
]
# options without a value to get wrong: flags
FLAGS = {"--debug", "--strict", "--replace", "--allow-overlap", "--help"}


def test_bad_option_table_covers_every_option():
    import argparse
    from radllm.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in sub.choices.items():
        tried = {a for argv, _ in BAD_OPTIONS if argv[0] == command for a in argv if a.startswith("--")}
        options = {o for a in parser._actions for o in a.option_strings if o.startswith("--")} - FLAGS
        assert options <= tried | {"--train", "--test", "--dataset", "--out"}, (command, options - tried)
        assert any(argv[0] == command for argv, _ in BAD_OPTIONS), command


@pytest.mark.parametrize("argv, needle", BAD_OPTIONS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD_OPTIONS])
def test_bad_option_is_named_before_any_work(capsys, tmp_path, argv, needle):
    "One line naming the option and what is expected, exit 2, and nothing written (OUT is never created)."
    (tmp_path / "FILE").write_text("x")
    argv = [a.replace("FILE", str(tmp_path / "FILE")).replace("OUT", str(tmp_path / "OUT")) for a in argv]
    code, _, err = cli(capsys, *argv)
    assert code == 2, err
    assert needle.replace("FILE", str(tmp_path / "FILE")) in err and "Traceback" not in err, err
    assert not (tmp_path / "OUT").exists() and (tmp_path / "FILE").read_text() == "x"


# 10. Ctrl-C or kill during a batch: the kernel stopped cleanly, the run recorded as interrupted, the next run resumes -

def _kernels_of(pid: int) -> list[int]:
    "Kernels (still running) that the process `pid` started: jupyter_client gives each the parent's pid."
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try: text = env.read_bytes()
        except OSError: continue
        if f"JPY_PARENT_PID={pid}\0".encode() in text and "Z" not in (env.parent / "stat").read_text().split()[2]:
            found.append(int(env.parent.name))
    return found


def _sigint_as_in_a_terminal() -> None:
    "In the child before exec: Ctrl-C's default action, whatever the test process inherited."
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_an_interrupted_batch_stops_cleanly_and_resumes(tmp_path, tiny, how):
    ("Ctrl-C (SIGINT to the whole foreground process group) or `kill` (SIGTERM to radllm alone) while the first "
     "notebook runs: no kernel traceback, exit 130, one line saying how far the batch got, the run recorded as "
     "interrupted; the same command again finishes both runs and prints nothing left over from the stopped kernel.")
    out = tmp_path / "runs"
    args = ["run", "--dataset", "synthetic:30", "--seeds", "0", "1", "--out", str(out), "--config", str(tiny),
            "--cache-dir", str(tmp_path / "cache")]
    # as in a terminal: a batch started in the background of a shell (nohup, CI scripts) inherits SIGINT ignored
    proc = subprocess.Popen([RADLLM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_sigint_as_in_a_terminal)
    notebook, deadline = out / "synthetic30" / "seed0" / "end_to_end.ipynb", time.time() + 300
    while not notebook.is_file() and proc.poll() is None and time.time() < deadline: time.sleep(0.1)
    time.sleep(2)                                                          # the kernel is running the notebook's cells
    assert proc.poll() is None and _kernels_of(proc.pid), "the first run did not start"
    if how == "ctrl-c": os.killpg(proc.pid, signal.SIGINT)
    else: proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "ZMQError" not in err and "KeyboardInterrupt" not in err, err
    assert ("radllm run: interrupted: 0 of 2 runs finished, 1 interrupted, 1 not started; run the same command again "
            "to resume") in err, err
    assert not _kernels_of(proc.pid), "a kernel outlived the interrupted batch"
    status = pd.read_csv(out / "status.csv")
    assert dict(zip(status.seed, status.status)) == {0: "interrupted", 1: "pending"}, status
    r = radllm(*args)
    assert r.returncode == 0 and "2 run, 0 already finished, 0 failed" in r.stdout, r.stdout + r.stderr
    assert "KeyboardInterrupt" not in r.stdout + r.stderr and "Traceback" not in r.stderr, r.stderr
    assert set(pd.read_csv(out / "status.csv").status) == {"ok"}


# 11. `radllm report` of a partial batch says which runs are missing; its tables fit a 100-column terminal (#22) -------

LONG_ARMS = ("radiomics", "text", "weighted_fusion_of_radiomics_and_text_embeddings",
             "concatenation_of_every_selected_feature_with_its_description")


def _hand_made_batch(out: Path) -> None:
    ("Two datasets of finished runs (seeds 0 and 1) with long arm names, and in status.csv a third seed of each that "
     "failed or never ran.")
    import numpy as np
    from radllm.runs import StatusTable
    status = StatusTable(out)
    rng = np.random.default_rng(0)
    lesions = pd.DataFrame({"lesion_id": [f"L{k}" for k in range(40)], "patient_id": [f"P{k // 2}" for k in range(40)],
                            "label": np.arange(40) % 2})
    for dataset in ("synthetic-with-a-long-name", "mini-mias"):
        for seed in (0, 1):
            f = out / dataset / f"seed{seed}"
            f.mkdir(parents=True)
            preds = [lesions.assign(repeat=0, fold=(np.arange(40) // 2 + seed) % 4, threshold=0.5, arm=arm, seconds=1.0,
                                    proba=1 / (1 + np.exp(-(i * lesions.label + rng.normal(size=40)))))
                     for i, arm in enumerate(LONG_ARMS)]
            pd.concat(preds).to_parquet(f / "predictions.parquet")
            (f / "metrics.json").write_text(json.dumps({"seed": seed, "arms": {arm: {} for arm in LONG_ARMS}}))
            (f / "run.json").write_text("{}")
            RunConfig(seed=seed).to_yaml(f / "config.yaml")
            status.set(dataset, seed, status="ok", folder=str(f))
        (out / dataset / "seed2").mkdir()
    status.set("synthetic-with-a-long-name", 2, status="failed", folder=str(out / "synthetic-with-a-long-name/seed2"),
               error="RuntimeError: no lesion could be extracted (30 failed or skipped; first: the image cannot be "
                     "read: " + "x" * 200 + ")")
    status.set("mini-mias", 2, status="pending", folder=str(out / "mini-mias/seed2"))


def test_report_of_a_partial_batch_names_the_missing_runs_and_fits_100_columns(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _hand_made_batch(tmp_path / "runs")
    code, out, err = cli(capsys, "report", "runs")
    assert code == 0, err
    lines = out.splitlines()
    assert max(map(len, lines)) <= 100, [l for l in lines if len(l) > 100]
    for arm in LONG_ARMS[:2]: assert any(l.split() and l.split()[0] == arm for l in lines), arm
    assert sum("weighted_fusion_of_radiomics" in l for l in lines) >= 4       # each dataset, each part of a table
    for header in ("AUC (95% CI)", "ΔAUC vs radiomics (95% CI)", "accuracy", "Brier score"):
        assert header in out, header
    expected = ["2 of 6 runs unfinished or failed:",
                "  mini-mias seed 2: pending: not finished: never started, or still running; run the batch again",
                "  synthetic-with-a-long-name seed 2: failed: RuntimeError: no lesion could be extracted (30 failed…"]
    at = lines.index(expected[0])
    assert lines[at:at + 3] == expected, lines[at:at + 3]
    md = (tmp_path / "runs" / "summary.md").read_text()                  # the same lines in summary.md
    assert "## Unfinished or failed runs\n\n2 of 6 runs unfinished or failed:\n\n" in md
    for line in expected[1:]: assert f"- {line.strip()}\n" in md, line
