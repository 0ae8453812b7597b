"""Benchmark: how long the `radllm` command takes to start, and what it imports.

`radllm --help` and a fully cached `radllm extract` must not import torch, transformers, sentence-transformers or
pyradiomics: they use none of them. Prints the wall time of each (median of 5, each in a new process) and the heavy
modules each imported (`python -X importtime`), and exits 1 if either imported one of those.
"""
import os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HEAVY = ("torch", "transformers", "sentence_transformers", "radiomics", "SimpleITK", "peft", "xllamacpp")
from radllm.testing import mias_dir

MIAS = mias_dir()


def timed(argv: list[str], env) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return time.perf_counter() - t


def imported(args: list[str], env) -> set[str]:
    "Top-level modules the `radllm ARGS` command imports (python -X importtime)."
    code = f"import sys; from radllm.cli import main; sys.exit(main({args!r}))"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env)
    return {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines()
            if line.startswith("import time:")}


def main() -> int:
    exe = str(Path(sys.executable).with_name("radllm"))
    spec = f"mini-mias:{MIAS}" if (MIAS / "Info.txt").is_file() else "synthetic:120"
    print(f"radllm start-up ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()) + ")")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RADLLM_CACHE_DIR": tmp}
        extract = ["extract", spec, "--out", f"{tmp}/f.parquet"]
        subprocess.run([exe, *extract, "--jobs", "2"], capture_output=True, check=True, env=env)     # a warm cache
        for name, args in (("radllm --help", ["--help"]), (f"radllm extract {spec.split(':')[0]} (cached)", extract)):
            seconds = statistics.median(timed([exe, *args], env) for _ in range(5))
            heavy = sorted(imported(args, env) & set(HEAVY))
            ok &= not heavy
            print(f"  {name:40s} {seconds:6.2f} s   heavy imports: {', '.join(heavy) or 'none'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
