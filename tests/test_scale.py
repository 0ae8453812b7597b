("Scale: `radllm extract` and `run_batch` on a Dask cluster (a 2-worker LocalCluster on loopback) give what serial "
 "gives.")
import json

import numpy as np
import pandas as pd
import pytest

from helpers import radllm

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    "A 2-worker, 1-thread-each, process-based Dask cluster on 127.0.0.1, shared by the tests of this module."
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as c:
        yield c


def test_cli_extract_on_dask_equals_serial(cluster, tmp_path):
    from radllm.data import feature_columns
    from radllm.synthetic import make_dataset
    make_dataset(tmp_path / "syn", n=24, seed=3)
    spec = f"manifest:{tmp_path / 'syn' / 'manifest.csv'}"
    before = cluster.scheduler.transition_counter
    serial = radllm("extract", spec, "--out", tmp_path / "serial.parquet", "--cache-dir", tmp_path / "c1",
                    cwd=tmp_path, timeout=300)
    dask = radllm("extract", spec, "--out", tmp_path / "dask.parquet", "--scheduler", cluster.scheduler_address,
                  "--cache-dir", tmp_path / "c2", cwd=tmp_path, timeout=300)
    for r in (serial, dask): assert r.returncode == 0, r.stderr[-2000:]
    assert cluster.scheduler.transition_counter > before          # the lesions went through the cluster's scheduler
    assert "24 extracted, 0 skipped, 0 failed" in dask.stdout, dask.stdout
    a, b = pd.read_parquet(tmp_path / "serial.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    assert list(a.index) == list(b.index) and list(a.columns) == list(b.columns) and len(a) == 24
    cols = feature_columns(a)
    x, y = a[cols].to_numpy(float), b[cols].to_numpy(float)
    assert np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-12)) < 1e-9
    assert (a[["patient_id", "label"]] == b[["patient_id", "label"]]).all().all()
    qc = pd.read_csv(tmp_path / "dask.qc.csv")
    assert (qc.status == "ok").all() and not qc.cached.any()      # computed on the cluster, not read from a cache


def test_run_batch_on_dask(cluster, tmp_path):
    from radllm.config import RunConfig
    from radllm.data import load_dataset
    from radllm.extraction import extract
    from radllm.runs import run_batch
    cache = tmp_path / "cache"
    # the dataset made once, before the runs
    extract(load_dataset("synthetic:30", cache_dir=cache), cache_dir=cache, progress=False)
    cfg = RunConfig(arms=["radiomics"], n_splits=3, ablations=[], n_permutations=1)
    before = cluster.scheduler.transition_counter
    status = run_batch(["synthetic:30"], [0, 1], tmp_path / "runs", config=cfg, scheduler=cluster.scheduler_address,
                       cache_dir=str(cache), progress=False)
    assert list(status.status) == ["ok", "ok"], status.to_string()
    assert cluster.scheduler.transition_counter > before          # the runs went through the cluster's scheduler
    for seed in (0, 1):
        folder = tmp_path / "runs" / "synthetic30" / f"seed{seed}"
        m = json.loads((folder / "metrics.json").read_text())
        assert m["seed"] == seed and 0 <= m["arms"]["radiomics"]["auc"]["value"] <= 1
        assert (folder / "end_to_end.ipynb").is_file() and (folder / "run.json").is_file()
    assert pd.read_csv(tmp_path / "runs" / "status.csv").status.eq("ok").all()
