"Extraction end to end: the real mini-MIAS set, bad input of every kind, the cache, the CLI and Dask."
import os, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radllm.data import feature_columns, load_dataset
from radllm.extraction import extract, qc_path

from helpers import radllm


def test_mias_cli_83_lesions(mias_dir, tmp_path):
    out = tmp_path / "f.parquet"
    r = radllm("extract", f"mini-mias:{mias_dir}", "--out", out, "--cache-dir", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert "83 extracted, 4 skipped, 0 failed" in r.stdout
    f = pd.read_parquet(out)
    assert len(f) == 83 and f.index.name == "lesion_id" and len(feature_columns(f)) >= 100
    assert not f[feature_columns(f)].isna().any().any()
    assert set(f.label) == {0, 1} and f.patient_id.nunique() == 70
    qc = pd.read_csv(qc_path(out))
    skipped = qc[qc.status == "skipped"]
    assert sorted(skipped.lesion_id) == ["mdb059", "mdb216", "mdb233", "mdb245"]
    assert skipped.reason.str.contains("no coordinates").all()


def _pgm(src: Path, dst: Path):
    shutil.copyfile(src, dst)


@pytest.fixture
def unseen_mias(mias_dir, tmp_path):
    """A mini-MIAS folder the code has never seen: a few real films under a new Info.txt with every kind of bad
    entry (missing file, truncated file, ROI outside the image, zero radius, malformed row, no coordinates)."""
    d = tmp_path / "mias-unseen"
    d.mkdir()
    for n in ["mdb001", "mdb002", "mdb010", "mdb012", "mdb015", "mdb017"]: _pgm(mias_dir / f"{n}.pgm", d / f"{n}.pgm")
    data = (mias_dir / "mdb019.pgm").read_bytes()
    (d / "mdb019.pgm").write_bytes(data[: len(data) // 3])                      # truncated film
    (d / "Info.txt").write_text("""MIAS header line
mdb001 G CIRC B 535 425 197
mdb002 G CIRC B 522 280 69
mdb010 F CIRC B 525 425 33
mdb012 F SPIC M 471 458 40
mdb015 G CIRC M 595 864 68
mdb015 G CIRC B 300 300 0
mdb017 G MISC M 3000 3000 20
mdb019 G CIRC B 653 477 49
mdb021 G CIRC B 493 125 49
mdb023 G CIRC B 4x3 125 49
mdb025 D CALC M *NOTE 3*
mdb027 D NORM
""")
    return d


def test_bad_input_is_reported_and_the_rest_extracted(unseen_mias, tmp_path):
    out = tmp_path / "f.parquet"
    r = radllm("extract", f"mini-mias:{unseen_mias}", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "5 extracted, 2 skipped, 4 failed" in r.stdout
    qc = pd.read_csv(qc_path(out)).set_index("lesion_id")
    assert set(pd.read_parquet(out).index) == {"mdb001", "mdb002", "mdb010", "mdb012", "mdb015_1"}
    reasons = qc.reason.fillna("")
    assert "radius must be positive" in reasons["mdb015_2"] and "mdb015_2" in reasons["mdb015_2"]
    assert "no pixel inside" in reasons["mdb017"]
    assert "mdb019.pgm" in reasons["mdb019"] and "truncated" in reasons["mdb019"].lower()
    assert "image file not found" in reasons["mdb021"] and "mdb021.pgm" in reasons["mdb021"]
    assert qc.loc["mdb023", "status"] == "skipped" and "malformed coordinates" in reasons["mdb023"]
    assert qc.loc["mdb025", "status"] == "skipped"
    assert radllm("extract", f"mini-mias:{unseen_mias}", "--out", out, "--strict").returncode == 1


def _write(path, arr):
    Image.fromarray(arr).save(path)
    return str(path)


def test_mask_problems_and_duplicates(tmp_path):
    rng = np.random.default_rng(0)
    img = _write(tmp_path / "img.png", rng.integers(0, 255, (80, 80)).astype(np.uint8))
    good = np.zeros((80, 80), np.uint8)
    good[20:50, 25:55] = 255
    small = np.zeros((40, 40), np.uint8)
    small[5:20, 5:20] = 255
    gray = rng.integers(0, 255, (80, 80)).astype(np.uint8)
    m = pd.DataFrame({"lesion_id": ["ok", "size", "gray", "ok", "empty"], "patient_id": ["p1", "p1", "p2", "p3", "p4"],
                      "image": [img] * 5, "label": [0, 1, 1, 0, 1],
                      "mask": [_write(tmp_path / "good.png", good), _write(tmp_path / "small.png", small),
                               _write(tmp_path / "gray.png", gray), str(tmp_path / "good.png"),
                               _write(tmp_path / "empty.png", np.zeros((80, 80), np.uint8))]})
    m.to_csv(tmp_path / "manifest.csv", index=False)
    features, qc = extract(load_dataset(f"manifest:{tmp_path / 'manifest.csv'}"), progress=False)
    assert list(features.index) == ["ok"]
    reasons = dict(zip(qc.lesion_id + "/" + qc.status, qc.reason))
    assert "is 40x40 but the image is 80x80" in reasons["size/error"]
    assert "not binary" in reasons["gray/error"]
    assert "duplicate lesion_id (first at row 0)" in reasons["ok/error"]
    assert "no lesion pixel" in reasons["empty/error"]


def test_malformed_manifest_names_every_problem(tmp_path):
    (tmp_path / "m.csv").write_text("lesion_id,patient_id,label,roi\na,p,0,\"{}\"\n")
    with pytest.raises(Exception, match=r"missing required column\(s\) \['image'\]"):
        load_dataset(f"manifest:{tmp_path / 'm.csv'}")


def test_cache_resumes_after_kill(mias_dir, tmp_path):
    "A run killed half-way keeps what it finished; the next run computes only the rest."
    manifest = load_dataset(f"mini-mias:{mias_dir}").head(20)
    cache = tmp_path / "c"
    code = f"""
import os, pandas as pd
from radllm.data import load_dataset
import radllm.extraction as ex
m = load_dataset("mini-mias:{mias_dir}").head(20)
orig, n = ex.extract_lesion, [0]
def dying(row, *args):
    n[0] += 1
    if n[0] > 8: os._exit(9)           # killed mid-run, as by the OOM killer or Ctrl-C
    return orig(row, *args)
ex.extract_lesion = dying
ex.extract(m, cache_dir="{cache}", progress=False)
"""
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    features, qc = extract(manifest, cache_dir=cache, progress=False)
    qc = qc[qc.status == "ok"]
    assert qc.cached.sum() == 8 and (~qc.cached).sum() == 12 and len(features) == 20
    again, qc2 = extract(manifest, cache_dir=cache, progress=False)
    assert qc2[qc2.status == "ok"].cached.all() and again.equals(features)


def test_cache_key_follows_content(tmp_path, mias_dir):
    "A moved copy of a film is a cache hit; other extraction settings are a miss."
    d = tmp_path / "copy"
    d.mkdir()
    shutil.copyfile(mias_dir / "mdb001.pgm", d / "mdb001.pgm")
    (d / "Info.txt").write_text("mdb001 G CIRC B 535 425 197\n")
    extract(load_dataset(f"mini-mias:{mias_dir}").head(1), cache_dir=tmp_path / "c", progress=False)
    _, qc = extract(load_dataset(f"mini-mias:{d}"), cache_dir=tmp_path / "c", progress=False)
    assert len(qc) == 1 and qc.cached.all()
    from radllm.extraction import load_params
    p = load_params()
    p["setting"]["binCount"] = 16
    _, qc = extract(load_dataset(f"mini-mias:{d}"), params=p, cache_dir=tmp_path / "c", progress=False)
    assert not qc.cached.any()


def test_processes_and_dask_equal_serial(mias_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    manifest = load_dataset(f"mini-mias:{mias_dir}").head(12)
    serial, _ = extract(manifest, cache_dir=tmp_path / "s", progress=False)
    procs, _ = extract(manifest, jobs=2, cache_dir=tmp_path / "p", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask, qc = extract(manifest, scheduler=cluster.scheduler_address, cache_dir=tmp_path / "d", progress=False)
        # on the cluster's workers, not in this process
        assert cluster.scheduler.transition_counter > 0
    assert (qc.status != "error").all() and len(dask) == 12
    pd.testing.assert_frame_equal(serial, procs)
    pd.testing.assert_frame_equal(serial, dask.loc[serial.index])


def test_a_rerun_with_nothing_changed_replays_without_loading_pandas(tmp_path):
    ("`radllm extract` again on unchanged files says what it said and stops (no pandas, no pyradiomics); a changed "
     "image reruns.")
    import time
    from radllm.synthetic import make_dataset
    make_dataset(tmp_path / "data", n=12, seed=3)
    old = time.time_ns() - 60 * 10**9
    for p in [*(tmp_path / "data").rglob("*"), tmp_path / "data"]: os.utime(p, ns=(old, old))
    argv = ["extract", f"manifest:{tmp_path / 'data' / 'manifest.csv'}", "--out", str(tmp_path / "f.parquet"),
            "--cache-dir", str(tmp_path / "c")]
    code = f"import sys; from radllm.cli import main; sys.exit(main({argv!r}))"
    def run(): return subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    first, again = run(), run()
    assert first.returncode == again.returncode == 0, first.stderr[-2000:]
    assert "12 extracted, 0 skipped, 0 failed" in first.stdout and again.stdout == first.stdout
    modules = lambda r: {l.split("|")[-1].strip() for l in r.stderr.splitlines() if l.startswith("import time:")}
    assert "pandas" in modules(first) and not {"pandas", "radiomics", "numpy"} & modules(again)
    png = sorted((tmp_path / "data" / "images").glob("*.png"))[0]
    # other pixels, an old stamp
    png.write_bytes(png.read_bytes()[:-16] + bytes(16))
    os.utime(png, ns=(old + 10**9, old + 10**9))
    third = run()
    qc = pd.read_csv(tmp_path / "f.qc.csv")
    assert "pandas" in modules(third) and int((~qc.cached).sum()) == 1, third.stdout + third.stderr

def test_extracting_into_a_new_file_on_a_warm_cache_needs_no_radiomics_and_no_statistics(tmp_path):
    ("A user who re-extracts into a new file gets the cache's speed: the features come from the cache, and the command "
     "imports neither pyradiomics nor scipy, scikit-learn or the batch machinery (radllm.runs).")
    from radllm.synthetic import make_dataset
    make_dataset(tmp_path / "data", n=12, seed=3)
    def run(out):
        argv = ["extract", f"manifest:{tmp_path / 'data' / 'manifest.csv'}", "--out", str(tmp_path / out),
                "--cache-dir", str(tmp_path / "c")]
        code = f"import sys; from radllm.cli import main; sys.exit(main({argv!r}))"
        return subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    first, fresh = run("a.parquet"), run("b.parquet")
    assert first.returncode == fresh.returncode == 0, fresh.stderr[-2000:]
    assert "12 extracted, 0 skipped, 0 failed" in fresh.stdout
    modules = {l.split("|")[-1].strip() for l in fresh.stderr.splitlines() if l.startswith("import time:")}
    assert not {"radiomics", "scipy", "sklearn", "radllm.runs", "radllm.statistics"} & modules, sorted(modules)
    assert pd.read_csv(tmp_path / "b.qc.csv").cached.all()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))


def test_mias_roi_variants_extract_every_lesion(mias_dir, tmp_path):
    "Core disc, margin band and peritumoral ring of every mini-MIAS circle (3-pixel calcifications included)."
    from radllm.data import feature_columns, load_dataset
    from radllm.extraction import extract
    m = load_dataset(f"mini-mias:{mias_dir}")
    full, _ = extract(m, jobs=2, cache_dir=tmp_path, progress=False)
    rings, qc = extract(m, jobs=2, cache_dir=tmp_path, progress=False,
                        regions=["full", "core", "margin", "peritumoral"])
    assert (qc.status != "error").all(), qc[qc.status == "error"]
    assert len(rings) == len(full) == 83 and len(feature_columns(rings)) == 102 + 3 * 93
    assert rings[feature_columns(full)].equals(full[feature_columns(full)])
    assert not rings.filter(like="peritumoral:").isna().any().any()


# issue 18, class 7: a file-system error names the path that failed, and is the error the user sees ------------------
def _file_size_limit(limit: int):
    "In the child: writes past `limit` bytes fail with EFBIG (File too large) instead of killing it (SIGXFSZ)."
    def limit_writes():
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_writes


@pytest.mark.parametrize("limit, said", [(50_000, "cannot write features {tmp}/b/f.parquet: "),
                                         (20_000, "cache {cache}/digests.sqlite: cannot open (disk I/O error)")])
def test_a_failed_write_names_its_path(tmp_path, isolated_cache, limit, said):
    "With a warm cache, a write past the file-size limit names the file (features, or the cache), never a rollback."
    from radllm.synthetic import make_dataset
    make_dataset(tmp_path / "d", n=12, seed=1)
    spec = f"manifest:{tmp_path / 'd' / 'manifest.csv'}"
    warm = radllm("extract", spec, "--out", tmp_path / "a.parquet")
    assert warm.returncode == 0, warm.stderr
    r = radllm("extract", spec, "--out", tmp_path / "b" / "f.parquet", preexec_fn=_file_size_limit(limit))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "rollback" not in r.stderr.lower(), r.stderr
    assert said.format(tmp=tmp_path, cache=isolated_cache) in r.stderr, r.stderr    # the path that failed
    assert "too large" in r.stderr.lower() or "disk I/O error" in r.stderr, r.stderr   # and the disk's own error


def test_a_full_disk_names_the_file(tmp_path):
    "A file-size limit (what a full disk or quota says: [Errno 27] File too large) names the file being written."
    import subprocess, sys
    code = f"""
import resource, signal
import pandas as pd
from radllm.extraction import write_outputs
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)            # the write then fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
features, qc = pd.DataFrame({{"a": range(100_000)}}), pd.DataFrame({{"lesion_id": ["l1"]}})
try: write_outputs(features, qc, {str(tmp_path / "f.parquet")!r})
except OSError as e: print(e)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert f"cannot write features {tmp_path / 'f.parquet'}: " in r.stdout, r.stdout + r.stderr
    assert "File too large" in r.stdout
    assert list(tmp_path.iterdir()) == []                              # no half-written file, no temporary left


# issue 18, class 8: an image that cannot be opened is a QC row; conversions and whole-image masks are said ----------
def test_unopenable_images_are_qc_rows(tmp_path):
    from radllm.synthetic import make_dataset
    m = make_dataset(tmp_path / "d", n=12, seed=3)
    img = Path(m.image[0])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "loop.png").symlink_to(bad / "loop.png")
    (bad / "folder.png").mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "cut.png").write_bytes(img.read_bytes()[:200])
    rgb = Image.open(img).convert("RGB")
    rgb.save(bad / "rgb.png")
    whole = np.full(np.asarray(Image.open(img)).shape, 255, np.uint8)
    Image.fromarray(whole).save(bad / "whole.png")
    rows = m.iloc[:6].copy()
    rows["image"] = [str(bad / f) for f in ("loop.png", "folder.png", "empty.png", "cut.png", "rgb.png", img)]
    rows.loc[rows.index[5], ["mask", "roi"]] = [str(bad / "whole.png"), None] if "mask" in rows else [None, None]
    if "mask" not in rows: rows["mask"] = [None] * 5 + [str(bad / "whole.png")]
    rows.loc[rows.index[5], "roi"] = None
    man = pd.concat([rows, m.iloc[6:]])
    man.to_csv(tmp_path / "m.csv", index=False)
    r = radllm("extract", f"manifest:{tmp_path / 'm.csv'}", "--out", tmp_path / "f.parquet")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    qc = pd.read_csv(tmp_path / "f.qc.csv").set_index("lesion_id")
    reasons = dict(zip(qc.index, qc.reason.fillna("")))
    ids = list(rows.lesion_id)
    assert "a symbolic link that loops" in reasons[ids[0]]
    assert "a folder, not an image file" in reasons[ids[1]]
    assert "image file is empty" in reasons[ids[2]]
    assert "cannot read image" in reasons[ids[3]]
    assert qc.status[ids[4]] == "ok" and "RGB image, converted to grey" in str(qc.notes[ids[4]])
    assert "the mask covers the whole" in reasons[ids[5]]


def test_a_manifest_whose_every_lesion_fails_still_writes_its_qc_table(tmp_path):
    "Nothing extracted is a result too: the QC table says why for each lesion, exit 1, no traceback."
    (tmp_path / "m.csv").write_text("lesion_id,patient_id,image,label,roi\nl1,p1,a.png,malignant,\n")
    r = radllm("extract", f"manifest:{tmp_path / 'm.csv'}", "--out", tmp_path / "f.parquet", cwd=tmp_path)
    assert r.returncode == 1 and "0 extracted, 0 skipped, 1 failed" in r.stdout, r.stdout + r.stderr
    assert "lesion l1: image file not found" in r.stderr and "Traceback" not in r.stderr
    qc = pd.read_csv(tmp_path / "f.qc.csv")
    assert list(qc.status) == ["error"] and "a.png" in qc.reason[0]
