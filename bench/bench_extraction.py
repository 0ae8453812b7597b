"""Benchmark: radllm extraction against a plain serial pyradiomics loop over the same ROIs with the same settings.

Prints the time of (1) the plain loop, (2) radllm with jobs=2 (cold cache), (3) radllm's cached re-run, as ratios,
and the largest relative difference between radllm's features and the plain loop's; then (4) the cached re-run as a
user times it: the whole `radllm extract` command in a new process (start-up, imports, loading the dataset, reading the
cache, writing the features and the QC table), into a new output file each time, and replayed into the same one.
Data: ../shared/data/mini-mias (83 lesions), or the synthetic set where it is absent. Targets on 2 cores: jobs=2 >=
1.7x faster than the plain loop, cached re-run >= 20x faster (the library call, and the whole command into a new
file), relative difference < 1e-9.
"""
import logging, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor

from radllm.data import load_dataset
from radllm.data import feature_columns
from radllm.extraction import extract, load_params, prepare_roi

from radllm.testing import mias_dir

MIAS = mias_dir()


def plain_loop(manifest: pd.DataFrame, params: dict) -> pd.DataFrame:
    "What a researcher writes by hand: one extractor, a for loop, one lesion after the other."
    radiomics.setVerbosity(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(params)
    rows = {}
    for row in manifest.to_dict("records"):
        roi = prepare_roi(row)
        sy, sx = roi["spacing"]
        image, mask = sitk.GetImageFromArray(roi["image"][None]), sitk.GetImageFromArray(roi["mask"][None])
        for im in (image, mask): im.SetSpacing((sx, sy, 1.0))
        res = extractor.execute(image, mask)
        rows[row["lesion_id"]] = {k: float(v) for k, v in res.items() if not k.startswith("diagnostics_")}
    return pd.DataFrame.from_dict(rows, orient="index")


def cli_rerun(spec: str, tmp: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Wall times of `radllm extract` re-run on a warm cache, each in a new process, as a user would time it: into a
    new --out each time (the features come from the cache), and into the same --out again (the command is replayed)."""
    exe = Path(sys.executable).with_name("radllm")
    cache = ["--cache-dir", str(tmp / "cli-cache")]
    subprocess.run([str(exe), "extract", spec, "--out", str(tmp / "cli.parquet"), *cache, "--jobs", "2"], check=True,
                   capture_output=True)                                               # fills the cache
    new_out, same_out = [], []
    for k in range(repeats):
        for out, times in ((tmp / f"cli-new{k}.parquet", new_out), (tmp / "cli.parquet", same_out)):
            t = time.perf_counter()
            r = subprocess.run([str(exe), "extract", spec, "--out", str(out), *cache], capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            assert r.returncode == 0 and "extracted" in r.stdout, r.stderr
    return new_out, same_out


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average " \
        + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(repeats: int = 3):
    spec = f"mini-mias:{MIAS}" if (MIAS / "Info.txt").is_file() else "synthetic:120"
    with tempfile.TemporaryDirectory() as tmp:
        manifest = load_dataset(spec, cache_dir=Path(tmp) / "data")
        params = load_params()
        t_plain, t_jobs, t_cached = [], [], []
        for k in range(repeats):
            t = time.perf_counter()
            plain = plain_loop(manifest, params)
            t_plain.append(time.perf_counter() - t)
            cache = Path(tmp) / f"cache{k}"
            t = time.perf_counter()
            feats, qc = extract(manifest, jobs=2, cache_dir=cache, progress=False)
            t_jobs.append(time.perf_counter() - t)
            t = time.perf_counter()
            again, qc2 = extract(manifest, jobs=2, cache_dir=cache, progress=False)
            t_cached.append(time.perf_counter() - t)
            assert qc2[qc2.status == "ok"].cached.all()
        t_new, t_same = cli_rerun(spec, Path(tmp), repeats)
    cols = feature_columns(feats)
    a, b = feats[cols].to_numpy(), plain.loc[feats.index, cols].to_numpy()
    rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
    tp, tj, tc = np.median(t_plain), np.median(t_jobs), np.median(t_cached)
    tnew, tsame = np.median(t_new), np.median(t_same)
    print(f"extraction benchmark on {spec.split(':')[0]} ({len(feats)} lesions, {len(cols)} features, median of "
          f"{repeats}; {machine()})")
    print(f"  plain serial pyradiomics loop : {tp:7.3f} s   1.00x")
    print(f"  radllm --jobs 2 (cold cache)  : {tj:7.3f} s   {tp / tj:5.2f}x faster   (target >= 1.7x)")
    print(f"  radllm cached re-run          : {tc:7.3f} s   {tp / tc:5.1f}x faster   (target >= 20x)")
    print(f"  `radllm extract` into a new --out on a warm cache, the whole command in a new process: {tnew:.3f} s   "
          f"{tp / tnew:5.1f}x faster   (target >= 20x)")
    print(f"  `radllm extract` again into the same --out (the command replayed): {tsame:.3f} s   "
          f"{tp / tsame:5.1f}x faster")
    print(f"  max relative feature difference vs plain loop: {rel:.2e}   (target < 1e-9)")
    return 0 if rel < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
