"""`make lint`'s notebook checks: radllm/ is what nbdev_export makes of nbs/; notebooks are what nbdev_clean leaves.

Runs both (they are idempotent) and compares every radllm/*.py and nbs/**/*.ipynb before and after: a file either one
changed was out of step. It stays changed (exported or cleaned), to be reviewed and committed; the exit status is 1.
"""
import hashlib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def snapshot() -> dict[str, str]:
    files = [*ROOT.glob("radllm/**/*.py"),
             *(p for p in ROOT.glob("nbs/**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def main() -> int:
    before = snapshot()
    for tool in ("nbdev_export", "nbdev_clean"): subprocess.run([str(BIN / tool)], cwd=ROOT, check=True)
    after = snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    exported = [f for f in changed if f.startswith("radllm/")]
    cleaned = [f for f in changed if f.startswith("nbs/")]
    if exported: print(f"lint: radllm/ was not what nbdev_export makes of nbs/: {', '.join(exported)} (exported now: "
                       "review and commit)")
    if cleaned: print(f"lint: notebooks were not clean: {', '.join(cleaned)} (nbdev_clean has cleaned them: review and "
                      "commit)")
    if not changed: print("lint: radllm/ in sync with nbs/, notebooks clean")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
