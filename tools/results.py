"""`make results`: publish the numbers of a finished run batch (`make demo`'s runs/demo by default) on the results page.

The summary (summary.csv, tests.csv, summary.md) and the batch's settings (batch.yaml, as demo_batch.yaml) are
copied into nbs/results/, the committed source of nbs/results.qmd.py, which is then run to print the page it makes.
Only numbers are copied, never images, so the repository stays small; tests/test_site.py checks the copy against
demo.yaml."""
import shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIES = {"summary.csv": "summary.csv", "tests.csv": "tests.csv", "summary.md": "summary.md",
          "batch.yaml": "demo_batch.yaml"}


def publish(run: Path, dest: Path = ROOT / "nbs" / "results") -> list:
    "Copy the batch `run`'s summary and settings into `dest`; the files written. A run without a summary is an error."
    run, dest = Path(run), Path(dest)
    if not (run / "summary.csv").is_file():
        raise FileNotFoundError(f"{run}/summary.csv not found: run 'make demo' (or radllm report {run}) first")
    dest.mkdir(parents=True, exist_ok=True)
    return [shutil.copyfile(run / src, dest / name) for src, name in COPIES.items()]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try: publish(argv[0] if argv else "runs/demo")
    except FileNotFoundError as e: sys.exit(str(e))
    page = ROOT / "nbs" / "results.qmd.py"
    page.touch()                                     # nbdev_docs renders the page again
    return subprocess.run([sys.executable, str(page)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
