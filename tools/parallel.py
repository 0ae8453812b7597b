"""Run a few long commands at once, each writing into its own log file, and wait for all of them.

`make study` and `make llm-study` run one process per dataset family side by side (two families, two cores). Their
output goes into one log each, not interleaved on the terminal; when any fails, the error names the logs to read."""
import subprocess, sys
from pathlib import Path


def run_all(jobs: dict) -> list:
    "Start every command of `jobs` ({log path: argv}) at once, each writing into its log; return the failed ones' logs."
    procs = {}
    for log, argv in jobs.items():
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            procs[log] = subprocess.Popen([str(a) for a in argv], stdout=f, stderr=subprocess.STDOUT)
    return [str(log) for log, p in procs.items() if p.wait() != 0]


def run_or_exit(jobs: dict) -> None:
    "`run_all`, then exit with a message naming the logs of the commands that failed (if any did)."
    failed = run_all(jobs)
    if failed: sys.exit(f"{len(failed)} of {len(jobs)} runs failed: see {', '.join(failed)}")
