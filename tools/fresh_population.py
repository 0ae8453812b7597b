"""Confirm the `levels` choice on a synthetic population that took no part in choosing it (issue #19 item 9).

`levels` was chosen in a screening on the default synthetic set (generator seed 0) and mini-MIAS. This script draws a
fresh synthetic set of the study's size from generator seed 2026 (never used in development), runs the study's key
designs on it with the study's protocol (chapter 12, 5 x 5 patient-grouped CV) and gathers the numbers with the
study's estimators into `nbs/results/fresh/` (summary.csv, tests.csv). The study page reads them.

    nice -n 15 .venv/bin/python tools/fresh_population.py
"""
import argparse, os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DESIGNS = ["radiomics", "text:levels", "concat:levels", "weighted:levels", "text:levels-random",
           "text:levels-nomodel", "text:names_values"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=240)
    p.add_argument("--generator-seed", type=int, default=2026)
    p.add_argument("--work", default="runs/fresh")
    p.add_argument("--dest", default="nbs/results/fresh")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    from radllm.extraction import extract
    from radllm.study import gather_results, run_study
    from radllm.synthetic import make_dataset
    work = Path(args.work)
    manifest = make_dataset(work / "data", n=args.n, seed=args.generator_seed)
    features, _ = extract(manifest, jobs=1, cache_dir=str(work / "cache"), progress=False)
    name = f"synthetic-seed{args.generator_seed}"
    run_study({name: features}, {name: DESIGNS}, work / "study" / name, n_repeats=args.repeats)
    summary, tests = gather_results(work / "study", args.dest)
    print(summary[["design", "auc", "auc_lo", "auc_hi"]].round(3).to_string(index=False))
    cols = ["design", "versus", "diff", "diff_lo", "diff_hi", "p", "role", "p_holm"]
    print(tests[cols].round(3).to_string(index=False))


if __name__ == "__main__":
    main()
