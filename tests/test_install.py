"A normal (non-editable) install runs the main job from any folder: the template travels inside the wheel."
import json, os, subprocess, sys, sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sh(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_wheel_install_runs_from_an_unrelated_folder(tmp_path):
    # 1. a wheel of the working tree, as `pip install .` or PyPI would build it
    # (verbose, so that setuptools' warnings reach the output: a user installing radllm sees none)
    built = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", tmp_path / "dist",
               ROOT)
    warnings = [line for line in (built.stdout + built.stderr).splitlines() if "Warning" in line]
    assert not warnings, "\n".join(warnings)
    wheel, = (tmp_path / "dist").glob("radllm-*.whl")
    # 2. a fresh venv holding that wheel; its dependencies come from the project's venv (a path, not an editable radllm)
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    site = Path(sh(venv / "bin" / "python", "-c",
                   "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    sh(venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel)
    # 3. the main job, from a folder with nothing of the project in it, with relative paths
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "small.yaml").write_text("arms: [radiomics]\nn_splits: 3\nablations: []\nn_permutations: 0\n")
    env = {**os.environ, "RADLLM_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": ""}
    r = sh(venv / "bin" / "radllm", "run", "--dataset", "synthetic:30", "--seeds", 0, "--out", "runs/w", "--config",
           "small.yaml",
           cwd=work, env=env)
    assert "1 run, 0 already finished, 0 failed" in r.stdout, r.stdout + r.stderr
    where = sh(venv / "bin" / "python", "-c", "import radllm.runs as r; print(r.__file__); print(r.template_path())",
               cwd=work, env=env).stdout.split()
    assert where[0].startswith(str(site)) and where[1] == str(site / "radllm" / "templates" / "end_to_end.ipynb"), where
    assert (work / "runs/w/synthetic30/seed0/metrics.json").is_file()
    executed = json.loads((work / "runs/w/synthetic30/seed0/end_to_end.ipynb").read_text())
    assert executed["metadata"]["papermill"]["input_path"] == where[1]
