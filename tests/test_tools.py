"The scripts of tools/ that the Makefile's targets run: each one's logic, without the long jobs they start."
import importlib.util, json, os, re, sys, threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def tool(name: str):
    "tools/NAME.py as a module, its sibling imports (parallel, quarto, make_readme) found in tools/ as when it is run."
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally: sys.path.remove(str(ROOT / "tools"))
    return module


# ------------------------------------------------ tools/parallel.py (make study, make llm-study)

def test_parallel_runs_the_commands_at_once_each_into_its_log(tmp_path):
    parallel, flag = tool("parallel"), tmp_path / "flag"
    # the first waits for a file that only the second writes: run one after the other, the first would time out
    waits = ("import pathlib, sys, time\nfor _ in range(300):\n    if pathlib.Path(sys.argv[1]).exists(): "
             "print('saw it'); sys.exit(0)\n    time.sleep(0.1)\nsys.exit(1)")
    jobs = {tmp_path / "a.log": [PY, "-c", waits, flag],
            tmp_path / "logs" / "b.log": [PY, "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()", flag],
            tmp_path / "c.log": [PY, "-c", "import sys; print('oops'); sys.exit(3)"]}
    assert parallel.run_all(jobs) == [str(tmp_path / "c.log")]
    assert (tmp_path / "a.log").read_text() == "saw it\n" and (tmp_path / "c.log").read_text() == "oops\n"
    with pytest.raises(SystemExit, match=r"1 of 3 runs failed: see .*c\.log"): parallel.run_or_exit(jobs)
    parallel.run_or_exit({tmp_path / "ok.log": [PY, "-c", "pass"]})          # all passed: no exit


def test_study_runs_the_notebook_once_per_family(tmp_path):
    study = tool("study")
    jobs = study.jobs(tmp_path / "out", "/data/mias", papermill="pm")
    assert list(jobs) == [tmp_path / "out" / "synthetic.log", tmp_path / "out" / "mini-mias.log"]
    synthetic, mias = jobs.values()
    assert synthetic[0] == "pm" and Path(synthetic[1]).resolve() == ROOT / "nbs" / "experiments" / "study.ipynb"
    assert synthetic[2] == str(tmp_path / "out" / "synthetic.ipynb") and "mias" not in synthetic
    assert mias[mias.index("family") + 1] == "mini-mias" and mias[mias.index("mias") + 1] == "/data/mias"
    assert mias[-3:] == ["out", str(tmp_path / "out"), "--log-output"]


def test_llm_study_runs_itself_once_per_family(tmp_path):
    llm_study = tool("llm_study")
    jobs = llm_study.jobs(tmp_path / "runs" / "llm", "/data/mias")
    assert list(jobs) == [tmp_path / "runs" / "llm-synthetic.log", tmp_path / "runs" / "llm-mini-mias.log"]
    for family, argv in zip(llm_study.FAMILIES, jobs.values()):
        assert Path(argv[1]) == ROOT / "tools" / "llm_study.py" and argv[2:4] == ["run", family]
        assert argv[argv.index("--mias") + 1] == "/data/mias"


# ------------------------------------------------ tools/results.py (make results)

def test_results_copies_the_numbers_of_a_batch(tmp_path):
    results, run, dest = tool("results"), tmp_path / "runs" / "demo", tmp_path / "results"
    with pytest.raises(FileNotFoundError, match="summary.csv not found: run 'make demo'"): results.publish(run, dest)
    run.mkdir(parents=True)
    for name in ("summary.csv", "tests.csv", "summary.md", "batch.yaml"): (run / name).write_text(f"the {name}")
    (run / "roc.png").write_bytes(b"an image")
    results.publish(run, dest)
    assert {p.name: p.read_text() for p in dest.iterdir()} == {
        "summary.csv": "the summary.csv", "tests.csv": "the tests.csv", "summary.md": "the summary.md",
        "demo_batch.yaml": "the batch.yaml"}


# ------------------------------------------------ tools/quarto.py (make quarto, make site-tools, the site tests)

FAKE_INSTALLER = """set -e
mkdir -p "$1/bin"
command -v python > "$1/python_used"
printf '#!/bin/sh\\necho 1.7.99\\n' > "$1/bin/quarto"
chmod +x "$1/bin/quarto"
"""


@pytest.fixture
def no_quarto_on_path(tmp_path, monkeypatch):
    "PATH without quarto (the system's tools only), .tools/quarto/ moved into tmp_path."
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    quarto = tool("quarto")
    if quarto.shutil.which("quarto"): pytest.skip("quarto is in /usr/bin or /bin")
    monkeypatch.setattr(quarto, "HOME", tmp_path / "home")
    return quarto


def test_quarto_is_found_where_make_looks(no_quarto_on_path, tmp_path, monkeypatch):
    quarto, shared, home = no_quarto_on_path, tmp_path / "shared", tmp_path / "home"
    assert quarto.locate(shared) == (None, None)
    installer = shared / "tools" / "quarto" / "install-quarto.sh"
    installer.parent.mkdir(parents=True)
    installer.write_text(FAKE_INSTALLER)
    assert quarto.locate(shared) == (home / "bin" / "quarto", installer)
    (home).mkdir()
    (home / ".installed").touch()
    assert quarto.locate(shared) == (home / "bin" / "quarto", None)
    on_path = tmp_path / "path"
    on_path.mkdir()
    (on_path / "quarto").write_text("#!/bin/sh\n")
    (on_path / "quarto").chmod(0o755)
    monkeypatch.setenv("PATH", f"{on_path}:/usr/bin:/bin")
    assert quarto.locate(shared) == (on_path / "quarto", None)


def test_quarto_is_installed_with_the_venvs_python_first(no_quarto_on_path, tmp_path, capsys):
    quarto, shared, home = no_quarto_on_path, tmp_path / "shared", tmp_path / "home"
    installer = shared / "tools" / "quarto" / "install-quarto.sh"
    installer.parent.mkdir(parents=True)
    installer.write_text("echo 'no npm here'; exit 7\n")
    with pytest.raises(RuntimeError, match="(?s)failed:.*no npm here"): quarto.ensure(shared)
    assert not (home / ".installed").exists()
    installer.write_text(FAKE_INSTALLER)
    assert quarto.main(["--shared", str(shared)]) == 0
    out = capsys.readouterr().out
    assert f"installing Quarto from {installer}" in out and f"quarto 1.7.99: {home / 'bin' / 'quarto'}" in out
    assert (home / ".installed").is_file()
    assert Path((home / "python_used").read_text().strip()).parent == Path(sys.executable).parent


def test_no_quarto_fails_quarto_but_not_site_tools(no_quarto_on_path, tmp_path, capsys):
    quarto = no_quarto_on_path
    assert quarto.main(["--shared", str(tmp_path / "nowhere"), "--optional"]) == 0
    assert capsys.readouterr().out == "no Quarto here: the site-render tests will skip\n"
    assert quarto.main(["--shared", str(tmp_path / "nowhere")]) == 1
    why = capsys.readouterr().err
    assert str(tmp_path / "nowhere" / "tools" / "quarto" / "install-quarto.sh") in why and "quarto.org" in why


# ------------------------------------------------ tools/docs.py (make docs)

def test_docs_renders_with_quarto_and_the_venv_first_and_quiet_kernels(tmp_path):
    from traitlets.config import Config
    docs = tool("docs")
    env = docs.render_env(Path("/opt/quarto/bin/quarto"), Path("/v/bin"), tmp_path / "ipython", base={"PATH": "/bin"})
    assert env["PATH"].split(os.pathsep) == ["/opt/quarto/bin", "/v/bin", "/bin"]
    assert env["QUARTO_PYTHON"] == "/v/bin/python" and env["IPYTHONDIR"] == str(tmp_path / "ipython")
    profile = docs.quiet_kernel_profile(tmp_path / "ipython")
    c = Config()
    exec((profile / "profile_default" / "ipython_kernel_config.py").read_text(), {"c": c})
    assert c.IPKernelApp.log_level == "ERROR"


# ------------------------------------------------ tools/lab.py (make lab)

def test_lab_makes_anyio_worker_threads_daemons(monkeypatch):
    import anyio
    from anyio._backends import _asyncio as backend
    lab = tool("lab")
    monkeypatch.setattr(backend.WorkerThread, "__init__", backend.WorkerThread.__init__)   # undone after the test

    async def worker_is_daemon():
        return await anyio.to_thread.run_sync(lambda: threading.current_thread().daemon)
    assert anyio.run(worker_is_daemon) is False           # AnyIO's own: Python's exit waits for it
    assert lab.daemon_worker_threads() is True
    assert anyio.run(worker_is_daemon) is True


def test_lab_listens_on_loopback_with_a_token_and_fetches_nothing(tmp_path):
    lab = tool("lab")
    args = lab.lab_args(8890, ["--no-browser"], root=False)
    assert "--ServerApp.ip=127.0.0.1" in args and "--ServerApp.port=8890" in args and args[-1] == "--no-browser"
    assert "--LabApp.news_url=None" in args and "--allow-root" not in args
    assert "--allow-root" in lab.lab_args(8890, [], root=True)
    env = lab.lab_env(tmp_path / "venv", base={"PATH": "/bin"})
    assert env["PATH"] == f"{tmp_path / 'venv' / 'bin'}{os.pathsep}/bin"
    assert re.fullmatch("[0-9a-f]{48}", env["JUPYTER_TOKEN"])
    assert env["JUPYTER_PATH"] == str(tmp_path / "venv" / "share" / "jupyter")
    assert lab.lab_env(tmp_path, base={"JUPYTER_TOKEN": "mine"})["JUPYTER_TOKEN"] == "mine"
    overrides = lab.write_overrides(tmp_path / "venv")
    assert json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]["checkForUpdates"] is False
    overrides.write_text("{}")
    assert lab.write_overrides(tmp_path / "venv").read_text() == "{}"              # the venv's own are kept
