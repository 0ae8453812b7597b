"""The documentation site, tested short of Quarto itself (no Quarto binary here; `make docs` builds it where there is one).

`_quarto.yml` (repo root, linked as nbs/_quarto.yml where nbdev looks) is the one source of the site. These tests
- parse it and check its pages: every listed page exists, every page in nbs/ is listed, the sidebar is the reading order;
- check nbdev keeps it: `refresh_quarto_yml` leaves the link alone and `custom_sidebar` stops nbdev writing a sidebar;
- process every file of nbs/ with nbdev's own per-file code (`_proc_file` + `serve_drv.main`, what `nbdev_docs` runs
  through `proc_nbs` before `quarto render`), which executes the two generated pages (the end-to-end example and the
  results page), and render the processed notebooks and pages to HTML with nbconvert;
- execute the getting-started tutorial with papermill (a kernel, as Quarto does), and render it to HTML;
- check that links between pages resolve and that the results page's numbers are those of nbs/results/summary.csv.
Every page's code ran: the tutorial and the end-to-end example are executed here; the chapter notebooks (00_config ...
11_cli) and index are executed by `nbdev_test` (the first step of `make test`); the results page is generated here.
What only Quarto can check (its HTML theme, search, Quarto's own execution of the tutorial, cross-page .ipynb->.html
link rewriting) is left to `make docs` on a machine with Quarto.
"""
import json, os, re, shutil, sys, tempfile, warnings
from configparser import ConfigParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
TEMPLATE = "experiments/end_to_end.ipynb"           # shown on the site through experiments/example.qmd (executed)
STUDY = "experiments/study.ipynb"                   # run by `make study`; its numbers are shown by 12_study.ipynb
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def quarto_yml() -> dict: return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def settings() -> dict:
    cp = ConfigParser(); cp.read(ROOT / "settings.ini"); return dict(cp["DEFAULT"])


def sidebar_pages(contents) -> list:
    "The sidebar's pages in order, sections flattened."
    out = []
    for c in contents:
        if isinstance(c, str): out.append(c)
        elif "contents" in c: out += sidebar_pages(c["contents"])
        else: out.append(c["href"])
    return out


def source_pages() -> list:
    "The pages nbs/ holds: notebooks (not in _/. folders, not the papermill template) and nbdev qpy scripts (x.qmd.py -> x.qmd)."
    out = []
    for p in sorted(NBS.rglob("*")):
        rel = p.relative_to(NBS)
        if any(part.startswith((".", "_")) for part in rel.parts): continue
        if p.suffix == ".ipynb" and rel.as_posix() not in (TEMPLATE, STUDY): out.append(rel.as_posix())
        elif p.name.endswith(".qmd.py"): out.append(rel.as_posix()[:-3])
    return out


def page_source(page: str) -> Path:
    return NBS / (page + ".py" if page.endswith(".qmd") else page)


# ---------------------------------------------------------------- configuration

def test_quarto_yml_lists_every_page_and_nothing_missing():
    q = quarto_yml()
    render = q["project"]["render"]
    assert q["project"]["type"] == "website"
    missing = [p for p in render if not page_source(p).is_file()]
    assert not missing, f"_quarto.yml lists pages with no source in nbs/: {missing}"
    unlisted = sorted(set(source_pages()) - set(render))
    assert not unlisted, f"pages in nbs/ that _quarto.yml does not list (add them to project.render and the sidebar): {unlisted}"
    assert len(render) == len(set(render))
    assert sidebar_pages(q["website"]["sidebar"]["contents"]) == render, "the sidebar and project.render differ"
    for item in q["website"]["navbar"]["left"]: assert item["href"] in render, item


def test_sidebar_is_the_reading_order():
    pages = sidebar_pages(quarto_yml()["website"]["sidebar"]["contents"])
    chapters = sorted(p.name for p in NBS.glob("[0-9][0-9]_*.ipynb"))
    assert [int(c[:2]) for c in chapters] == list(range(len(chapters))), f"chapters are not numbered 00.. without gaps: {chapters}"
    assert chapters[0] == "00_config.ipynb" and chapters[-2:] == ["11_cli.ipynb", "12_study.ipynb"]
    assert pages == ["index.ipynb", "tutorial.ipynb", *chapters, "experiments/example.qmd", "results.qmd", "study.qmd"]


def test_nbdev_uses_the_root_quarto_yml(tmp_path):
    "nbs/_quarto.yml is the root file; nbdev's refresh keeps it, writes no sidebar, and the site lands in doc_path."
    link, cfg, q = NBS / "_quarto.yml", settings(), quarto_yml()
    assert link.is_symlink() and link.resolve() == (ROOT / "_quarto.yml").resolve()
    assert "custom_quarto_yml" not in cfg, "nbdev 2.4 keeps an existing nbs/_quarto.yml by itself and nags about this key"
    assert cfg["custom_sidebar"].lower() == "true", "without custom_sidebar nbdev writes an alphabetical nbs/sidebar.yml"
    assert q["project"]["output-dir"] == cfg["doc_path"], "nbdev_docs moves _proc/<doc_path> to the repo root"
    site = q["website"]
    assert (site["title"], site["repo-url"], site["repo-branch"]) == (cfg["title"], cfg["git_url"], cfg["branch"])
    assert site["site-url"] == cfg["doc_host"] + cfg["doc_baseurl"] and site["description"] == cfg["description"]
    assert "metadata-files" not in q, "the site config is self-contained (nbdev.yml/sidebar.yml are not used)"
    before = (ROOT / "_quarto.yml").read_text()
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    sidebar = NBS / "sidebar.yml"
    existed = sidebar.exists()
    refresh_quarto_yml(); nbdev_sidebar.__wrapped__()
    assert link.is_symlink() and (ROOT / "_quarto.yml").read_text() == before
    assert sidebar.exists() == existed, "nbdev_sidebar wrote nbs/sidebar.yml despite custom_sidebar"


# ---------------------------------------------------------------- processing, execution, HTML

@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """nbs/ processed as `proc_nbs` does (nbdev's per-file functions, one process), plus the executed tutorial.

    One cache folder for the session, so the example and the tutorial share the synthetic:60 extraction."""
    from nbdev.serve import _proc_file
    from nbdev.serve_drv import main
    from nbdev.doclinks import nbglob
    import papermill as pm
    base = tmp_path_factory.mktemp("site")
    old_env = dict(os.environ)
    os.environ.update(RADLLM_CACHE_DIR=str(base / "cache"), HF_HUB_OFFLINE="1", MPLBACKEND="Agg",
                      PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        proc, errors, mixed = base / "_proc", {}, {}
        files = list(nbglob(NBS, func=Path, file_glob="", file_re="")) + [NBS / "_quarto.yml"]
        for f in files:
            job = _proc_file(f, proc, NBS)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    if job: main(job)
                found = [str(w.message) for w in caught if "Found cells containing imports" in str(w.message)]
                if found: mixed[f.relative_to(NBS).as_posix()] = found
            except Exception as e: errors[f.relative_to(NBS).as_posix()] = f"{e}\n  caused by: {e.__cause__!r}"
        run = base / "tutorial"; run.mkdir()
        pm.execute_notebook(str(NBS / "tutorial.ipynb"), str(run / "tutorial.ipynb"), kernel_name="python3",
                            cwd=str(run), progress_bar=False)
    finally:
        os.chdir(cwd); os.environ.clear(); os.environ.update(old_env)
    return dict(proc=proc, tutorial=run / "tutorial.ipynb", errors=errors, mixed=mixed)


def to_html(nb) -> str:
    from nbconvert import HTMLExporter
    html, _ = HTMLExporter(template_name="basic").from_notebook_node(nb)
    return html


def md_page(path: Path) -> tuple[dict, str]:
    "A generated .qmd page: its front matter and its markdown body."
    _, fm, body = path.read_text().split("---\n", 2)
    return yaml.safe_load(fm), body


def test_every_file_processes_for_the_docs(site):
    """nbdev's docs processing runs every cell with an import in it (to document the API with show_doc): a cell that
    mixes imports with code using names from earlier, unexecuted cells breaks `nbdev_docs`. Keep imports in cells of
    their own (nbdev warns "Found cells containing imports and other code")."""
    assert not site["errors"], "nbdev_docs would stop here:\n\n" + "\n\n".join(f"{k}: {v}" for k, v in site["errors"].items())
    assert not site["mixed"], "cells that mix imports with other code (nbdev runs them while building the docs):\n\n" + \
        "\n\n".join(f"{k}: {v}" for k, v in site["mixed"].items())


def test_processed_site_holds_the_config_and_every_page(site):
    proc, q = site["proc"], quarto_yml()
    assert yaml.safe_load((proc / "_quarto.yml").read_text()) == q
    for page in q["project"]["render"]: assert (proc / page).is_file(), f"{page} missing from the processed site"


def test_processed_notebooks_render_to_html(site):
    pages = [p for p in quarto_yml()["project"]["render"] if p.endswith(".ipynb") and p not in site["errors"]]
    assert len(pages) >= 3
    for page in pages:   # (pages nbdev could not process fail test_every_file_processes_for_the_docs)
        nb = nbformat.read(site["proc"] / page, as_version=4)
        fm = yaml.safe_load(nb.cells[0].source.strip().strip("-")) if nb.cells[0].cell_type == "raw" else {}
        assert fm.get("title"), f"{page}: no title in its front matter (first markdown cell '# Title' or a raw YAML cell)"
        html = to_html(nb)
        assert "Traceback" not in html and len(html) > 2000, page
        if page[:2].isdigit():   # chapters: nbdev's show_doc ran (their exported API is documented on the page)
            shown = [c for c in nb.cells if c.cell_type == "code" and c.source.lstrip("#| echoflsa:tpu\n").startswith("show_doc")]
            assert all(c.get("outputs") for c in shown), f"{page}: show_doc cells without output"


def test_tutorial_front_matter_asks_quarto_to_execute_it(site):
    nb = nbformat.read(site["proc"] / "tutorial.ipynb", as_version=4)
    fm = yaml.safe_load(nb.cells[0].source.strip().strip("-"))
    assert fm["execute"]["enabled"] is True and fm["skip_exec"] is True


def test_tutorial_ran(site):
    nb = nbformat.read(site["tutorial"], as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a tutorial cell did not run"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = json.dumps(nb)
    assert "60 lesions of" in text and "102 features" in text and "Classify this breast lesion" in text
    html = to_html(nb)
    assert "<table" in html and "radiomics" in html


def test_example_page_was_executed_with_figures(site):
    fm, body = md_page(site["proc"] / "experiments" / "example.qmd")
    assert fm["title"] == "End-to-end example"
    template = nbformat.read(NBS / TEMPLATE, as_version=4)
    headings = [l for c in template.cells if c.cell_type == "markdown" for l in c.source.splitlines() if l.startswith("## ")]
    assert headings and all(h in body for h in headings), "the example page lacks sections of the template"
    blocks = body.split("```python\n")[1:]   # each code cell with what follows it: its outputs, then prose
    unshown = [b.split("\n```", 1)[0] for b in blocks if re.search(r"savefig\(|display\(Image", b.split("\n```", 1)[0])
               and "](data:image/png;base64," not in b.split("\n```", 1)[1].split("\n## ")[0]]
    assert not unshown, "cells of the template that make a figure but show none on the page:\n" + "\n---\n".join(unshown)
    assert body.count("](data:image/png;base64,") >= 2, "the example page shows fewer than two figures"
    assert "dataset = \"synthetic:60\"" in body, "papermill's injected (small) parameters are not on the page"
    assert "highest AUC" in body, "the written conclusion is missing"
    assert "Traceback" not in body and "Error" not in body.split("## 9.")[-1]
    html = to_html(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(body)]))
    assert html.count("<img") >= 2 and "<table" in html


# ---------------------------------------------------------------- links

def page_links(site) -> list:
    "(page, target) for every relative link in the markdown of every page (source notebooks and generated pages)."
    out = []
    for page in quarto_yml()["project"]["render"]:
        if page.endswith(".ipynb"):
            nb = nbformat.read(NBS / page, as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else: text = md_page(site["proc"] / page)[1]
        out += [(page, t) for t in LINK.findall(text) if not re.match(r"^(https?:|mailto:|#|data:)", t)]
    return out


def test_links_between_pages_resolve(site):
    render = set(quarto_yml()["project"]["render"])
    links = page_links(site)
    assert len(links) >= 10, "the tutorial and the generated pages link to the chapters"
    bad = []
    for page, target in links:
        path = target.split("#")[0]
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)).replace(os.sep, "/")
        stem = resolved.rsplit(".", 1)[0]
        ok = resolved in render or (resolved.endswith(".html") and {stem + ".ipynb", stem + ".qmd"} & render)
        if not ok: bad.append(f"{page}: ({target}) -> {resolved}")
    assert not bad, "links to pages that are not on the site:\n" + "\n".join(bad)


# ---------------------------------------------------------------- results

NUM = r"(-?\d+\.\d{3})"
CELL = re.compile(rf"^{NUM}(?: ± {NUM})? \({NUM} to {NUM}\)$")


def results_tables(body: str) -> dict:
    "{(dataset, arm): {column: cell}} from the results page's per-dataset tables."
    out, dataset, head = {}, None, None
    for line in body.splitlines():
        if line.startswith("## "): dataset, head = line[3:].strip(), None
        elif line.startswith("| arm |") and dataset: head = [h.strip() for h in line.strip("|").split("|")]
        elif line.startswith("| `") and head:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[(dataset, cells[0].strip("`"))] = dict(zip(head[1:], cells[1:]))
    return out


def test_results_page_numbers_come_from_the_committed_summary(site):
    summary = pd.read_csv(NBS / "results" / "summary.csv")
    fm, body = md_page(site["proc"] / "results.qmd")
    assert fm["title"] == "Results"
    tables = results_tables(body)
    names = {"auc": "AUC", "accuracy": "accuracy", "sensitivity": "sensitivity", "specificity": "specificity",
             "balanced_accuracy": "balanced accuracy", "brier": "Brier score"}
    shown = summary[summary.metric.isin(names)]
    assert len(tables) == summary.groupby(["dataset", "arm"]).ngroups and len(shown) > 0
    for r in shown.itertuples():
        m = CELL.match(tables[(r.dataset, r.arm)][names[r.metric]])
        assert m, f"{r.dataset}/{r.arm}/{r.metric}: cell does not parse"
        mean, sd, lo, hi = (float(v) if v else None for v in m.groups())
        assert (mean, lo, hi) == (round(r.mean, 3), round(r.ci_lo, 3), round(r.ci_hi, 3)), (r, m.group(0))
        assert (sd is None) == pd.isna(r.sd) and (sd is None or sd == round(r.sd, 3))
    for r in summary[summary.metric == "auc"].itertuples():
        row = tables[(r.dataset, r.arm)]
        if pd.isna(r.delong_p): assert row["DeLong p (median)"] == ""
        else:
            assert float(row["AUC diff vs radiomics"]) == round(r.auc_diff, 3)
            assert float(row["DeLong p (median)"]) == round(r.delong_p, 3)
            assert row["seeds with p < 0.05"] == f"{int(r.n_significant)}/{int(r.seeds)}"


def test_results_folder_holds_numbers_only():
    "Only the summary's numbers are committed (mini-MIAS images never are); the page's data is the committed csv."
    files = sorted(p.name for p in (NBS / "results").iterdir())
    assert files == ["study", "summary.csv", "summary.md"], files
    assert sorted(p.name for p in (NBS / "results" / "study").iterdir()) == ["summary.csv", "tests.csv"]
    s = pd.read_csv(NBS / "results" / "summary.csv")
    assert {"dataset", "arm", "metric", "seeds", "mean", "sd", "ci_lo", "ci_hi", "delong_p"} <= set(s.columns)


def test_study_page_numbers_come_from_the_committed_study(site):
    "Every AUC of nbs/results/study/summary.csv is on the study page, and its headline table is the README's."
    from radllm.study import ci_cell, load_results, readme_table
    summary, tests = load_results(NBS / "results" / "study")
    fm, body = md_page(site["proc"] / "study.qmd")
    assert fm["title"].startswith("Study")
    missing = [(r.dataset, r.design) for r in summary.itertuples() if ci_cell(r.auc, r.auc_lo, r.auc_hi) not in body]
    assert not missing, f"AUCs of the committed study missing from the page: {missing}"
    assert readme_table(summary, tests) in body
