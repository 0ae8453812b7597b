"""---
title: "Results"
description: "What the synthetic demo measured, over seeds, with confidence intervals and paired tests: generated from the committed run summary."
---"""  # noqa: E501 (YAML front matter: the description stays on one line)
# An nbdev "qpy" page: `nbdev_docs` executes this script while it processes nbs/ and what it prints becomes
# _proc/results.qmd. Every number comes from nbs/results/summary.csv, the summary `radllm report` wrote for the
# demo run (`make demo`), copied here by `make results`; nothing on this page is typed by hand.
# tests/test_site.py checks that the numbers printed are those of summary.csv. Run it alone to preview the page:
# `python nbs/results.qmd.py`. (nbdev runs it without __file__; the repository is found from settings.ini.)
import re, sys
from pathlib import Path

import pandas as pd
from nbdev.config import get_config

sys.path.insert(0, str(get_config().nbs_path))   # nbdev runs this script without nbs/ on sys.path
from results_tables import captioned, embedded_figure, site_table
from radllm.figures import comparison_forest_figure
from radllm.fusion import ARMS
from radllm.statistics import holm
from radllm.tables import auc_interval, auc_table, markdown_table, metrics_table, p_cell

RESULTS = get_config().nbs_path / "results"



def dataset_tables(dataset: str, s: pd.DataFrame) -> list:
    "The two tables of one dataset: the AUC and the paired tests first, then the other metrics."
    aucs, others = site_table(auc_table(s)), site_table(metrics_table(s, stacked=True))
    return [captioned(aucs, f"{dataset}: AUC per arm (mean ± SD over seeds, 95% CI counting lesions and splits) and "
                      "the paired tests against `radiomics`: repeated DeLong for the AUC, McNemar for the errors"),
            captioned(others, f"{dataset}: the other metrics (mean over seeds, median per-run 95% CI below it; lower "
                      "is better for the Brier score)")]


def arm_table(arms) -> str:
    "What each arm of the summary is, from the arm registry (chapter 07)."
    titles = [ARMS[a].title if a in ARMS else "" for a in arms]
    return markdown_table(pd.DataFrame({"arm": [f"`{a}`" for a in arms], "what it is": titles}))


def reading(dataset: str, s: pd.DataFrame) -> str:
    "A short reading of one dataset's numbers, computed from them."
    auc = s[s.metric == "auc"].set_index("arm")
    best = auc["mean"].idxmax()
    seeds = int(auc["seeds"].max())
    out = [f"On **{dataset}** ({seeds} seed{'s' * (seeds != 1)}), the highest mean AUC was `{best}`'s: "
           f"{auc.loc[best, 'mean']:.3f} (95% CI {auc_interval(auc.loc[best])})."]
    tested = auc.drop(index="radiomics", errors="ignore")
    tested = tested[tested.get("p_corrected", pd.Series(dtype=float)).notna()] if "p_corrected" in tested else \
        tested.iloc[:0]
    for (arm, r), p_holm in zip(tested.iterrows(), holm(tested.p_corrected.to_numpy()) if len(tested) else []):
        verdict = "significant after Holm's correction" if p_holm < 0.05 else "not significant after Holm's correction"
        out.append(f"`{arm}` vs `radiomics`: mean AUC difference {r['auc_diff']:+.3f} (95% CI {r['diff_lo']:+.3f} to "
                   f"{r['diff_hi']:+.3f}, corrected p {p_cell(r['p_corrected'])}, Holm {p_cell(p_holm)}): {verdict}.")
    return " ".join(out)


def comparisons(summary: pd.DataFrame) -> pd.DataFrame:
    """The paired tests of the summary as a table of comparisons (chapter 09b): one row per dataset and arm tested
    against `radiomics`, with Holm's p over the arms of its dataset (as `reading` computes it)."""
    auc = summary[(summary.metric == "auc") & summary.p_corrected.notna()]
    t = pd.DataFrame({"dataset": auc.dataset, "design": auc.arm, "versus": "radiomics", "diff": auc.auc_diff,
                      "diff_lo": auc.diff_lo, "diff_hi": auc.diff_hi, "p": auc.p_corrected})
    return t.assign(p_holm=t.groupby("dataset", sort=False).p.transform(lambda p: holm(p.to_numpy())))


def forest(summary: pd.DataFrame) -> str:
    "The forest plot the page opens with: each arm's AUC difference to `radiomics`, per dataset, before any table."
    if "p_corrected" not in summary:
        return ("*This summary predates the corrected estimator of chapter 09a (it has no `p_corrected` column), so "
                "no forest plot is drawn: rerun `make demo` and `make results`.*")
    t = comparisons(summary)
    fig = comparison_forest_figure(t)
    if fig is None: return ""
    datasets = ", ".join(t.dataset.unique())
    return embedded_figure(
        fig, alt=f"Forest plot, one panel per dataset ({datasets}): each arm's AUC difference to radiomics as a point "
                 "with its 95% interval as a horizontal bar, and its Holm-corrected p in the label; the numbers are in "
                 "the tables below.",
        caption="Each arm's AUC minus `radiomics`' on the same folds (mean over seeds), with its 95% interval from "
                "the repeated DeLong over all seeds (chapter 09a) and Holm's p over the arms of the "
                "dataset.", ident="fig-forest")


def permutation_control(md: str) -> str:
    "The label-permutation line of summary.md (mean AUC with shuffled labels), if the report wrote one."
    m = re.search(r"^Label-permutation control.*$", md, re.MULTILINE)
    return m.group(0) if m else ""


def page(results: Path = RESULTS) -> str:
    csv = results / "summary.csv"
    if not csv.is_file(): raise FileNotFoundError(f"{csv} not found: run `make demo` then `make results`")
    summary = pd.read_csv(csv)
    md = (results / "summary.md").read_text() if (results / "summary.md").is_file() else ""
    datasets = ", ".join(summary.dataset.unique())
    n_seeds = int(summary.seeds.max())
    parts = [forest(summary),
             f"These numbers come from `summary.csv` of a committed run summary: {datasets}, {n_seeds} "
             f"seed{'s' * (n_seeds != 1)}. "
             "The demo makes such a run (`make demo`: `radllm run --dataset synthetic --seeds 0 1 2 --out runs/demo`, "
             "then "
             "`radllm report runs/demo`) and `make results` copies its summary into `nbs/results/`, from which this "
             "page is "
             "generated. The [end-to-end example](experiments/example.qmd) shows what one run does.",
             "**Read them for what they are.** The synthetic lesions are simulated by radllm itself (masses drawn from "
             "BI-RADS descriptors on simulated parenchyma), so these numbers show that the pipeline works end to end "
             "and "
             "that its controls behave; they say nothing about how any method performs on real mammograms. For each "
             "dataset, the first table gives the procedure's AUC (mean ± SD over seeds, with the repeated-DeLong "
             "95% interval over all seeds: seeds re-split the same lesions, they are not replications) and the "
             "paired tests of each arm against `radiomics` on the same folds (repeated DeLong for the AUC, McNemar for "
             "the errors); the second gives the other metrics (mean over seeds, with the median per-run patient-level "
             "bootstrap CI below). A difference counts only where its Holm-corrected p says so.",
             arm_table(summary.arm.unique())]
    for dataset, s in summary.groupby("dataset", sort=False):
        parts += [f"## {dataset}", *dataset_tables(dataset, s), reading(dataset, s)]
        if dataset.startswith("mini-mias"):
            parts.append("mini-MIAS is real (digitised film) data used under its research licence (Suckling J et al. "
                         "1994, "
                         "Excerpta Medica ICS 1069:375-378); only numbers computed from it appear on this site, never "
                         "its "
                         "images. It is a small cohort, so its confidence intervals are wide.")
    control = permutation_control(md)
    if control: parts += ["## Controls", control + "."]
    parts.append(f"*Source: `nbs/results/summary.csv` ({len(summary)} rows: {summary.dataset.nunique()} dataset(s), "
                 f"{summary.arm.nunique()} arm(s), {summary.metric.nunique()} metrics).*")
    return "\n\n".join(parts) + "\n"


print(page())
