"""The LLM designs of the study (chapter 12, issue #20) with their comparators, on the study's folds and estimators.

    python tools/llm_study.py run [FAMILY] [--out runs/llm] [--mias DIR] # one family (synthetic, mini-mias), or both
    python tools/llm_study.py gather [--out runs/llm] [--mias DIR]       # nbs/results/llm/{summary,tests}.csv

Predictions are written per design under OUT/<family>/predictions/, as `make study` writes them (the full study can
resume from them); a killed run resumes. `run` without a family (`make llm-study`, which then gathers) runs both at
once, one process each, their output in OUT/../llm-<family>.log."""
import argparse, os, sys, time
from pathlib import Path

from parallel import run_or_exit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("synthetic", "mini-mias")


def run(family: str, out: Path, mias: str) -> None:
    "Extract the family's full-ROI features and run every LLM design and comparator on them."
    import torch
    from radllm.data import load_dataset
    from radllm.extraction import extract
    from radllm.study import LLM_COMPARATORS, LLM_DESIGNS, run_study
    torch.set_num_threads(1)
    spec = "synthetic" if family == "synthetic" else f"mini-mias:{mias}"
    features, _ = extract(load_dataset(spec), progress=False)
    t0 = time.time()
    run_study({family: features}, {family: [*LLM_COMPARATORS, *LLM_DESIGNS]}, out / family)
    print(f"{family}: wall time {time.time() - t0:.0f} s")


def jobs(out: Path, mias: str) -> dict:
    "{log: command}: one `run FAMILY` of this script per family, what `run` without a family starts at once."
    return {out.parent / f"llm-{f}.log": [sys.executable, __file__, "run", f, "--out", out, "--mias", mias]
            for f in FAMILIES}


def gather(out: Path, mias: str) -> None:
    "Recompute the summaries and tests from the stored predictions into nbs/results/llm/."
    from radllm.study import LLM_RESULTS, gather_results
    gather_results(out, LLM_RESULTS, specs={"mini-mias": f"mini-mias:{mias}"})
    print(f"written: {LLM_RESULTS}/summary.csv, tests.csv")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["run", "gather"])
    p.add_argument("family", nargs="?", choices=FAMILIES)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "llm")
    p.add_argument("--mias", default=os.environ.get("RADLLM_MIAS", str(ROOT.parent / "shared" / "data" / "mini-mias")))
    args = p.parse_args(argv)
    if args.step == "run":
        if args.family: run(args.family, args.out, args.mias)
        else: run_or_exit(jobs(args.out, args.mias))
    else: gather(args.out, args.mias)
    return 0


if __name__ == "__main__":
    sys.exit(main())
