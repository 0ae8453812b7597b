"""`make docs`: the documentation site, rendered from nbs/ by nbdev_docs and Quarto into _docs/, then README.md.

    python tools/docs.py [--shared DIR]

- _proc/ is processed afresh each time: nbdev refreshes a file there only when its source is newer than the _proc/
  folder itself, which any change inside _proc/ makes newer (removing one stale page left every other file stale),
  and the generated pages must follow the template and summary.csv, whose scripts do not change.
- The venv goes first on PATH (and is QUARTO_PYTHON): Quarto's Jupyter kernel, the tutorial's `!radllm` commands and
  the post-render step (nbs/site_postrender.py) use it; Quarto's own folder goes before it (tools/quarto.py finds it).
- Quarto starts its kernels over TCP, and ipykernel warns about it in the terminal ("Kernel is running over TCP
  without encryption"; it listens on 127.0.0.1 only): an IPython profile in .tools/ipython whose kernel logs errors
  only keeps the render's output to what matters.
- nbdev_docs also re-renders README.md with Quarto when index.ipynb is newer, so README.md is written again from
  index.ipynb afterwards (tools/make_readme.py; tests/test_docs.py checks it)."""
import argparse, os, shutil, subprocess, sys
from pathlib import Path

import make_readme
import quarto as quarto_tool

ROOT = Path(__file__).resolve().parents[1]
IPYTHON_DIR = ROOT / ".tools" / "ipython"
KERNEL_CONFIG = "c.IPKernelApp.log_level = 'ERROR'   # written by make docs (tools/docs.py)\n"


def quiet_kernel_profile(ipython_dir: Path = IPYTHON_DIR) -> Path:
    "An IPython profile whose kernels log errors only; the profile's folder (IPYTHONDIR)."
    config = ipython_dir / "profile_default" / "ipython_kernel_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(KERNEL_CONFIG)
    return ipython_dir


def render_env(quarto: Path, venv_bin: Path, ipython_dir: Path, base=None) -> dict:
    "The environment nbdev_docs runs in: Quarto's folder, then the venv, first on PATH; the quiet IPython profile."
    base = dict(os.environ if base is None else base)
    path = os.pathsep.join([str(Path(quarto).parent), str(venv_bin), base.get("PATH", "")])
    return dict(base, PATH=path, IPYTHONDIR=str(ipython_dir), QUARTO_PYTHON=str(Path(venv_bin) / "python"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("RADLLM_SHARED", str(ROOT.parent / "shared")))
    args = p.parse_args(argv)
    quarto, why = quarto_tool.ensure(args.shared)
    if quarto is None: sys.exit(why)
    venv_bin = Path(sys.executable).parent
    shutil.rmtree(ROOT / "_proc", ignore_errors=True)
    env = render_env(quarto, venv_bin, quiet_kernel_profile())
    if subprocess.run([str(venv_bin / "nbdev_docs")], cwd=ROOT, env=env).returncode: sys.exit("nbdev_docs failed")
    (ROOT / "README.md").write_text(make_readme.render())
    print("site written to _docs/: open _docs/index.html, or serve it (python3 -m http.server -d _docs) for the search")
    return 0


if __name__ == "__main__":
    sys.exit(main())
