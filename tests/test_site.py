"""The documentation site, tested short of a browser (tests/test_site_render.py renders it with Quarto and checks it
in Chromium).

`_quarto.yml` (repo root, linked as nbs/_quarto.yml where nbdev looks) is the one source of the site. These tests
- parse it and check its pages: every listed page exists, every page in nbs/ is listed, the sidebar is the reading
  order;
- check nbdev keeps it: `refresh_quarto_yml` leaves the link alone and `custom_sidebar` stops nbdev writing a sidebar;
- check it names no address that does not exist: no repository link while settings.ini has no git_url;
- take the site built by the `site` fixture (conftest.py): every file of nbs/ processed with nbdev's own per-file code
  (what `nbdev_docs` runs before `quarto render`), which executes the two generated pages (the end-to-end example and
  the results page), and the tutorial executed (by Quarto where it renders the site, else by papermill); render the
  processed notebooks and pages to HTML with nbconvert;
- check that links between pages resolve and that the results page's numbers are those of nbs/results/summary.csv.
Every page's code ran: the tutorial and the end-to-end example are executed here; the chapter notebooks (00_config ...
11_cli) and index are executed by tests/test_notebooks.py (as `nbdev_test` runs them); the results page is generated
here.
"""
import os, re, sys
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
    cp = ConfigParser()
    cp.read(ROOT / "settings.ini")
    return dict(cp["DEFAULT"])


def sidebar_pages(contents) -> list:
    "The sidebar's pages in order, sections flattened."
    out = []
    for c in contents:
        if isinstance(c, str): out.append(c)
        elif "contents" in c: out += sidebar_pages(c["contents"])
        else: out.append(c["href"])
    return out


def source_pages() -> list:
    ("The pages nbs/ holds: notebooks (not in _/. folders, not the papermill template) and nbdev qpy scripts (x.qmd.py "
     "-> x.qmd).")
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
    assert not unlisted, \
        f"pages in nbs/ that _quarto.yml does not list (add them to project.render and the sidebar): {unlisted}"
    assert len(render) == len(set(render))
    assert sidebar_pages(q["website"]["sidebar"]["contents"]) == render, "the sidebar and project.render differ"
    for item in q["website"]["navbar"]["left"]: assert item["href"] in render, item


def test_sidebar_is_the_reading_order():
    pages = sidebar_pages(quarto_yml()["website"]["sidebar"]["contents"])
    # a lettered part (09a, 09b) is read next to its chapter
    chapters = [p for p in pages if p[:2].isdigit()]
    assert sorted(chapters) == sorted(p.name for p in NBS.glob("[0-9][0-9]*_*.ipynb")), \
        "the sidebar and the chapters in nbs/ differ"
    numbers = [int(c[:2]) for c in chapters]
    assert numbers == sorted(numbers), f"chapters are not in the order of their numbers: {chapters}"
    assert sorted(set(numbers)) == list(range(len(set(numbers)))), \
        f"chapters are not numbered 00.. without gaps: {chapters}"
    assert chapters[0] == "00_config.ipynb" and chapters[-2:] == ["12_study.ipynb", "13_testing.ipynb"]
    # the statistics before the protocol that uses them, its figures after
    i = chapters.index("09_evaluation.ipynb")
    assert chapters[i - 1:i + 2] == ["09a_statistics.ipynb", "09_evaluation.ipynb", "09b_figures.ipynb"]
    assert pages == ["index.ipynb", "tutorial.ipynb", *chapters, "experiments/example.qmd", "results.qmd",
                     "study_results.qmd"]


def test_nbdev_uses_the_root_quarto_yml(tmp_path):
    "nbs/_quarto.yml is the root file; nbdev's refresh keeps it, writes no sidebar, and the site lands in doc_path."
    link, cfg, q = NBS / "_quarto.yml", settings(), quarto_yml()
    assert link.is_symlink() and link.resolve() == (ROOT / "_quarto.yml").resolve()
    assert "custom_quarto_yml" not in cfg, \
        "nbdev 2.4 keeps an existing nbs/_quarto.yml by itself and nags about this key"
    assert cfg["custom_sidebar"].lower() == "true", \
        "without custom_sidebar nbdev writes an alphabetical nbs/sidebar.yml"
    assert q["project"]["output-dir"] == cfg["doc_path"], "nbdev_docs moves _proc/<doc_path> to the repo root"
    site = q["website"]
    assert (site["title"], site["description"]) == (cfg["title"], cfg["description"])
    if cfg["git_url"]: assert (site["repo-url"], site.get("repo-branch", "main")) == (cfg["git_url"], cfg["branch"])
    if cfg["doc_host"].startswith("http"): assert site["site-url"] == cfg["doc_host"] + cfg["doc_baseurl"]
    else: assert "site-url" not in site, "the site is not published (settings.ini's doc_host is not an address)"
    assert "metadata-files" not in q, "the site config is self-contained (nbdev.yml/sidebar.yml are not used)"
    before = (ROOT / "_quarto.yml").read_text()
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    sidebar = NBS / "sidebar.yml"
    existed = sidebar.exists()
    refresh_quarto_yml()
    nbdev_sidebar.__wrapped__()
    assert link.is_symlink() and (ROOT / "_quarto.yml").read_text() == before
    assert sidebar.exists() == existed, "nbdev_sidebar wrote nbs/sidebar.yml despite custom_sidebar"


REPO_HOSTS = re.compile(r"https?://(?:www\.)?(?:github\.com|gitlab\.com|bitbucket\.org|[a-z0-9-]+\.github\.io)/[^\s)\"'>]*")


def test_no_repository_address_while_settings_has_none():
    """settings.ini is the one place for the repository's address (git_url). While it has none, neither the site's
    configuration (repo-url, "Report an issue", a navbar link) nor any page, script or the README names one; with one,
    every repository address they name is under it."""
    cfg, site = settings(), quarto_yml()["website"]
    sources = [ROOT / "_quarto.yml", ROOT / "README.md", ROOT / "settings.ini",
               *(p for p in NBS.rglob("*")
                 if p.is_file() and p.suffix in {".ipynb", ".py", ".md", ".yml", ".yaml", ".lua"}
                 and ".ipynb_checkpoints" not in p.parts)]
    found = {f"{p.relative_to(ROOT)}: {u}" for p in sources for u in REPO_HOSTS.findall(p.read_text(errors="ignore"))
             if not (cfg["git_url"] and u.startswith(cfg["git_url"]))}
    assert not found, "repository addresses that settings.ini's git_url does not give:\n" + "\n".join(sorted(found))
    if not cfg["git_url"]:
        assert not {"repo-url", "repo-actions",
                    "site-url"} & set(site), "the site names a repository or address it does not have"
        assert not [i for i in site["navbar"].get("right", []) + site["navbar"].get("left", []) if "icon" in i], \
            "a navbar icon link"


# ---------------------------------------------------------------- processing, execution, HTML

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
    assert not site["errors"], "nbdev_docs would stop here:\n\n" \
        + "\n\n".join(f"{k}: {v}" for k, v in site["errors"].items())
    assert not site["mixed"], ("cells that mix imports with other code (nbdev runs them while building the docs):\n\n"
                               + "\n\n".join(f"{k}: {v}" for k, v in site["mixed"].items()))


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
        assert fm.get("title"), \
            f"{page}: no title in its front matter (first markdown cell '# Title' or a raw YAML cell)"
        html = to_html(nb)
        failed = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error" or "Traceback" in str(o.get("text", "")) + str(o.get("data", ""))]
        # an output shows an error (the source may say 'Traceback')
        assert not failed and len(html) > 2000, (page, failed[:1])
        if page[:2].isdigit():   # chapters: nbdev's show_doc ran (their exported API is documented on the page)
            shown = [c for c in nb.cells
                     if c.cell_type == "code" and c.source.lstrip("#| echoflsa:tpu\n").startswith("show_doc")]
            assert all(c.get("outputs") for c in shown), f"{page}: show_doc cells without output"


def test_tutorial_front_matter_asks_quarto_to_execute_it(site):
    nb = nbformat.read(site["proc"] / "tutorial.ipynb", as_version=4)
    fm = yaml.safe_load(nb.cells[0].source.strip().strip("-"))
    assert fm["execute"]["enabled"] is True and fm["skip_exec"] is True


def test_tutorial_ran(site):
    "Executed by papermill (no Quarto here) or by Quarto while it rendered the site (a cell error stops that render)."
    if site["tutorial"] is None:
        if site["docs"] is None: pytest.fail(f"Quarto could not render the site:\n{site['render']['log'][-5000:]}")
        html = (site["docs"] / "tutorial.html").read_text()
        assert "Traceback" not in html and 'class="cell-output cell-output-error"' not in html
    else:
        nb = nbformat.read(site["tutorial"], as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), "a tutorial cell did not run"
        assert not [o for c in code for o in c.outputs if o.output_type == "error"]
        html = to_html(nb)
    assert "60 lesions of" in html and "102 features" in html and "Classify this breast lesion" in html
    assert "<table" in html and "radiomics" in html


def test_example_page_was_executed_with_figures(site):
    fm, body = md_page(site["proc"] / "experiments" / "example.qmd")
    assert fm["title"] == "End-to-end example"
    template = nbformat.read(NBS / TEMPLATE, as_version=4)
    headings = [l for c in template.cells if c.cell_type == "markdown"
                for l in c.source.splitlines() if l.startswith("## ")]
    assert headings and all(h in body for h in headings), "the example page lacks sections of the template"
    blocks = body.split("```python\n")[1:]   # each code cell with what follows it: its outputs, then prose
    unshown = [b.split("\n```", 1)[0] for b in blocks if re.search(r"savefig\(|display\(Image", b.split("\n```", 1)[0])
               and "](data:image/png;base64," not in b.split("\n```", 1)[1].split("\n## ")[0]]
    assert not unshown, "cells of the template that make a figure but show none on the page:\n" \
        + "\n---\n".join(unshown)
    assert body.count("](data:image/png;base64,") >= 2, "the example page shows fewer than two figures"
    assert re.search(r'^config = \{"dataset": "synthetic:60"', body,
                     re.M), "papermill's injected (small) config is not on the page"
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
CELL = re.compile(rf"^{NUM} \({NUM} to {NUM}\)$")                   # 'v (lo to hi)'
STACKED = re.compile(rf"^{NUM}<br><small>{NUM} to {NUM}</small>$")    # the value, its interval below it


def results_tables(body: str) -> dict:
    "{(dataset, table, design): {column: cell}} from the results page's tables; table is 'auc' or 'metrics'."
    out, dataset, head = {}, None, None
    for line in body.splitlines():
        if line.startswith("## "): dataset, head = line[3:].strip(), None
        elif line.startswith("| design |") and dataset: head = [h.strip() for h in line.strip("|").split("|")]
        elif line.startswith("| `") and head and len(head) > 2:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[(dataset, "auc" if head[1] == "repeats" else "metrics", cells[0].strip("`"))] = dict(zip(head[1:],
                                                                                                       cells[1:]))
        elif not line.startswith("|"): head = head if not line.strip() else None
    return out


def shown(pattern, cell: str, *values) -> bool:
    "`cell` matches `pattern` and shows `values` rounded to three decimals."
    m = pattern.match(cell)
    return bool(m) and m.groups() == tuple(f"{v:.3f}" for v in values)


def test_results_page_numbers_come_from_the_committed_summary(site):
    """Per dataset, the AUC table first (its CI and the paired test against radiomics), then the other metrics; every
    number is the committed summary's or tests', rounded."""
    from radllm.statistics import METRICS, metric_names
    summary = pd.read_csv(NBS / "results" / "summary.csv")
    tests = pd.read_csv(NBS / "results" / "tests.csv")
    fm, body = md_page(site["proc"] / "results.qmd")
    assert fm["title"] == "Results"
    tables = results_tables(body)
    assert len(tables) == 2 * len(summary), "one AUC row and one row of the other metrics per dataset and arm"
    for dataset in summary.dataset.unique():
        section = body.split(f"## {dataset}\n", 1)[1].split("\n## ", 1)[0]
        assert section.index("| design | repeats |") < section.index("| design | accuracy"), "the AUC table first"
    for r in summary.itertuples():
        row = tables[(r.dataset, "auc", r.design)]
        assert shown(CELL, row["AUC (95% CI)"], r.auc, r.auc_lo, r.auc_hi), (r.design, row)
        t = tests[(tests.dataset == r.dataset) & (tests.design == r.design)]
        diff = row["ΔAUC vs radiomics (95% CI)"]
        if t.empty: assert diff == row["p"] == "", row
        else:
            t = t.iloc[0]
            assert diff == f"{t['diff']:+.3f} ({t.diff_lo:+.3f} to {t.diff_hi:+.3f})", (diff, t)
            assert row["p"] == "< 0.001" if t.p < 0.001 else float(row["p"]) == round(t.p, 3)
        metrics = tables[(r.dataset, "metrics", r.design)]
        for m in metric_names(summary=True):
            v, lo, hi = getattr(r, m), getattr(r, f"{m}_lo"), getattr(r, f"{m}_hi")
            assert shown(STACKED, metrics[METRICS[m].title], v, lo, hi), (r.design, m, metrics)


def test_results_tables_of_any_summary():
    """The results page's tables (radllm.tables through nbs/results_tables.py) on a small summary: an arm without some
    metrics, a tiny p-value, the baseline untested."""
    from radllm import tables
    sys.path.insert(0, str(NBS))
    try: from results_tables import captioned, site_table
    finally: sys.path.remove(str(NBS))
    row = lambda design, auc, **kw: dict(dataset="d", design=design, repeats=3, auc=auc, auc_lo=auc - 0.1,
                                         auc_hi=auc + 0.1, auc_repeat_mean=auc, auc_repeat_sd=0.01, **kw)
    s = pd.DataFrame([row("radiomics", 0.8, accuracy=0.7, accuracy_lo=0.6, accuracy_hi=0.8),
                      row("lora", 0.6, brier=0.25, brier_lo=0.15, brier_hi=0.35)])
    tests = pd.DataFrame([dict(dataset="d", versus_dataset="d", design="lora", versus="radiomics", diff=-0.2,
                               diff_lo=-0.3, diff_hi=-0.1, p=1e-5)])
    auc, other = site_table(tables.auc_table(s, tests, "d")), site_table(tables.metrics_table(s, "d", stacked=True))
    assert auc.splitlines()[2] == "| `radiomics` | 3 | 0.800 (0.700 to 0.900) | 0.800 ± 0.010 |  |  |"
    assert auc.splitlines()[3] == ("| `lora` | 3 | 0.600 (0.500 to 0.700) | 0.600 ± 0.010 | -0.200 (-0.300 to -0.100) "
                                   "| < 0.001 |")
    assert other.splitlines()[0].startswith("| design | accuracy | sensitivity |")
    assert other.splitlines()[3].endswith("|  | 0.250<br><small>0.150 to 0.350</small> |")
    assert captioned(auc, "AUC").endswith("\n\n: AUC {.numbers}")


def test_results_folder_holds_numbers_only():
    "Only the summary's numbers are committed (mini-MIAS images never are); the page's data is the committed csv."
    files = sorted(p.name for p in (NBS / "results").iterdir())
    coverage = ["coverage.csv", "coverage_runs.csv", "coverage_runs.truth.json",       # make coverage (#19)
                "fresh",                                                      # tools/fresh_population.py (#19)
                "llm"]                                                        # tools/llm_study.py (#20)
    assert [f for f in files if f not in coverage] == ["demo_batch.yaml", "screening.md", "study", "summary.csv",
                                                       "summary.md", "tests.csv"], files
    assert sorted(p.name for p in (NBS / "results" / "study").iterdir()) == ["summary.csv", "tests.csv"]
    assert sorted(p.name for p in (NBS / "results" / "llm").iterdir()) == ["summary.csv", "tests.csv"]
    s = pd.read_csv(NBS / "results" / "summary.csv")
    assert {"dataset", "design", "repeats", "auc", "auc_lo", "auc_hi", "auc_estimator"} <= set(s.columns)


def test_study_page_numbers_come_from_the_committed_study(site):
    "Every AUC of nbs/results/study/summary.csv is on the study page, and its headline table is the README's."
    from radllm.study import ci_cell, load_results, readme_table
    summary, tests = load_results(NBS / "results" / "study")
    fm, body = md_page(site["proc"] / "study_results.qmd")
    assert fm["title"].startswith("Study")
    missing = [(r.dataset, r.design) for r in summary.itertuples() if ci_cell(r.auc, r.auc_lo, r.auc_hi) not in body]
    assert not missing, f"AUCs of the committed study missing from the page: {missing}"
    assert readme_table(summary, tests) in body


@pytest.mark.parametrize("page,tests", [("study_results.qmd", "study/tests.csv"), ("results.qmd", "tests.csv")])
def test_results_pages_open_with_a_forest_plot(site, page, tests):
    """The study and results pages open with the forest plot of each design against radiomics, before any table, with
    alt text and a caption naming the interval (the study's: the corrected t, with Holm's p for the primary tests)."""
    fm, body = md_page(site["proc"] / page)
    figure = body.index("](data:image/png;base64,")
    assert body.lstrip().startswith("![") and figure < body.index("\n|"), "the forest plot comes before any table"
    caption, attrs = body[:figure], body[figure:].split(")", 1)[1].split("}", 1)[0]
    assert attrs.startswith("{#fig-forest") and 'fig-alt="Forest plot' in attrs, attrs
    assert "95% interval" in caption
    assert "p_holm" in pd.read_csv(NBS / "results" / tests).columns and "Holm's p" in caption, caption


def test_published_demo_results_are_what_demo_yaml_runs(tmp_path):
    """The committed results page's numbers (nbs/results/summary.*) come from a batch whose recorded settings are
    nbs/experiments/demo.yaml's, reported with the estimators of #19 (corrected interval and test): change demo.yaml
    or the estimators and this fails until `make demo` and `make results` are rerun (and batch.yaml copied)."""
    from radllm.config import RunConfig
    from radllm.runs import batch_settings, config_differences, recorded_batch
    (tmp_path / "batch.yaml").write_text((NBS / "results" / "demo_batch.yaml").read_text())
    recorded = recorded_batch(tmp_path)
    assert not config_differences(recorded, batch_settings(RunConfig.from_yaml(NBS / "experiments" / "demo.yaml")))
    s, t = pd.read_csv(NBS / "results" / "summary.csv"), pd.read_csv(NBS / "results" / "tests.csv")
    assert {"auc_lo", "auc_hi", "auc_estimator"} <= set(s.columns) and {"diff_lo", "diff_hi", "p", "p_holm"} <= set(t)
