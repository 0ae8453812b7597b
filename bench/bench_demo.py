"""Benchmark: `make demo`'s main job from an empty cache, and what its text side embeds.

Runs exactly what `make demo` runs after the install (`radllm run --dataset synthetic --seeds 0 1 2 --jobs 3 --config
nbs/experiments/demo.yaml`) into a fresh output folder with a fresh cache folder (the model files are in the OS page
cache, as on any second run). Prints the wall time, the embedding backend (metrics.json: `config.embedding`) and,
from each run's work.json (chapter 09), how many texts the arms asked for, how many the model embedded (cache misses:
the first seed fills the shared cache, later seeds reuse it), their mean token count and the model calls. The plain
baseline for the text side is the paper's prompt (`serializer: names_values`), whose count is printed from the same
config with that one setting changed, evaluated in this process for seed 0 (no papermill), so both counts come from one
protocol. Exits 1 when a run fails.
"""
import json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo(out: Path, cache: Path) -> float:
    exe = str(Path(sys.executable).with_name("radllm"))
    t = time.perf_counter()
    r = subprocess.run([exe, "run", "--dataset", "synthetic", "--seeds", "0", "1", "2", "--out", str(out),
                        "--jobs", "3", "--config", str(ROOT / "nbs/experiments/demo.yaml")],
                       capture_output=True, text=True,
                       env={**os.environ, "RADLLM_CACHE_DIR": str(cache)})
    wall = time.perf_counter() - t
    if r.returncode: sys.exit(f"the demo failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return wall


def paper_prompt_usage(cache: Path) -> dict:
    "Embedding usage of the demo config with the paper's whole prompt (names_values), seed 0, in this process."
    from radllm.config import RunConfig
    from radllm.evaluation import evaluate_config
    from radllm.extraction import extract
    cfg = RunConfig.from_yaml(ROOT / "nbs/experiments/demo.yaml").replace(dataset="synthetic", seed=0,
                                                                          serializer="names_values",
                                                                          cache_dir=str(cache))
    features, _ = extract(cfg.dataset, cache_dir=cfg.cache_dir, progress=False)
    return evaluate_config(cfg, None, features, progress=False).work["embedding"]


def main() -> int:
    print(f"make demo's runs ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wall = demo(tmp / "runs", tmp / "cache")
        folders = sorted((tmp / "runs").glob("*/seed*/"))
        backend = json.loads((folders[0] / "metrics.json").read_text())["config"]["embedding"]["backend"]
        runs = [json.loads((f / "work.json").read_text())["embedding"] for f in folders]
        print(f"  wall time, 3 seeds, --jobs 3, empty cache: {wall:.0f} s")
        print(f"  backend: {backend}")
        for seed, e in enumerate(runs):
            print(f"  seed {seed}: {e['texts']} texts asked for, {e['embedded']} embedded by the model "
                  f"(mean {e['mean_tokens']} tokens), {e['model_calls']} model calls")
        paper = paper_prompt_usage(tmp / "cache")
        print(f"  baseline, the paper's prompt (names_values), seed 0: {paper['texts']} texts asked for, "
              f"{paper['embedded']} "
              f"embedded (mean {paper['mean_tokens']} tokens)")
        tokens = lambda e: e["embedded"] * (e["mean_tokens"] or 0)
        print(f"  tokens the model reads, seed 0: {tokens(runs[0]):.0f} vs {tokens(paper):.0f} with the paper's prompt "
              f"({tokens(paper) / max(tokens(runs[0]), 1):.0f}x fewer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
