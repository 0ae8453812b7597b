"""---
title: "Results"
description: "What the synthetic demo measured, over seeds, with confidence intervals and paired tests: generated from the committed run summary."
---"""  # noqa: E501 (YAML front matter: the description stays on one line)
# An nbdev "qpy" page: `nbdev_docs` executes this script while it processes nbs/ and what it prints becomes
# _proc/results.qmd. Every number comes from nbs/results/summary.csv and tests.csv, the summary `radllm report`
# wrote for the demo run (`make demo`), copied here by `make results`; nothing on this page is typed by hand.
# tests/test_site.py checks that the numbers printed are those of summary.csv. Run it alone to preview the page:
# `python nbs/results.qmd.py`. (nbdev runs it without __file__; the repository is found from settings.ini.)
import re
import sys
from pathlib import Path

import pandas as pd
from nbdev.config import get_config

sys.path.insert(0, str(get_config().nbs_path))   # nbdev runs this script without nbs/ on sys.path
from results_tables import captioned, embedded_figure, site_table
from radllm.figures import comparison_forest_figure
from radllm.fusion import ARMS
from radllm.tables import auc_table, ci_cell, diff_cell, markdown_table, metrics_table, p_cell

RESULTS = get_config().nbs_path / "results"


def dataset_tables(dataset: str, summary: pd.DataFrame, tests: pd.DataFrame) -> list:
    "The two tables of one dataset: the AUC and the paired tests first, then the other metrics."
    aucs = site_table(auc_table(summary, tests, dataset))
    others = site_table(metrics_table(summary, dataset, stacked=True))
    return [captioned(aucs, f"{dataset}: AUC per arm (95% CI counting lesions and splits; the per-repeat mean ± SD) "
                      "and the paired test against `radiomics` on the same folds (repeated DeLong)"),
            captioned(others, f"{dataset}: the threshold metrics (mean over repeats, corrected 95% CI below it; lower "
                      "is better for the Brier score)")]


def arm_table(arms) -> str:
    "What each arm of the summary is, from the arm registry (chapter 07)."
    titles = [ARMS[a].title if a in ARMS else "" for a in arms]
    return markdown_table(pd.DataFrame({"arm": [f"`{a}`" for a in arms], "what it is": titles}))


def reading(dataset: str, summary: pd.DataFrame, tests: pd.DataFrame) -> str:
    "A short reading of one dataset's numbers, computed from them."
    s = summary[summary.dataset == dataset].set_index("design")
    best = s.auc.idxmax()
    out = [f"On **{dataset}** ({int(s.repeats.max())} repeats), the highest AUC was `{best}`'s: "
           f"{ci_cell(s.auc[best], s.auc_lo[best], s.auc_hi[best])}."]
    for t in tests[tests.dataset == dataset].itertuples():
        verdict = ("" if t.p_holm < 0.05 else "not ") + "significant after Holm's correction"
        out.append(f"`{t.design}` vs `radiomics`: AUC difference {diff_cell(t.diff, t.diff_lo, t.diff_hi)}, p "
                   f"{p_cell(t.p)}, Holm {p_cell(t.p_holm)}: {verdict}.")
    return " ".join(out)


def forest(tests: pd.DataFrame) -> str:
    "The forest plot the page opens with: each arm's AUC difference to `radiomics`, per dataset, before any table."
    fig = comparison_forest_figure(tests)
    if fig is None: return ""
    datasets = ", ".join(tests.dataset.unique())
    return embedded_figure(
        fig, alt=f"Forest plot, one panel per dataset ({datasets}): each arm's AUC difference to radiomics as a point "
                 "with its 95% interval as a horizontal bar, and its Holm-corrected p in the label; the numbers are in "
                 "the tables below.",
        caption="Each arm's AUC minus `radiomics`' on the same folds, with its 95% interval from the repeated "
                "DeLong over every seed's repeats (chapter 09a) and Holm's p over the arms of the dataset.",
        ident="fig-forest")


def permutation_control(md: str) -> str:
    "The label-permutation line of summary.md (mean AUC with shuffled labels), if the report wrote one."
    m = re.search(r"^Label-permutation control.*$", md, re.MULTILINE)
    return m.group(0) if m else ""


def page(results: Path = RESULTS) -> str:
    csv, tests_csv = results / "summary.csv", results / "tests.csv"
    if not tests_csv.is_file(): raise FileNotFoundError(f"{tests_csv} not found: run `make demo` then `make results`")
    summary, tests = pd.read_csv(csv), pd.read_csv(tests_csv)
    md = (results / "summary.md").read_text() if (results / "summary.md").is_file() else ""
    datasets = ", ".join(summary.dataset.unique())
    parts = [forest(tests),
             f"These numbers come from `summary.csv` and `tests.csv` of a committed run summary ({datasets}). The demo "
             "makes such a run (`make demo`: `radllm run --dataset synthetic --seeds 0 1 2 --out runs/demo`, then "
             "`radllm report runs/demo`) and `make results` copies its summary into `nbs/results/`, from which this "
             "page is generated. The [end-to-end example](experiments/example.qmd) shows what one run does.",
             "**Read them for what they are.** The synthetic lesions are simulated by radllm itself (masses drawn from "
             "BI-RADS descriptors on simulated parenchyma), so these numbers show that the pipeline works end to end "
             "and that its controls behave; they say nothing about how any method performs on real mammograms. The "
             "report summarises a batch as the study summarises its designs (chapter 09): every seed's repeats are "
             "repeats of one procedure (seeds re-split the same lesions, they are not replications). For each dataset, "
             "the first table gives the procedure's AUC with its repeated-DeLong 95% interval and the paired test of "
             "each arm against `radiomics` on the same folds; the second gives the threshold metrics with their "
             "corrected intervals. A difference counts only where its Holm-corrected p says so.",
             arm_table(summary.design.unique())]
    for dataset in summary.dataset.unique():
        parts += [f"## {dataset}", *dataset_tables(dataset, summary, tests), reading(dataset, summary, tests)]
        if dataset.startswith("mini-mias"):
            parts.append("mini-MIAS is real (digitised film) data used under its research licence (Suckling J et al. "
                         "1994, Excerpta Medica ICS 1069:375-378); only numbers computed from it appear on this site, "
                         "never its images. It is a small cohort, so its confidence intervals are wide.")
    control = permutation_control(md)
    if control: parts += ["## Controls", control + "."]
    parts.append(f"*Source: `nbs/results/summary.csv` and `tests.csv` ({summary.dataset.nunique()} dataset(s), "
                 f"{summary.design.nunique()} arm(s), {len(tests)} paired tests).*")
    return "\n\n".join(parts) + "\n"


print(page())
