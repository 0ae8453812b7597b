"""`make lab`: JupyterLab on nbs/ for students, with the project's environment as its kernel.

    python tools/lab.py [--port 8888] [JupyterLab options...]

It listens on 127.0.0.1 only, with a token (JUPYTER_TOKEN if set, else a random one; the address to open, token
included, is printed). The venv's python3 kernel comes first on JUPYTER_PATH (a user-level one would otherwise shadow
it) and the venv's bin/ first on PATH, so the tutorial's `!radllm` commands work. As root, Jupyter wants --allow-root.
Nothing reaches the network: no news feed, no update check, no PyPI extension manager, and the venv's overrides.json
keeps JupyterLab from asking the student whether to fetch news it cannot reach.

AnyIO's worker threads are made daemon threads before JupyterLab starts. Jupyter Server reads and writes files in
them, and when one had run in the last ten seconds before File > Shut Down, the server stopped but its process waited
for that idle thread for ever (Python's exit joins non-daemon threads; jupyterlab#10442, anyio#321; 2 of 5 runs of
tests/test_lab.py hung so). Where AnyIO has changed so that this cannot be done, JupyterLab starts unpatched."""
import argparse, json, os, secrets, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def daemon_worker_threads() -> bool:
    "Make the threads AnyIO starts for `to_thread` daemon threads; False where AnyIO no longer has that class."
    try:
        from anyio._backends import _asyncio as backend
        init = backend.WorkerThread.__init__
    except (ImportError, AttributeError): return False

    def daemon_init(thread, *args, **kwargs):
        init(thread, *args, **kwargs)
        thread.daemon = True
    backend.WorkerThread.__init__ = daemon_init
    return True


def write_overrides(venv: Path) -> Path:
    "The venv's JupyterLab settings overrides (no news, no update check), unless the venv already has some."
    path = Path(venv) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(OVERRIDES))
    return path


def lab_args(port: int, extra: list, root: bool) -> list:
    "JupyterLab's command-line options: loopback only, nbs/ as the root, nothing fetched from the network."
    args = ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.root_dir=.", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    return args + (["--allow-root"] if root else []) + list(extra)


def lab_env(venv: Path, base=None) -> dict:
    "The environment: the venv's bin/ first on PATH, its Jupyter data first on JUPYTER_PATH, a token."
    base = dict(os.environ if base is None else base)
    return dict(base, PATH=f"{Path(venv) / 'bin'}{os.pathsep}{base.get('PATH', '')}",
                JUPYTER_PATH=str(Path(venv) / "share" / "jupyter"),
                JUPYTER_TOKEN=base.get("JUPYTER_TOKEN") or secrets.token_hex(24))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--port", type=int, default=8888)
    args, extra = p.parse_known_args(argv)
    venv = Path(sys.executable).absolute().parent.parent
    write_overrides(venv)
    os.environ.update(lab_env(venv))
    os.chdir(ROOT / "nbs")
    daemon_worker_threads()
    from jupyterlab.labapp import main as jupyterlab
    return jupyterlab(argv=lab_args(args.port, extra, os.geteuid() == 0))


if __name__ == "__main__":
    sys.exit(main())
