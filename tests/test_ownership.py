"""Issue 18, classes 1-4 through the command line: radllm deletes or overwrites only what it can prove it wrote; a
transfer whose test set shares lesions, patients or images with its training set is refused; caches are keyed by
everything that decides their content and live where the user says; one writer per batch. The refusals happen
before any work, so most tests run `main()` in-process on tiny synthetic data."""
import hashlib, json, os, subprocess, sys, time  # noqa: F401 (os, subprocess, time: the tests below)
from pathlib import Path

import pandas as pd
import pytest

from radllm.synthetic import make_dataset

from helpers import RADLLM, cli, radllm

TINY = "arms: [radiomics]\nn_splits: 3\nablations: []\nn_permutations: 0\nparams: {params}\n"
PARAMS = "setting: {binCount: 32, force2D: true}\nimageType: {Original: {}}\nfeatureClass: {firstorder: null}\n"


@pytest.fixture
def tiny(tmp_path):
    "The smallest run configuration (radiomics arm, 3 folds, first-order features only): fast real work."
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "tiny.yaml").write_text(TINY.format(params=tmp_path / "params.yaml"))
    return tmp_path / "tiny.yaml"


def refused(code, err, *needles):
    "Exit 2 with one `radllm CMD: error:` line (no traceback) mentioning every needle."
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and ": error: " in lines[0] and "Traceback" not in err, (code, err)
    for n in needles: assert n in err, (n, err)


def snapshot(folder: Path) -> dict[str, str]:
    "Every file under `folder` (relative path -> SHA-256 of its bytes)."
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def users_folder(tmp_path):
    "A folder of the user's that looks like a batch from afar: */seed* sub-folders, a summary.md, a status.csv."
    f = tmp_path / "study"
    (f / "synthetic30" / "seed0").mkdir(parents=True)
    (f / "synthetic30" / "seed0" / "scan.png").write_bytes(b"not radllm's")
    (f / "patients" / "seed_list").mkdir(parents=True)
    (f / "patients" / "seed_list" / "ids.txt").write_text("P1\nP2\n")
    (f / "summary.md").write_text("# my notes\n")
    (f / "status.csv").write_text("patient,status\nP1,done\n")
    return f


# --- class 1: radllm deletes or overwrites only what it can prove it wrote ---------------------------------------

@pytest.mark.parametrize("replace", [["--replace"], []])
def test_run_never_deletes_or_writes_into_a_users_folder(capsys, tiny, users_folder, replace):
    before = snapshot(users_folder)
    code, _, err = cli(capsys, "run", "--dataset", "synthetic:30", "--out", users_folder, "--config", tiny, *replace)
    refused(code, err, f"--out {users_folder} holds files radllm did not write", "give a new or empty --out")
    assert snapshot(users_folder) == before and not (users_folder / ".radllm.lock").exists()


def test_run_refuses_a_users_folder_where_a_run_would_go(capsys, tmp_path, tiny):
    out = tmp_path / "runs"
    (out / "synthetic30" / "seed1").mkdir(parents=True)
    (out / "batch.yaml").write_text("{}\n")                          # a batch of radllm's ...
    (out / "synthetic30" / "seed1" / "mine.csv").write_text("x\n")   # ... with the user's folder where seed 1 goes
    code, _, err = cli(capsys, "run", "--dataset", "synthetic:30", "--seeds", 1, "--out", out, "--config", tiny)
    refused(code, err, f"run folder {out / 'synthetic30' / 'seed1'} holds files radllm did not write")
    assert (out / "synthetic30" / "seed1" / "mine.csv").read_text() == "x\n"


@pytest.fixture
def synth(tmp_path):
    make_dataset(tmp_path / "data", n=24, seed=0)
    return tmp_path / "data"


@pytest.mark.parametrize("target", ["manifest.csv", "images/SYN-L0001.png", "README.md", "mine.parquet",
                                    "mine.qc.csv"])
def test_extract_out_never_replaces_an_input_or_a_users_file(capsys, synth, target):
    pd.DataFrame({"x": [1, 2]}).to_parquet(synth / "mine.parquet")
    (synth / "mine.qc.csv").write_text("my,table\n")
    out = synth / target
    if target == "mine.qc.csv": out = synth / "mine.parquet"                  # the QC table beside --out is the user's
    before = snapshot(synth)
    code, _, err = cli(capsys, "extract", f"manifest:{synth / 'manifest.csv'}", "--out", out)
    refused(code, err, str(synth / target) if target != "mine.qc.csv" else "mine", "radllm will not overwrite")
    assert snapshot(synth) == before


def test_extract_replaces_its_own_output(capsys, synth, tmp_path, tiny):
    out = tmp_path / "f.parquet"
    for _ in range(2):
        code, _, err = cli(capsys, "extract", f"manifest:{synth / 'manifest.csv'}", "--out", out, "--params",
                           tmp_path / "params.yaml")
        assert code == 0, err
    assert len(pd.read_parquet(out)) == 24


def test_synth_never_overwrites_a_users_folder(capsys, tmp_path):
    mine = tmp_path / "mine"
    (mine / "images").mkdir(parents=True)
    (mine / "README.md").write_text("my project\n")
    (mine / "manifest.csv").write_text("lesion_id,label\nP1,1\n")
    (mine / "images" / "SYN-L0001.png").write_bytes(b"my image")
    before = snapshot(mine)
    code, _, err = cli(capsys, "synth", mine, "--n", 5)
    refused(code, err, f"output folder {mine} holds files radllm did not write", "choose an empty or new folder")
    assert snapshot(mine) == before
    for _ in range(2): assert cli(capsys, "synth", tmp_path / "syn", "--n", 5)[0] == 0      # its own folder: again


def test_transfer_out_never_overwrites_a_users_folder(capsys, tmp_path, tiny):
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"mine": 1}')
    code, _, err = cli(capsys, "transfer", "--train", "synthetic:30", "--test", "synthetic:40?seed=1", "--out", mine,
                       "--config", tiny)
    refused(code, err, f"--out {mine} holds files radllm did not write")
    assert (mine / "metrics.json").read_text() == '{"mine": 1}'


# --- class 2: a transfer that is not one ----------------------------------------------------------------------------

def renamed_copy(src: Path, dest: Path) -> Path:
    "The same images under new lesion and patient ids, in a manifest of its own folder (absolute image paths)."
    m = pd.read_csv(src / "manifest.csv")
    m["lesion_id"] = m.lesion_id.str.replace("SYN-L", "X-")
    m["patient_id"] = m.patient_id.str.replace("SYN-P", "Q-")
    for col in ("image", "mask"): m[col] = [str(src / p) for p in m[col]]
    dest.mkdir(parents=True)
    m.to_csv(dest / "manifest.csv", index=False)
    return dest / "manifest.csv"


@pytest.mark.parametrize("case", ["same dataset", "renamed ids", "split by lesion"])
def test_transfer_onto_its_own_training_data_is_refused(capsys, synth, tmp_path, case):
    spec = f"manifest:{synth / 'manifest.csv'}"
    if case == "same dataset": test, needles = spec, ["24 lesion ids", "24 images of identical content"]
    elif case == "renamed ids":
        test = f"manifest:{renamed_copy(synth, tmp_path / 'renamed')}"
        needles = ["24 images of identical content (e.g. test X-0001 = train SYN-L0001"]
    else:
        m = pd.read_csv(synth / "manifest.csv")
        m.iloc[::2].to_csv(synth / "even.csv", index=False)
        m.iloc[1::2].to_csv(synth / "odd.csv", index=False)
        spec, test, needles = f"manifest:{synth / 'even.csv'}", f"manifest:{synth / 'odd.csv'}", ["patient ids"]
    code, _, err = cli(capsys, "transfer", "--train", spec, "--test", test, "--out", tmp_path / "t")
    refused(code, err, "this is not a transfer", "--allow-overlap", *needles)
    assert not (tmp_path / "t").exists()


def test_allowed_overlap_is_flagged_in_metrics(capsys, synth, tmp_path, tiny):
    spec = f"manifest:{synth / 'manifest.csv'}"
    code, out, err = cli(capsys, "transfer", "--train", spec, "--test", spec, "--out", tmp_path / "t", "--config", tiny,
                         "--allow-overlap")
    assert code == 0 and "WARNING: the test set" in err and "OVERLAPPING: NOT A TRANSFER" in out, err
    m = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert m["dataset"].endswith("(OVERLAPPING: NOT A TRANSFER)") and m["config"]["overlap"]["images"]["n"] == 24


def test_two_synthetic_datasets_share_nothing(tmp_path):
    "Both number their lesions and patients from 1: the ids are not a shared lesion or patient (no false alarm)."
    from radllm.data import load_dataset
    from radllm.evaluation import shared_data
    from radllm.extraction import FileDigests
    shared = shared_data(load_dataset("synthetic:30"), load_dataset("synthetic:40?seed=1"), FileDigests(tmp_path))
    assert shared == {"lesions": [], "patients": [], "images": []}


# --- class 3: caches keyed by everything that decides their content, living where the user says -------------------

CACHE_SCRIPT = """
import sys
from sklearn.pipeline import Pipeline
from radllm.data import load_dataset
from radllm.extraction import extract
from radllm.fusion import make_arm
cache, params = sys.argv[1], sys.argv[2]
m = load_dataset("synthetic:24", cache_dir=cache)
features, _ = extract(m, params=params, cache_dir=cache, progress=False)
arm = make_arm("text", describer="openai:fixture-radiologist", serializer="names_values", n_features=4,
               cache_dir=cache)
X = features.drop(columns=["patient_id", "label"])
Pipeline([s for s in arm.steps if s[0] in ("findings", "select")]).fit(X, features.label)
print("findings written")
"""


def test_nothing_is_written_under_home_when_a_cache_dir_is_given(tmp_path, tiny):
    "The synthetic data, the features, the digests and the chat describer's answers all go to --cache-dir."
    from radllm.testing import ChatServer
    home, cache = tmp_path / "home", tmp_path / "my-cache"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RADLLM_CACHE_DIR", "OPENAI_API_KEY")}
    with ChatServer() as server:
        env.update(HOME=str(home), OPENAI_BASE_URL=server.url, MPLCONFIGDIR=str(tmp_path / "mpl"))
        r = subprocess.run([sys.executable, "-c", CACHE_SCRIPT, str(cache), str(tmp_path / "params.yaml")], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and "findings written" in r.stdout, r.stderr[-3000:]
        assert server.hits > 0
        r = radllm("extract", "synthetic:24", "--out", tmp_path / "f.parquet", "--cache-dir", cache,
                   "--params", tmp_path / "params.yaml", env=env)
        assert r.returncode == 0, r.stderr[-3000:]
    assert [p for p in home.rglob("*")] == []
    assert {"chat.sqlite", "features.sqlite", "digests.sqlite", "commands.sqlite"} <= {p.name for p in cache.iterdir()}


# --- class 4: one writer per batch ------------------------------------------------------------------------------

def test_a_second_run_into_a_running_batch_stops_at_once(tmp_path, tiny):
    out = tmp_path / "runs"
    args = ["run", "--dataset", "synthetic:30", "--seeds", "0", "1", "--out", str(out), "--config", str(tiny)]
    first = subprocess.Popen([RADLLM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / ".radllm.lock").is_file() and first.poll() is None and time.time() < deadline: time.sleep(0.2)
        assert first.poll() is None, first.communicate()
        t0 = time.time()
        second = radllm(*args, timeout=120)
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert f"radllm run: error: batch folder {out} is in use by pid {first.pid} on " in lines[0], lines
        assert " since " in lines[0] and time.time() - t0 < 60
    finally:
        first.kill()
        first.communicate()
    # the first was killed (-9): its lock file is left behind, and the next run takes it over with a note
    assert json.loads((out / ".radllm.lock").read_text())["pid"] == first.pid
    (tmp_path / "bad.yaml").write_text("arms: [nope]\n")
    third = radllm(*args[:-1], tmp_path / "bad.yaml", timeout=120)
    assert f"note: took over the lock of {out} left by pid {first.pid}" in third.stderr, third.stderr
    assert third.returncode == 2 and "arms: unknown 'nope'" in third.stderr and not (out / ".radllm.lock").exists()
