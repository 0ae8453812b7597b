"""Put the study's headline table (`radllm.study.readme_table` of nbs/results/study) into nbs/index.ipynb, then
README.md (tools/make_readme.py). Run after `gather_results` has rewritten nbs/results/study/*.csv:

    .venv/bin/python tools/readme_table.py

The table is the block of lines starting with `| design |` in the index's Results cell; nothing else changes.
`tests/test_docs.py` checks that the README holds exactly this table and that its prose types no number.
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from radllm.study import load_results, readme_table  # noqa: E402


def splice(source: str, table: str) -> str:
    "`source` with its first markdown table that starts with '| design |' replaced by `table`."
    lines = source.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("| design |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[:start] + table.split("\n") + lines[end:])


def main():
    path = ROOT / "nbs" / "index.ipynb"
    nb = json.loads(path.read_text())
    table = readme_table(*load_results(ROOT / "nbs" / "results" / "study"))
    cell = next(c for c in nb["cells"] if any(line.startswith("| design |") for line in c["source"]))
    cell["source"] = splice("".join(cell["source"]), table).splitlines(True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    import make_readme
    (ROOT / "README.md").write_text(make_readme.render())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tools"))
    main()
