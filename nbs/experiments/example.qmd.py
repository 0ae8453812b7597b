"""---
title: "End-to-end example"
description: "One experiment from images to conclusion: the papermill template experiments/end_to_end.ipynb, executed on 60 synthetic lesions."
---"""  # noqa: E501 (YAML front matter: the description stays on one line)
# This is an nbdev "qpy" page: while `nbdev_docs` processes nbs/ into _proc/, nbdev executes this script and what
# it prints becomes _proc/experiments/example.qmd (the front matter above is its header). It executes the papermill
# template nbs/experiments/end_to_end.ipynb with the small parameters below, exactly as `radllm run` does for one
# dataset and seed, and prints the executed notebook as markdown with its figures embedded. tests/test_site.py runs
# this script the same way, so the page shown on the site is a page whose code ran.
# (nbdev runs it without __file__ or __name__; the repository is found from settings.ini, as nbdev itself does.)
import json, re, tempfile
from pathlib import Path

import papermill as pm
from nbdev.config import get_config
from radllm.runs import kernel_manager

CONFIG = dict(dataset="synthetic:60", seed=0, n_splits=3, n_repeats=1, arms=["radiomics", "text", "concat"],
              ablations=[], n_permutations=5, jobs=2)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _block(text, lang=""):
    text = _ANSI.sub("", text).rstrip("\n")
    fence = "````" if "```" in text else "```"
    return f"{fence}{lang}\n{text}\n{fence}"


def _output(o):
    "One cell output as markdown: figures as embedded PNG, tables as HTML, text as a plain block; stderr is dropped."
    kind = o["output_type"]
    if kind == "stream": return _block("".join(o["text"])) if o["name"] == "stdout" else ""
    if kind == "error": raise RuntimeError(f"the executed template has an error output: {o['ename']}: {o['evalue']}")
    data = o.get("data", {})
    if "image/png" in data: return f"![](data:image/png;base64,{''.join(data['image/png']).strip()})"
    if "text/html" in data:   # a raw HTML block (tables); no blank lines, which would end the block in markdown.
        # Quarto's cell-output-display class scrolls a table wider than the page inside its box (the features
        # table's pyradiomics column names are long) instead of widening the whole page.
        return ('<div class="cell-output-display">\n'
                + "\n".join(l for l in "".join(data["text/html"]).splitlines() if l.strip()) + "\n</div>")
    if "text/markdown" in data: return "".join(data["text/markdown"])
    if "text/plain" in data: return _block("".join(data["text/plain"]))
    return ""


def executed_markdown(nb) -> str:
    "The executed notebook as markdown: prose as written, each code cell followed by its outputs."
    parts = []
    for cell in nb["cells"]:
        src = "".join(cell["source"]).strip()
        if cell["cell_type"] == "markdown":
            if not parts and src.startswith("# "): src = src.split("\n", 1)[-1].strip()   # the page title replaces it
            parts.append(src)
        elif cell["cell_type"] == "code":
            if src: parts.append(_block(src, "python"))
            parts += [s for s in map(_output, cell.get("outputs", [])) if s]
    return "\n\n".join(parts) + "\n"


def run_example(work) -> dict:
    """Execute the template in the folder `work` with CONFIG (its outputs go to work/example/); return the executed
    notebook."""
    template = get_config().nbs_path / "experiments" / "end_to_end.ipynb"
    out = Path(work) / "example"
    out.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(template), str(out / "end_to_end.ipynb"),
                        parameters={"config": CONFIG, "out_dir": "example"}, kernel_name="python3", cwd=str(work),
                        progress_bar=False, kernel_manager_class=kernel_manager(str(work)))
    return json.loads((out / "end_to_end.ipynb").read_text())


_params = ", ".join(f"`{k}: {v!r}`" for k, v in CONFIG.items())
print(f"::: {{.callout-note}}\nThis page is the experiment template `nbs/experiments/end_to_end.ipynb`, executed "
      "when the site "
      f"was built with small parameters so that the build stays quick: {_params}. `radllm run` executes the same "
      f"template with the run's configuration (by default 240 lesions, five folds, all five arms including `lora`); "
      f"the [results page](../results.qmd) aggregates such runs over seeds.\n:::\n")
with tempfile.TemporaryDirectory(prefix="radllm-example-") as _tmp:
    print(executed_markdown(run_example(_tmp)))
