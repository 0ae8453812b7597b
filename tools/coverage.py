"""Coverage of the study's AUC intervals (issue #19 item 4; `make coverage`).

The synthetic generator knows the population. One large pool of synthetic lesions is generated and extracted once
(generator seed 19, never used in development); its patients are split into a study part and an untouched test part.
Many study-sized datasets are drawn (whole patients) from the study part; on each the radiomics arm is
cross-validated exactly as the study does (patient-grouped, stratified), and three 95% intervals are computed:
the old one (DeLong on the probabilities pooled over repeats, lesions independent), the single run's DeLong
clustered by patient, and the corrected resampled t of chapter 09a. The procedure's true AUC is estimated by
fitting the arm on study-sized training sets (the size of a CV training fold) drawn from the study part and scoring
it on the untouched part. Every dataset's row is appended to `--runs` as soon as it is done (a killed study keeps
what it did; a rerun continues), and `radllm.statistics.coverage_table` of those rows is written to `--out`.

    nice -n 15 .venv/bin/python tools/coverage.py --datasets 200
"""
from __future__ import annotations

import argparse, json, os, time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def draw_patients(groups: np.ndarray, n_lesions: int, rng: np.random.Generator) -> np.ndarray:
    "Row indices of whole patients drawn at random (without replacement) until `n_lesions` lesions are reached."
    patients = rng.permutation(np.unique(groups))
    sizes = pd.Series(groups).value_counts().reindex(patients).to_numpy()
    chosen = patients[: int(np.searchsorted(np.cumsum(sizes), n_lesions)) + 1]
    return np.flatnonzero(np.isin(groups, chosen))


def pool(args) -> tuple[pd.DataFrame, pd.DataFrame]:
    "(study part, untouched test part) of the extracted pool, split by patient."
    from radllm.evaluation import split_features
    from radllm.extraction import extract
    from radllm.synthetic import make_dataset
    manifest = make_dataset(Path(args.work) / "pool", n=args.pool, seed=args.generator_seed)
    features, _ = extract(manifest, jobs=args.jobs, cache_dir=str(Path(args.work) / "cache"), progress=False)
    _, _, groups = split_features(features)
    test = draw_patients(groups, args.holdout, np.random.default_rng(args.generator_seed))
    is_test = np.zeros(len(features), bool)
    is_test[test] = True
    return features[~is_test], features[is_test]


def true_auc(study: pd.DataFrame, test: pd.DataFrame, args) -> dict:
    "Mean AUC on the untouched part of the arm fitted on `truth_draws` training sets of a CV training fold's size."
    from radllm.evaluation import split_features
    from radllm.fusion import make_arm
    from radllm.statistics import auc_score
    X, y, g = split_features(study)
    Xt, yt, _ = split_features(test)
    rng, aucs = np.random.default_rng(1), []
    size = int(round(args.n * (args.splits - 1) / args.splits))
    for i in range(args.truth_draws):
        rows = draw_patients(g, size, rng)
        model = make_arm("radiomics", seed=i).fit(X.iloc[rows], y[rows], groups=g[rows])
        aucs.append(auc_score(yt, model.predict_proba(Xt[X.columns])[:, 1]))
    return {"true_auc": float(np.mean(aucs)), "true_auc_se": float(np.std(aucs, ddof=1) / np.sqrt(len(aucs))),
            "truth_draws": len(aucs), "test_lesions": len(test)}


def one_dataset(study: pd.DataFrame, d: int, args) -> dict:
    "The three 95% intervals of the radiomics arm's AUC on study-sized dataset number `d`."
    from radllm.evaluation import cross_validate, grouped_folds, pool_repeats, split_features
    from radllm.fusion import make_arm
    from radllm.statistics import cv_auc, delong_ci
    X, y, g = split_features(study)
    rows = draw_patients(g, args.n, np.random.default_rng(1000 + d))
    X, y, g = X.iloc[rows], y[rows], g[rows]
    labels = pd.DataFrame({"patient_id": g, "label": y}, index=X.index)
    pred, _ = cross_validate(make_arm("radiomics", seed=d), X, y, g, grouped_folds(y, g, args.splits, args.repeats, d),
                             seed=d, progress=False)
    pooled = labels.join(pool_repeats(pred))
    old = delong_ci(pooled.label.to_numpy(), pooled.proba.to_numpy())
    r0 = labels.join(pool_repeats(pred[pred.repeat == 0]))
    single = delong_ci(r0.label.to_numpy(), r0.proba.to_numpy(), groups=r0.patient_id.to_numpy())
    new = cv_auc(pred, labels)
    return {"dataset": d, "lesions": len(y), "patients": len(np.unique(g)),
            "old_auc": old[0], "old_lo": old[1], "old_hi": old[2],
            "clustered_auc": single[0], "clustered_lo": single[1], "clustered_hi": single[2],
            "new_auc": new["auc"], "new_lo": new["ci"][0], "new_hi": new["ci"][1]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", type=int, default=200)
    p.add_argument("--n", type=int, default=240, help="lesions per study-sized dataset (the synthetic study's 240)")
    p.add_argument("--pool", type=int, default=2000)
    p.add_argument("--holdout", type=int, default=500, help="lesions of the untouched test part")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--truth-draws", type=int, default=40)
    p.add_argument("--generator-seed", type=int, default=19)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--work", default="runs/coverage")
    p.add_argument("--runs", default="nbs/results/coverage_runs.csv")
    p.add_argument("--out", default="nbs/results/coverage.csv")
    args = p.parse_args(argv)
    from radllm.statistics import coverage_table
    t0 = time.time()
    study, test = pool(args)
    print(f"pool: {len(study)} study lesions, {len(test)} untouched, {time.time() - t0:.0f} s", flush=True)
    truth_file = Path(args.runs).with_suffix(".truth.json")
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else true_auc(study, test, args)
    truth_file.write_text(json.dumps({**truth, **vars(args)}, indent=1))
    print(f"true AUC {truth['true_auc']:.4f} (MC SE {truth['true_auc_se']:.4f})", flush=True)
    runs = Path(args.runs)
    done = set(pd.read_csv(runs).dataset) if runs.is_file() else set()
    for d in range(args.datasets):
        if d in done: continue
        row = pd.DataFrame([one_dataset(study, d, args)])
        row.to_csv(runs, mode="a", header=not runs.is_file(), index=False)
        if d % 10 == 0: print(f"dataset {d}: {time.time() - t0:.0f} s", flush=True)
    table = coverage_table(pd.read_csv(runs), truth["true_auc"])
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
