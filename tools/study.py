"""The study of chapter 12 (`make study`): every design, 5 x 5 patient-grouped CV, on the synthetic set and mini-MIAS.

    python tools/study.py run [--mias DIR] [--out runs/study]       # both families at once, one log each
    python tools/study.py gather [--mias DIR] [--out runs/study]    # their numbers into nbs/results/study/

`run` executes nbs/experiments/study.ipynb once per dataset family with papermill, both in parallel (OUT/<family>.ipynb,
OUT/<family>.log). Predictions are kept per design under OUT, so an interrupted study resumes. `gather` writes the
committed tables that chapter 12 and the README's first table read. Measured wall time: see chapter 12."""
import argparse, os, sys
from pathlib import Path

from parallel import run_or_exit

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("synthetic", "mini-mias")
NOTEBOOK = ROOT / "nbs" / "experiments" / "study.ipynb"


def papermill_argv(family: str, out: Path, mias: str, papermill: str = "papermill") -> list:
    "The papermill command that runs the study notebook on one dataset family (mini-MIAS read from `mias`)."
    argv = [papermill, os.path.relpath(NOTEBOOK), str(Path(out) / f"{family}.ipynb"), "-p", "family", family]
    if family == "mini-mias": argv += ["-p", "mias", mias]
    return argv + ["-p", "out", str(out), "--log-output"]


def jobs(out: Path, mias: str, papermill: str = "papermill") -> dict:
    "{log: command} for every family: what `run` starts at once."
    return {Path(out) / f"{f}.log": papermill_argv(f, out, mias, papermill) for f in FAMILIES}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["run", "gather"])
    p.add_argument("--out", type=Path, default=Path("runs/study"))
    p.add_argument("--mias", default=os.environ.get("RADLLM_MIAS", "data/mini-mias"))
    p.add_argument("--results", default=str(ROOT / "nbs" / "results" / "study"))
    args = p.parse_args(argv)
    if args.step == "run": run_or_exit(jobs(args.out, args.mias, str(Path(sys.executable).parent / "papermill")))
    else:
        from radllm.study import gather_results
        gather_results(str(args.out), args.results, specs={"mini-mias": f"mini-mias:{args.mias}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
