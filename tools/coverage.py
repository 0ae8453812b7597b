"""Coverage of the study's AUC intervals (issue #19 item 4; `make coverage`).

The synthetic generator knows the population. One large pool of synthetic lesions is generated and extracted once
(generator seed 19, never used in development): it is the population. Many study-sized datasets are drawn (whole
patients) from it; on each the radiomics arm is cross-validated exactly as the study does (patient-grouped,
stratified, 5 repeats of 5 folds), and its out-of-fold predictions are kept
(`WORK/predictions/dataset_NNNN.parquet`), so any interval can be computed again without refitting. The intervals of
`radllm.statistics.COVERAGE_INTERVALS` are computed from them. The procedure's true AUC is estimated by fitting the
arm on training sets of a CV training fold's size drawn from the population and scoring each on the rest of the
population (so the truth carries no test-sample error of its own). A killed study keeps every finished dataset and a
rerun continues; `--shard i/n` lets n processes share the datasets. Once all are there, the per-dataset rows go to
`--runs` and `radllm.statistics.coverage_table` of them to `--out`.

    nice -n 15 .venv/bin/python tools/coverage.py --datasets 200
"""
from __future__ import annotations

import argparse, json, os, time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def draw_patients(groups: np.ndarray, n_lesions: int, rng: np.random.Generator) -> np.ndarray:
    "Row indices of whole patients drawn at random (without replacement) until `n_lesions` lesions are reached."
    patients = rng.permutation(np.unique(groups))
    sizes = pd.Series(groups).value_counts().reindex(patients).to_numpy()
    chosen = patients[: int(np.searchsorted(np.cumsum(sizes), n_lesions)) + 1]
    return np.flatnonzero(np.isin(groups, chosen))


def population(args) -> pd.DataFrame:
    "The extracted pool: the finite population that the datasets are drawn from and the truth is measured on."
    from radllm.extraction import extract
    from radllm.synthetic import make_dataset
    manifest = make_dataset(Path(args.work) / "pool", n=args.pool, seed=args.generator_seed)
    features, _ = extract(manifest, jobs=args.jobs, cache_dir=str(Path(args.work) / "cache"), progress=False)
    return features


def true_auc(pool: pd.DataFrame, args) -> dict:
    """The procedure's true AUC: the mean, over `truth_draws` training sets of a CV training fold's size drawn (whole
    patients) from the population, of the AUC of the arm fitted on one on every other lesion of the population."""
    from radllm.evaluation import split_features
    from radllm.fusion import make_arm
    from radllm.statistics import auc_score
    X, y, g = split_features(pool)
    rng, aucs = np.random.default_rng(1), []
    size = int(round(args.n * (args.splits - 1) / args.splits))
    for i in range(args.truth_draws):
        rows = draw_patients(g, size, rng)
        rest = np.setdiff1d(np.arange(len(y)), rows)
        model = make_arm("radiomics", seed=i).fit(X.iloc[rows], y[rows], groups=g[rows])
        aucs.append(auc_score(y[rest], model.predict_proba(X.iloc[rest])[:, 1]))
    return {"true_auc": float(np.mean(aucs)), "true_auc_se": float(np.std(aucs, ddof=1) / np.sqrt(len(aucs))),
            "truth_draws": len(aucs), "population": len(pool)}


def predictions(pool: pd.DataFrame, d: int, args) -> pd.DataFrame:
    "Out-of-fold predictions of the radiomics arm on study-sized dataset number `d`, with each lesion's patient."
    from radllm.evaluation import cross_validate, grouped_folds, split_features
    from radllm.fusion import make_arm
    X, y, g = split_features(pool)
    rows = draw_patients(g, args.n, np.random.default_rng(1000 + d))
    X, y, g = X.iloc[rows], y[rows], g[rows]
    pred, _ = cross_validate(make_arm("radiomics", seed=d), X, y, g, grouped_folds(y, g, args.splits, args.repeats, d),
                             seed=d, progress=False)
    patients = pd.Series(g, index=X.index)
    labels = pd.Series(y, index=X.index)
    return pred.assign(patient_id=patients.loc[pred.lesion_id].to_numpy(), label=labels.loc[pred.lesion_id].to_numpy())


def intervals(pred: pd.DataFrame, d: int) -> dict:
    "Every interval of COVERAGE_INTERVALS on one dataset's predictions: NAME_auc, NAME_lo, NAME_hi."
    from radllm.evaluation import pool_repeats
    from radllm.statistics import _ratio_of, corrected_t, cv_auc, delong_ci, fold_aucs, repeat_aucs
    labels = pred.groupby("lesion_id")[["patient_id", "label"]].first()
    pooled = labels.join(pool_repeats(pred))
    first = pred[pred.repeat == pred.repeat.min()]
    r0 = labels.join(pool_repeats(first))
    folds = fold_aucs(pred, labels)
    est = {"old": delong_ci(pooled.label.to_numpy(), pooled.proba.to_numpy()),
           "clustered": delong_ci(r0.label.to_numpy(), r0.proba.to_numpy(), groups=r0.patient_id.to_numpy())}
    center = float(repeat_aucs(pred, labels).mean())
    t = corrected_t(folds.auc, _ratio_of(folds), center=center)
    est["corrected_t"] = (center, *t["ci"])
    one = cv_auc(first, labels)
    est["corrected_t_one"] = (one["auc"], *one["ci"])
    new = cv_auc(pred, labels)
    est["new"] = (new["auc"], *new["ci"])
    row = {"dataset": d, "lesions": len(labels), "patients": labels.patient_id.nunique(),
           "repeats": pred.repeat.nunique(), "se_lesions": new["se_lesions"], "se_split": new["se_split"]}
    for name, (auc, lo, hi) in est.items(): row.update({f"{name}_auc": auc, f"{name}_lo": lo, f"{name}_hi": hi})
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", type=int, default=200)
    p.add_argument("--n", type=int, default=240, help="lesions per study-sized dataset (the synthetic study's 240)")
    p.add_argument("--pool", type=int, default=6000, help="lesions of the population")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--truth-draws", type=int, default=100)
    p.add_argument("--generator-seed", type=int, default=19)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--shard", default="0/1", help="i/n: this process fits the datasets d with d %% n == i")
    p.add_argument("--prepare", action="store_true", help="only extract the population and estimate the truth")
    p.add_argument("--work", default=str(ROOT / "runs" / "coverage"))
    p.add_argument("--runs", default=str(ROOT / "nbs" / "results" / "coverage_runs.csv"))
    p.add_argument("--out", default=str(ROOT / "nbs" / "results" / "coverage.csv"))
    args = p.parse_args(argv)
    from radllm.statistics import coverage_table
    shard, shards = (int(x) for x in args.shard.split("/"))
    t0, saved = time.time(), Path(args.work) / "predictions"
    saved.mkdir(parents=True, exist_ok=True)
    pool = population(args)
    print(f"pool: {len(pool)} lesions, {time.time() - t0:.0f} s", flush=True)
    truth_file = Path(args.work) / "truth.json"
    if not truth_file.is_file() and shard == 0:
        truth_file.write_text(json.dumps({**true_auc(pool, args), **vars(args)}, indent=1))
    if args.prepare: return
    for d in range(shard, args.datasets, shards):
        file = saved / f"dataset_{d:04d}.parquet"
        if file.is_file(): continue
        predictions(pool, d, args).to_parquet(file.with_suffix(".tmp"))
        file.with_suffix(".tmp").rename(file)
        if d % 10 == shard: print(f"dataset {d}: {time.time() - t0:.0f} s", flush=True)
    files = sorted(saved.glob("dataset_*.parquet"))
    if len(files) < args.datasets or not truth_file.is_file():
        print(f"{len(files)} of {args.datasets} datasets done; run the other shards, then this again to gather")
        return
    truth = json.loads(truth_file.read_text())
    print(f"true AUC {truth['true_auc']:.4f} (MC SE {truth['true_auc_se']:.4f})", flush=True)
    runs = pd.DataFrame([intervals(pd.read_parquet(f), int(f.stem.split("_")[1])) for f in files[:args.datasets]])
    runs.to_csv(args.runs, index=False)
    Path(args.runs).with_suffix(".truth.json").write_text(json.dumps(truth, indent=1))
    table = coverage_table(runs, truth["true_auc"])
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
