"""What several test files share: the `radllm` command run as a subprocess (`radllm`, the console script beside this
Python) or in this process (`cli`, `radllm.cli.main` with its output captured). pytest puts tests/ on sys.path,
so a test file imports these with `from helpers import ...`."""
import os, subprocess, sys
from pathlib import Path

RADLLM = str(Path(sys.executable).parent / "radllm")


def radllm(*args, cwd=None, env=None, timeout=600, prefix=(), **kw) -> subprocess.CompletedProcess:
    """Run `radllm ARGS` (the installed console script) in a subprocess and wait: its exit status and text output.
    Offline (HF_HUB_OFFLINE=1) unless `env` is given; `prefix` goes before the command (a wrapper such as
    `setpriv`); `kw` go to subprocess.run."""
    cmd = [*map(str, prefix), RADLLM, *map(str, args)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"} if env is None else env
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, **kw)


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run `radllm ARGV` in this process (`radllm.cli.main`): (exit status, stdout, stderr), read through `capsys`;
    argparse's own exit (a value of the wrong form) is an exit status too."""
    from radllm.cli import main
    try: code = main([str(a) for a in argv])
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err
