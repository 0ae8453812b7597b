"""Benchmark: papermill batch throughput, `run_batch` with jobs=2 and jobs=4 (one kernel per run) vs serial, in runs
per minute.

The batch: 2 datasets (synthetic:60, synthetic:48) x 2 seeds = 4 executions of nbs/experiments/end_to_end.ipynb with a
small config (arms radiomics and text, 3 folds, no ablations, 1 label permutation).

Fairness: a warm-up batch (jobs=2, untimed) fills one cache folder with the datasets, the features and every
embedding the runs ask for (run_batch prepares each dataset once before its runs); each timed mode then gets its
own fresh copy of that folder and its own output folder. Both
modes therefore do the same work: start a kernel per run, import, read the caches, cross-validate, write figures.
The model files are in the OS page cache for all. Every kernel gets one BLAS/OpenMP thread in every mode
(OMP/OPENBLAS/MKL_NUM_THREADS=1, which joblib's loky and Dask's nanny set for their workers anyway): otherwise the
serial kernels alone would run multi-threaded OpenBLAS, which on a busy 2-core machine made the evaluation cell
4-8x slower, and the ratio would measure that rather than running 2 notebooks at once. Printed: seconds and runs per
minute of each mode and the ratio.

Checks (exit 1 when one fails; timings never fail the benchmark): every run ends with status ok and writes
metrics.json, and each run's metrics.json is identical in every mode (same seed, same numbers).
"""
import json, os, shutil, sys, tempfile, time
from pathlib import Path

DATASETS, SEEDS = ["synthetic:60", "synthetic:48"], [0, 1]


def config():
    from radllm.config import RunConfig
    return RunConfig(arms=["radiomics", "text"], n_splits=3, ablations=[], n_permutations=1)


def batch(out: Path, cache: Path, jobs: int):
    "One batch; returns (seconds, status table)."
    from radllm.runs import run_batch
    t = time.perf_counter()
    status = run_batch(DATASETS, SEEDS, out, config=config(), jobs=jobs, cache_dir=str(cache), progress=False)
    return time.perf_counter() - t, status


def metrics(out: Path) -> dict:
    "metrics.json of every run folder, by relative folder."
    return {str(p.parent.relative_to(out)): json.loads(p.read_text()) for p in sorted(out.glob("*/seed*/metrics.json"))}


def load_avg() -> str: return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"): os.environ[v] = "1"   # kernels inherit it
    n_runs = len(DATASETS) * len(SEEDS)
    print(f"papermill batch throughput: {n_runs} runs ({' + '.join(DATASETS)} x seeds {SEEDS}; arms radiomics, text; "
          f"3 folds; no ablations; 1 permutation; 1 BLAS thread per kernel), {os.cpu_count()} CPUs, load average "
          f"{load_avg()}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm = tmp / "cache-warm"
        t_warm, st = batch(tmp / "warm-up", warm, jobs=2)
        ok &= bool((st.status == "ok").all())
        print(f"  warm-up (untimed in the comparison): datasets, features and the batch with jobs=2 {t_warm:.1f} s")
        res = {}
        for jobs in (1, 2, n_runs):
            cache, out = tmp / f"cache-jobs{jobs}", tmp / f"runs-jobs{jobs}"
            shutil.copytree(warm, cache)
            seconds, st = batch(out, cache, jobs)
            good = bool((st.status == "ok").all()) and len(st) == n_runs and len(metrics(out)) == n_runs
            if not good: print(st.to_string())
            ok &= good
            res[jobs] = (seconds, metrics(out), st)
        t1, m1 = res[1][0], res[1][1]
        print(f"  {'mode':<22}{'batch s':>9}{'runs/min':>10}{'ratio':>8}   per-run seconds (papermill)")
        for jobs, (sec, _, st) in res.items():
            label = "serial (jobs=1)" if jobs == 1 else f"jobs={jobs} (loky)"
            print(f"  {label:<22}{sec:>9.1f}{n_runs / sec * 60:>10.2f}{t1 / sec:>7.2f}x   "
                  + ", ".join(f"{s:.1f}" for s in st.seconds))
        same = all(m == m1 for _, m, _ in res.values())
        print(f"  metrics.json identical in all modes for all {len(m1)} runs: {same}")
        print(f"  load average at the end: {load_avg()}")
        ok &= same
    if not ok: print("FAILED: a run failed, a metrics.json is missing, or the modes gave different metrics")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
