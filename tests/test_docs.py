"The README is generated from nbs/index.ipynb, opens with the two commands, and every notebook is clean."
import importlib.util, json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_readme", ROOT / "tools" / "make_readme.py")
make_readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_readme)
render = make_readme.render                         # tools/make_readme.py, the script of `make readme`


def test_readme_is_generated_from_index():
    assert (ROOT / "README.md").read_text() == render(), "README.md is stale: run `make readme`"


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block


def test_notebooks_are_clean():
    "nbdev_clean leaves no outputs, execution counts or stray metadata in the source notebooks."
    for nb_path in sorted((ROOT / "nbs").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb_path.parts: continue
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                    f"{nb_path.name} has outputs: run nbdev_clean"


def test_readme_first_results_table_is_the_study_headline():
    "The README's first results table is `readme_table` of the committed study numbers (nbs/results/study)."
    import re
    from radllm.study import load_results, readme_table
    table = readme_table(*load_results(ROOT / "nbs" / "results" / "study"))
    text = (ROOT / "README.md").read_text()
    assert table in text, \
        "README.md's results table differs from nbs/results/study: paste readme_table() into nbs/index.ipynb"
    first = re.search(r"^\| design \|.*$", text, re.MULTILINE)
    assert first and text.index(table) == first.start()


def test_readme_results_numbers_are_the_committed_tables():
    "Every number of the README's Results section is in readme_table of the committed study (none typed by hand, #19)."
    import re
    from radllm.study import load_results, readme_table
    table = readme_table(*load_results(ROOT / "nbs" / "results" / "study"))
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Results"):text.index("## Command line")]
    prose = section.replace(table, "")
    allowed = {"0.05", "90", "95"}                     # the equivalence margin and the interval levels, not results
    typed = [n for n in re.findall(r"[-+]?\d+\.\d+|\d+%", prose) if n.strip("%+-") not in allowed]
    assert not typed, f"numbers typed into the README's Results prose (read them from the tables instead): {typed}"
    assert not re.search(r"\bsignificant", prose.replace("not significant", "")), \
        "the README's prose calls something significant; only a Holm-corrected primary p may (in the table)"


def test_index_and_tutorial_list_every_dataset_kind():
    "The index page's and the tutorial's lists of dataset specs are the registry's (chapter 00's LOADERS), in order."
    import re
    from radllm.config import LOADERS, spec_syntax
    for page, start, end in (("index", "Dataset specs: ", ", with a loader's options"),
                             ("tutorial", "A dataset is named by a spec: ", " for any folder")):
        nb = json.loads((ROOT / "nbs" / f"{page}.ipynb").read_text())
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        listed = text.split(start, 1)[1].split(end, 1)[0]
        assert re.findall(r"`([^`]+)`", listed) == [spec_syntax(k) for k in LOADERS], (page, listed)
