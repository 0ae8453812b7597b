"""Benchmark: radllm extraction against a plain serial pyradiomics loop over the same ROIs with the same settings.

Prints the time of (1) the plain loop, (2) radllm with jobs=2 (cold cache), (3) radllm's cached re-run, as ratios,
and the largest relative difference between radllm's features and the plain loop's. Data: ../shared/data/mini-mias
(83 lesions), or the synthetic set where it is absent. Targets on 2 cores: jobs=2 >= 1.7x faster than the plain loop,
cached re-run >= 20x faster, relative difference < 1e-9.
"""
import logging, os, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor

from radllm.data import load_dataset
from radllm.extraction import extract, feature_columns, load_params, prepare_roi

MIAS = Path(os.environ.get("RADLLM_MIAS", Path(__file__).resolve().parents[2] / "shared" / "data" / "mini-mias"))


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


def main(repeats: int = 3):
    spec = f"mini-mias:{MIAS}" if (MIAS / "Info.txt").is_file() else "synthetic:120"
    with tempfile.TemporaryDirectory() as tmp:
        manifest = load_dataset(spec, cache_dir=Path(tmp) / "data")
        params = load_params()
        t_plain, t_jobs, t_cached = [], [], []
        for k in range(repeats):
            t = time.perf_counter(); plain = plain_loop(manifest, params); t_plain.append(time.perf_counter() - t)
            cache = Path(tmp) / f"cache{k}"
            t = time.perf_counter(); feats, qc = extract(manifest, jobs=2, cache_dir=cache, progress=False); t_jobs.append(time.perf_counter() - t)
            t = time.perf_counter(); again, qc2 = extract(manifest, jobs=2, cache_dir=cache, progress=False); t_cached.append(time.perf_counter() - t)
            assert qc2[qc2.status == "ok"].cached.all()
    cols = feature_columns(feats)
    a, b = feats[cols].to_numpy(), plain.loc[feats.index, cols].to_numpy()
    rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
    tp, tj, tc = np.median(t_plain), np.median(t_jobs), np.median(t_cached)
    print(f"extraction benchmark on {spec.split(':')[0]} ({len(feats)} lesions, {len(cols)} features, median of {repeats})")
    print(f"  plain serial pyradiomics loop : {tp:7.3f} s   1.00x")
    print(f"  radllm --jobs 2 (cold cache)  : {tj:7.3f} s   {tp / tj:5.2f}x faster   (target >= 1.7x)")
    print(f"  radllm cached re-run          : {tc:7.3f} s   {tp / tc:5.1f}x faster   (target >= 20x)")
    print(f"  max relative feature difference vs plain loop: {rel:.2e}   (target < 1e-9)")
    return 0 if rel < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
