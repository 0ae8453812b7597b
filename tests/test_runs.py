("Batches through the command line: papermill runs over datasets x seeds, resume after a kill, the report, no secret "
 "leaks.")
import json, os, re, shutil, signal, subprocess, time

import pandas as pd
import pytest

from helpers import RADLLM, radllm

SECRET = "sk-test-SECRET-do-not-leak-4242"
SMALL = "arms: [radiomics, text]\nn_splits: 3\nablations: []\nn_permutations: 1\n"
TINY = "arms: [radiomics]\nn_splits: 3\nablations: []\nn_permutations: 0\n"     # no language model: batch mechanics


@pytest.fixture
def small_config(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return p


@pytest.fixture
def mias_copy(mias_dir, tmp_path):
    "A mini-MIAS folder the code has never seen: 30 of the real films under a fresh Info.txt."
    d = tmp_path / "mias-copy"
    d.mkdir()
    lines = [l for l in (mias_dir / "Info.txt").read_text().splitlines()
             if l.startswith("mdb") and "NORM" not in l and "NOTE" not in l]
    keep = [l for l in lines if len(l.split()) == 7][:30]
    for l in keep:
        ref = l.split()[0]
        if not (d / f"{ref}.pgm").exists(): shutil.copyfile(mias_dir / f"{ref}.pgm", d / f"{ref}.pgm")
    (d / "Info.txt").write_text("copied header\n" + "\n".join(keep) + "\n")
    return d


def test_run_two_datasets_two_seeds_then_report(mias_copy, small_config, tmp_path, isolated_cache):
    out = tmp_path / "runs" / "x"
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    r = radllm("run", "--dataset", f"mini-mias:{mias_copy}", "--dataset", "synthetic:40", "--seeds", 0, 1, "--out", out,
               "--config", small_config, "--jobs", 2, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 run, 0 already finished, 0 failed" in r.stdout
    for ds in ("mini-mias-mias-copy", "synthetic40"):
        for seed in (0, 1):
            folder = out / ds / f"seed{seed}"
            assert {"end_to_end.ipynb", "metrics.json", "predictions.parquet", "config.yaml",
                    "run.json"} <= {p.name for p in folder.iterdir()}
            assert (folder / "figures" / "roc.png").is_file()
            m = json.loads((folder / "metrics.json").read_text())
            assert m["seed"] == seed and set(m["arms"]) == {"radiomics", "text"}
            # the estimators of chapter 09a, said in words (#19)
            assert m["estimators"]["auc"] == "mean over repeats of each repeat's out-of-fold AUC"
            assert "repeated DeLong" in m["estimators"]["ci"] and "Obuchowski" in m["estimators"]["single_run"]
            run = json.loads((folder / "run.json").read_text())
            assert run["data_fingerprint"] and "config_hash" in run
            # the batch extracted the dataset once, before the runs: every kernel read all its features from the cache
            line = re.search(r"(\d+) extracted, \d+ skipped, \d+ failed; (\d+) read from the cache",
                             (folder / "end_to_end.ipynb").read_text())
            assert line and int(line[1]) > 0 and line[1] == line[2], line
        assert json.loads((out / ds / "seed0" / "run.json").read_text())["data_fingerprint"] \
            == json.loads((out / ds / "seed1" / "run.json").read_text())["data_fingerprint"]
    r = radllm("report", out)
    assert r.returncode == 0, r.stderr
    for f in ("summary.md", "summary.csv", "tests.csv", "summary.html"): assert (out / f).is_file()
    md = (out / "summary.md").read_text()
    assert "mini-mias-mias-copy" in md and "synthetic40" in md and "repeated DeLong" in md
    # the seeds are repeats of one procedure: chapter 09's summariser, as in the study
    summary = pd.read_csv(out / "summary.csv").set_index(["dataset", "design"])
    assert (summary.repeats == 2).all() and (summary.auc_estimator == "repeated DeLong").all(), summary.auc_estimator
    assert set(pd.read_csv(out / "tests.csv").design) == {"text"}
    # no API key or token anywhere under runs/
    for p in out.rglob("*"):
        if p.is_file(): assert SECRET.encode() not in p.read_bytes(), p
    # the same command again recomputes nothing
    r = radllm("run", "--dataset", f"mini-mias:{mias_copy}", "--dataset", "synthetic:40", "--seeds", 0, 1, "--out", out,
               "--config", small_config, "--jobs", 2)
    assert "0 run, 4 already finished, 0 failed" in r.stdout, r.stdout + r.stderr
    # the same seed alone, one kernel with every thread (the batch gave each of its two kernels one): the same numbers
    again = tmp_path / "runs" / "again"
    r = radllm("run", "--dataset", "synthetic:40", "--seeds", 1, "--out", again, "--config", small_config)
    assert r.returncode == 0, r.stderr
    seed1 = "synthetic40/seed1/metrics.json"
    assert (again / seed1).read_text() == (out / seed1).read_text()


def test_killed_batch_keeps_its_status_and_resumes_only_what_is_missing(tmp_path, isolated_cache):
    ("A batch killed (SIGKILL) during its second run: status.csv has the first run's row; the same command runs the "
     "rest.")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    out = tmp_path / "runs" / "k"
    args = [RADLLM, "run", "--dataset", "synthetic:30", "--seeds", "0", "1", "--out", str(out), "--config", str(tiny)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not list(out.glob("*/seed*/run.json")) and time.time() < deadline: time.sleep(0.5)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.parent.name for p in out.glob("*/seed*/run.json")}
    assert done == {"seed0"}, done
    status = pd.read_csv(out / "status.csv")
    assert dict(zip(status.seed, status.status)) == {0: "ok", 1: "pending"}, status
    r = radllm("run", "--dataset", "synthetic:30", "--seeds", 0, 1, "--out", out, "--config", tiny)
    assert r.returncode == 0, r.stderr
    assert "1 run, 1 already finished, 0 failed" in r.stdout
    status = pd.read_csv(out / "status.csv")
    assert dict(zip(status.seed, status.status)) == {0: "ok", 1: "ok"}, status


def test_failed_run_is_recorded_and_the_others_go_on(tmp_path, isolated_cache):
    "A dataset whose images are all unreadable fails its runs with the reason; the other dataset's runs go on."
    from radllm.synthetic import make_dataset
    make_dataset(tmp_path / "broken", n=30, seed=5)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    for png in (tmp_path / "broken" / "images").glob("*.png"): png.write_bytes(b"not a png")
    out = tmp_path / "runs" / "f"
    r = radllm("run", "--dataset", f"manifest:{tmp_path / 'broken' / 'manifest.csv'}", "--dataset", "synthetic:30",
               "--seeds", 0,
               "--out", out, "--config", tiny)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 run, 0 already finished, 1 failed" in r.stdout
    assert "preparing manifest-broken: RuntimeError: no lesion could be extracted" \
        in (out / "manifest-broken" / "seed0" / "error.txt").read_text()
    assert (out / "synthetic30" / "seed0" / "metrics.json").is_file()
