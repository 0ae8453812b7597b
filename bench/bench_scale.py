"""Benchmark: extraction at scale, serial vs 2 local processes vs a 2-worker Dask LocalCluster on loopback.

On the synthetic set of N lesions (default 2,000; `python bench/bench_scale.py N` for another size) each mode runs in
a fresh Python process with its own empty feature cache, while a sampling thread here sums the memory of that
process and of every process below it (loky workers; the Dask scheduler, nannies and workers): RSS (what `top`
shows; counts shared pages such as libraries once per process: an upper bound) and USS (pages private to each
process: a lower bound). PSS is not used: it splits shared pages with unrelated processes on the machine, so it
changes with whatever else runs. Printed: extraction time, CPU seconds of the process tree (load-independent) and
peak memory of each mode, as ratios vs serial.

Checks (exit 1 when one fails; timings never fail the benchmark):
- the three feature tables are equal (same lesions, same columns, relative difference < 1e-9);
- memory stays bounded: serial peak RSS on N lesions is at most 1.5x that on N/4 lesions (an extraction that held
  every image would grow by about 4x; the parent keeps only the small feature rows).
The synthetic images are made once into the radllm cache (`synthetic:N`), so a second run starts at once.
"""
import json, os, subprocess, sys, tempfile, threading, time
from pathlib import Path

import numpy as np
import pandas as pd

MODES = ("serial", "processes", "dask")


# ---------------------------------------------------------------- the child: one extraction in a fresh interpreter
def child(mode: str, spec: str, n: int, cache: str, out: str) -> None:
    "Extract the first n lesions of `spec` in one mode; write the features to `out` and the timings to stdout."
    from radllm.data import load_dataset
    from radllm.extraction import extract
    manifest = load_dataset(spec).head(n)
    timings = {}
    if mode == "dask":
        from distributed import LocalCluster
        t = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=40) as cluster:
            timings["startup"] = time.perf_counter() - t
            t = time.perf_counter()
            features, qc = extract(manifest, scheduler=cluster.scheduler_address, cache_dir=cache, progress=False)
            timings["extract"] = time.perf_counter() - t
    else:
        t = time.perf_counter()
        features, qc = extract(manifest, jobs=1 if mode == "serial" else 2, cache_dir=cache, progress=False)
        timings["extract"] = time.perf_counter() - t
    features.to_parquet(out)
    timings["ok"], timings["errors"] = int((qc.status == "ok").sum()), int((qc.status == "error").sum())
    print("RESULT " + json.dumps(timings))


# ---------------------------------------------------------------- the parent: run a child, sample its process tree
def _tree_sample(proc, cpu: dict) -> tuple[float, float, int]:
    ("RSS sum, USS sum (MiB) and process count of `proc` and all its descendants; records each one's CPU seconds in "
     "`cpu`.")
    import psutil
    rss = uss = 0.0
    k = 0
    try: procs = [proc] + proc.children(recursive=True)
    except psutil.Error: return 0.0, 0.0, 0
    for p in procs:
        try: m, t = p.memory_full_info(), p.cpu_times()
        except psutil.Error: continue
        rss += m.rss
        uss += m.uss
        k += 1
        cpu[p.pid] = t.user + t.system
    return rss / 2**20, uss / 2**20, k


def run_mode(mode: str, spec: str, n: int, tmp: Path, interval: float = 0.1) -> dict:
    "Run one mode in a subprocess; return its timings, peak tree RSS/USS and the features file."
    import psutil
    out, cache = tmp / f"{mode}-{n}.parquet", tmp / f"cache-{mode}-{n}"
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, __file__, "--child", mode, spec, str(n), str(cache), str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, cpu = {"rss": 0.0, "uss": 0.0, "procs": 0}, {}
    done = threading.Event()
    def sample():
        try: proc = psutil.Process(p.pid)
        except psutil.Error: return
        while not done.is_set():
            rss, uss, k = _tree_sample(proc, cpu)
            peak["rss"], peak["uss"], peak["procs"] = max(peak["rss"],
                                                          rss), max(peak["uss"], uss), max(peak["procs"], k)
            done.wait(interval)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = p.communicate()
    done.set()
    th.join()
    wall = time.perf_counter() - t0
    line = next((l for l in stdout.splitlines() if l.startswith("RESULT ")), None)
    if p.returncode or line is None:
        raise RuntimeError(f"{mode} extraction of {n} lesions failed (exit {p.returncode}):\n{stderr[-3000:]}")
    return {"mode": mode, "n": n, "wall": wall, **json.loads(line[7:]), **peak, "cpu": sum(cpu.values()),
            "features": out}


def max_rel_diff(a: pd.DataFrame, b: pd.DataFrame) -> float:
    "Largest relative difference between two feature tables (inf when lesions or columns differ)."
    from radllm.data import feature_columns
    if set(a.index) != set(b.index) or feature_columns(a) != feature_columns(b): return float("inf")
    cols = feature_columns(a)
    x, y = a.loc[a.index, cols].to_numpy(float), b.loc[a.index, cols].to_numpy(float)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))


def load_avg() -> str: return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(n: int = 2000) -> int:
    from radllm.data import load_dataset
    spec, small = f"synthetic:{n}", max(n // 4, 1)
    t = time.perf_counter()
    load_dataset(spec)
    t_data = time.perf_counter() - t  # made once into the radllm cache
    print(f"extraction scaling on {spec} ({os.cpu_count()} CPUs, load average {load_avg()}; dataset ready in "
          f"{t_data:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        res = {m: run_mode(m, spec, n, tmp) for m in MODES}
        res_small = run_mode("serial", spec, small, tmp)
        base = res["serial"]
        print(f"  {'mode':<34}{'extract s':>10}{'speed-up':>10}{'CPU s':>8}{'ratio':>7}{'peak RSS MiB':>14}{'ratio':>7}"
              f"{'peak USS MiB':>14}{'ratio':>7}{'procs':>7}")
        labels = {"serial": "serial (jobs=1)", "processes": "2 local processes (jobs=2, loky)",
                  "dask": "Dask LocalCluster, 2 workers"}
        for m in MODES:
            r = res[m]
            print(f"  {labels[m]:<34}{r['extract']:>10.1f}{base['extract'] / r['extract']:>9.2f}x"
                  f"{r['cpu']:>8.1f}{r['cpu'] / base['cpu']:>6.2f}x"
                  f"{r['rss']:>14.0f}{r['rss'] / base['rss']:>6.2f}x"
                  f"{r['uss']:>14.0f}{r['uss'] / base['uss']:>6.2f}x{r['procs']:>7}")
        print("  (CPU s: user + system seconds of the whole process tree, imports and start-up included; unlike the "
              "times, it"
              " hardly depends on what else runs on the machine)")
        print(f"  (Dask cluster start-up {res['dask']['startup']:.1f} s, not counted above; wall time of each process "
              "incl. "
              f"imports: " + ", ".join(f"{m} {res[m]['wall']:.1f} s" for m in MODES) + ")")
        feats = {m: pd.read_parquet(res[m]["features"]) for m in MODES}
        diffs = {m: max_rel_diff(feats[m], feats["serial"]) for m in ("processes", "dask")}
        growth = base["rss"] / res_small["rss"]
        print(f"  memory vs size, serial: {small} lesions peak RSS {res_small['rss']:.0f} MiB (USS "
              f"{res_small['uss']:.0f}), "
              f"{n} lesions {base['rss']:.0f} MiB (USS {base['uss']:.0f}): ratio {growth:.2f} for {n / small:.0f}x the "
              "lesions (limit 1.5)")
        print("  lesions extracted: " + ", ".join(f"{m} {res[m]['ok']} ok / {res[m]['errors']} errors" for m in MODES))
        print(f"  max relative feature difference vs serial: processes {diffs['processes']:.2e}, dask "
              f"{diffs['dask']:.2e} (target < 1e-9)")
        print(f"  load average at the end: {load_avg()}")
    ok = all(d < 1e-9 for d in diffs.values()) and growth <= 1.5 and all(res[m]["ok"] == n for m in MODES)
    if not ok: print("FAILED: feature tables differ, a lesion failed, or memory grew with the number of lesions")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
