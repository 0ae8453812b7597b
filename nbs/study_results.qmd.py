"""---
title: "Study: can the language model add anything?"
description: "Which prompt style and which arm to choose, whether feature names matter, whether any language-model arm beats radiomics: 5 x 5 patient-grouped CV on the synthetic set and mini-MIAS, generated from the committed study numbers."
---"""  # noqa: E501 (YAML front matter: the description stays on one line)
# An nbdev "qpy" page: `nbdev_docs` executes this script while it processes nbs/ and what it prints becomes
# _proc/study_results.qmd. Every number comes from nbs/results/study/{summary,tests}.csv, written by `make study`
# (chapter 12, nbs/experiments/study.ipynb); nothing on this page is typed by hand. tests/test_site.py checks the
# numbers against the CSVs. Run it alone to preview the page: `python nbs/study_results.qmd.py`.
import sys

from nbdev.config import get_config

import pandas as pd
from radllm.study import (LEVEL_DESIGNS, LLM_RESULTS, STYLE_DESIGNS, CONTROL_DESIGNS, PRIMARY, controls_table,
                          PAPER_MARKS, llm_table, load_results, old_new_table, permutation_table, power_table,
                          readme_table, test_row)
from radllm.tables import ci_cell, design_table, diff_cell, markdown_table
from radllm.figures import comparison_forest_figure, comparisons_against
from radllm.statistics import format_p

sys.path.insert(0, str(get_config().nbs_path))   # nbdev runs this script without nbs/ on sys.path
from results_tables import embedded_figure

RESULTS = get_config().nbs_path / "results" / "study"
COVERAGE = get_config().nbs_path / "results" / "coverage.csv"
ARM_ORDER = ["radiomics", "text:levels", "concat:levels", "weighted:levels", "lora:levels",
             "text:names_values", "concat:names_values", "weighted:names_values", "lora:names_values"]
DATASETS = {"synthetic": "the built-in synthetic set ({lesions} lesions, {patients} patients, true outlines)",
            "mini-mias": "mini-MIAS ({lesions} lesions, {patients} patients, circles around the lesions)"}


def described(summary, ds) -> str:
    "The dataset's description with its lesion and patient counts read from the summary (never typed)."
    r = summary[(summary.dataset == ds) & (summary.design == "radiomics")].iloc[0]
    patients = int(r.patients) if "patients" in r and pd.notna(r.patients) else "?"
    return DATASETS[ds].format(lesions=int(r.lesions), patients=patients)


def auc(summary, ds, d) -> str:
    r = summary[(summary.dataset == ds) & (summary.design == d)]
    return "not run" if r.empty else f"AUC {ci_cell(r.auc.iloc[0], r.auc_lo.iloc[0], r.auc_hi.iloc[0])}"


def significant(t) -> bool:
    "Only a primary comparison whose Holm-corrected p is below 0.05 is called significant."
    return t.get("role") == "primary" and t.p_holm < 0.05


def vs(tests, ds, a, b, versus_dataset=None) -> str:
    "'difference (CI), p = ..., and what it may be called' of a paired test (repeated DeLong, chapter 09a)."
    t = test_row(tests, ds, a, b, versus_dataset)
    if t is None: return "not tested"
    p = format_p(t.p)
    text = f"ΔAUC {diff_cell(t['diff'], t.diff_lo, t.diff_hi)}, p {p if p.startswith('<') else '= ' + p}"
    if t.get("role") == "primary":
        text += f", Holm p {p_eq(t.p_holm)}, {'significant' if significant(t) else 'not significant'}"
    else: text += " (exploratory)"
    if t.get("equivalence") == "equivalent": text += "; equivalent within ±0.05 (90% CI)"
    return text


def p_eq(p) -> str: return format_p(p) if p < 0.001 else f"= {format_p(p)}"


def best(summary, ds, designs) -> str:
    s = summary[(summary.dataset == ds) & summary.design.isin(list(designs))]
    return s.loc[s.auc.idxmax(), "design"]


def answers(summary, tests, ds) -> str:
    "The questions of the study, answered from the numbers of one dataset."
    text_designs = list(STYLE_DESIGNS) + ["text:levels"]
    beat = tests[(tests.dataset == ds) & (tests.role == "primary") & (tests.p_holm < 0.05)] \
        if "role" in tests else tests.iloc[:0]
    lines = [f"**Which text?** The best `text` design here is `{best(summary, ds, text_designs)}`. `text:levels` "
             f"({auc(summary, ds, 'text:levels')}) against the paper's prompt `text:names_values` "
             f"({auc(summary, ds, 'text:names_values')}): "
             f"{vs(tests, ds, 'text:levels', 'text:names_values')}.",
             f"**Which arm?** Against `radiomics` ({auc(summary, ds, 'radiomics')}): " + "; ".join(
                 f"`{d}` {vs(tests, ds, d, 'radiomics')}"
                 for d in ("text:levels", "concat:levels", "weighted:levels", "lora:levels")) + ".",
             "**Do names matter?** `text:levels` against generic names (`text:levels-generic`): "
             f"{vs(tests, ds, 'text:levels', 'text:levels-generic')}; "
             "the paper's ablation, `text:names_values` against `text:generic_names`: "
             f"{vs(tests, ds, 'text:names_values', 'text:generic_names')}.",
             "**Does the language model's reading matter?** `text:levels` against the same sentences with random "
             "vectors "
             f"(`text:levels-random`): {vs(tests, ds, 'text:levels', 'text:levels-random')}.",
             "**Does LoRA add to the embeddings?** `lora:levels` against `text:levels`: "
             f"{vs(tests, ds, 'lora:levels', 'text:levels')}; "
             f"the paper's `lora:names_values` (one repeat): {auc(summary, ds, 'lora:names_values')}.",
             "**Does any language-model design beat `radiomics`?** Among the primary comparisons (each arm's `levels` "
             "design against `radiomics`, Holm-corrected): " + (
                 "yes: " + ", ".join(f"`{r.design}` ({r['diff']:+.3f}, Holm p {p_eq(r.p_holm)})" for _,
                                     r in beat[beat["diff"] > 0].iterrows())
                 if (beat["diff"] > 0).any() else "no design was significantly better than `radiomics`.") + (
                 " Significantly worse: " + ", ".join(f"`{r.design}` ({r['diff']:+.3f}, Holm p {p_eq(r.p_holm)})"
                                                      for _, r in beat[beat["diff"] < 0].iterrows()) + "."
                 if (beat["diff"] < 0).any() else "")]
    return "\n".join(f"- {l}" for l in lines)


def roi_table(summary, tests, base="mini-mias") -> str:
    "ROI variants and filtered images: AUC of radiomics and text:levels on each, and the test against the full ROI."
    rows = []
    order = ["roi=core", "roi=margin", "roi=peritumoral", "roi=full+margin+peritumoral", "image=wavelet", "image=log"]
    variants = [d for d in summary.dataset.unique() if d.startswith(base + "/")]
    variants.sort(key=lambda d: order.index(d.split("/", 1)[1]) if d.split("/", 1)[1] in order else len(order))
    for ds in [base] + variants:
        row = {"features": "full ROI (as given)" if ds == base else ds.split("/", 1)[1]}
        for d in ("radiomics", "text:levels"):
            row[f"{d} AUC (95% CI)"] = auc(summary, ds, d).replace("AUC ", "")
            row[f"{d} vs full ROI"] = "" if ds == base else vs(tests, ds, d, d, base).replace("ΔAUC ", "")
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def choose(summary, tests) -> str:
    "What a user should choose, with the numbers it rests on (the judgement is written; every number is read)."
    cost = summary[summary.dataset == "synthetic"].set_index("design")
    texts = lambda d: f"{int(cost.loc[d, 'n_texts'])} texts of {cost.loc[d, 'mean_tokens']:.0f} tokens"
    return "\n".join(f"- {l}" for l in [
        "**The text: `levels`** (radllm's default, `RunConfig.serializer`). Against `radiomics` on the synthetic set: "
        f"{vs(tests, 'synthetic', 'text:levels', 'radiomics')}; the paper's prompt of names and values: "
        f"{vs(tests, 'synthetic', 'text:names_values', 'radiomics')}. Over the 25 fits of a design it needs "
        f"{texts('text:levels')} where the paper's prompt needs {texts('text:names_values')}. **`levels` and its "
        "settings (three interpolated levels) were chosen in a screening on these same two datasets** (the synthetic "
        "set and mini-MIAS, 3 seeds x 5 folds; `nbs/results/screening.md`) after the paper's prompt failed on them, "
        "so this study is not an independent test of that choice: a fresh synthetic population (another generator "
        "seed) and real held-out mammograms are the open tests. The alternatives, exploratory: hard tertiles "
        f"{vs(tests, 'synthetic', 'text:levels-hard', 'text:levels')} (synthetic), "
        f"{vs(tests, 'mini-mias', 'text:levels-hard', 'text:levels')} (mini-MIAS); five levels "
        f"{vs(tests, 'synthetic', 'text:levels-5', 'text:levels')} (synthetic), "
        f"{vs(tests, 'mini-mias', 'text:levels-5', 'text:levels')} (mini-MIAS).",
        "**The arm: `radiomics`**, or `weighted` / `concat` on `levels` to keep a language model in the loop "
        "(synthetic: "
        f"`weighted:levels` {vs(tests, 'synthetic', 'weighted:levels', 'radiomics')}; `concat:levels` "
        f"{vs(tests, 'synthetic', 'concat:levels', 'radiomics')}). Read the equivalence notes: only a 90% interval "
        "inside ±0.05 supports \"as good as radiomics\"; otherwise the data cannot tell.",
        "**What the language model adds** is measured by the controls: the same sentences with random vectors "
        f"(synthetic: {vs(tests, 'synthetic', 'text:levels', 'text:levels-random')}) and with no model at all "
        f"(the interpolation weights themselves: {vs(tests, 'synthetic', 'text:levels', 'text:levels-nomodel')}). "
        "The `levels` vector is linear in the interpolation weights, so whatever lifts `levels` above the paper's "
        "prompt may come from how the values are written (a level per feature, one short sentence each) rather than "
        "from what the model knows about the words; the controls table below says how much is left for the model.",
        "**LoRA**: the paper's prompt with LoRA on MiniLM (`lora:names_values`, one repeat) "
        f"({auc(summary, 'synthetic', 'lora:names_values')} on the synthetic set); `LoraBagClassifier` on the "
        f"`levels` sentences against `text:levels`: {vs(tests, 'synthetic', 'lora:levels', 'text:levels')}.",
        "**ROI for circles**: the ROI variants on mini-MIAS are exploratory (table below); none is a primary "
        "comparison, so none is called significant. The full ROI stays the default."])


def coverage_part() -> list:
    "The coverage table of chapter 09a (make coverage), when it has been run."
    if not COVERAGE.is_file(): return ["The coverage study (`make coverage`) has not been run on this machine."]
    c = pd.read_csv(COVERAGE)
    three = "{:.3f}".format
    c = c.assign(coverage=c.coverage.map(three), mc_se=c.mc_se.map(three), mean_width=c.mean_width.map(three),
                 width_sd=c.get("width_sd", pd.Series(float("nan"), c.index)).map(three),
                 bias=c.bias.map("{:+.3f}".format))
    return [f"How often each 95% interval of the radiomics arm's AUC covered the procedure's true AUC, over "
            f"{int(c.datasets.iloc[0])} study-sized synthetic datasets drawn from one large synthetic population "
            "(chapter 09a, `make coverage`; `width_sd`: how much the interval's width varies between datasets):",
            markdown_table(c[["interval", "estimator", "datasets", "coverage", "mc_se", "mean_width", "width_sd",
                           "bias"]])]


def fresh_part() -> list:
    "The key designs on a synthetic population that took no part in choosing `levels` (tools/fresh_population.py)."
    folder = RESULTS.parent / "fresh"
    if not (folder / "summary.csv").is_file(): return ["Not run yet (`tools/fresh_population.py`)."]
    summary, tests = load_results(folder)
    ds = summary.dataset.iloc[0]
    return [f"`levels` was chosen on the synthetic set of generator seed 0 and on mini-MIAS. The same protocol on a "
            f"synthetic population from another generator seed (`{ds}`, {int(summary.lesions.iloc[0])} lesions, "
            "never used in development), with its own primary comparisons Holm-corrected:",
            markdown_table(design_table(summary, tests, ds, [d for d in ARM_ORDER + list(CONTROL_DESIGNS)
                                                          if d in set(summary.design)], marks=PAPER_MARKS)),
            "Against `radiomics`: " + "; ".join(f"`{d}` {vs(tests, ds, d, 'radiomics')}" for d in
                                              ("text:levels", "concat:levels", "weighted:levels")) + "."]


def forest(tests) -> str:
    """The forest plot the page opens with: each design's AUC difference to `radiomics` with its interval, one panel
    per dataset, before any table; its caption says which interval it is."""
    panels = [ds for ds in DATASETS if ds in set(tests.dataset)]
    fig = comparison_forest_figure(tests, panels=panels)
    if fig is None: return ""
    rows = comparisons_against(tests)
    n = rows[rows.dataset.isin(panels)].groupby("dataset").size()
    alt = (f"Forest plot, one panel per dataset ({', '.join(f'{ds}: {n[ds]} designs' for ds in panels)}): each "
           "design's AUC difference to radiomics as a point with its 95% interval as a horizontal bar, and its p in "
           "the label; the numbers are in the tables below.")
    caption = ("Each design's AUC minus `radiomics`' on the same folds, with its 95% interval from the corrected "
               "resampled paired t (chapter 09a), which includes the split-to-split variance; Holm's p for the "
               "primary comparisons (in colour), the plain p for the exploratory ones (grey).")
    return embedded_figure(fig, alt=alt, caption=caption, ident="fig-forest")


def llm_part() -> list:
    "SmolLM2-135M in each role, with its comparators, from nbs/results/llm/ (chapter 12, `make llm-study`)."
    if not (LLM_RESULTS / "summary.csv").is_file(): return ["Not run yet: `make llm-study` writes nbs/results/llm/."]
    summary, tests = load_results(LLM_RESULTS)
    parts = ["The installed decoder, SmolLM2-135M-Instruct, in each role the method gives a language model (chapter "
             "12): its zero-shot knowledge (`zeroshot`; with the feature names shuffled, `zeroshot_shuffled`), that "
             "score as a prior beside the features (`prior`), its hidden states as the embedding of the level "
             "sentences (`text:levels-smollm2`) and the paper's LoRA fine-tuning on it (`lora:smollm2`, one repeat "
             "of 5 folds). Same folds and estimators as the study; the tests against radiomics of these designs are "
             "one family, corrected with Holm. *seconds per fold*: wall time on two CPU cores shared with other "
             "work."]
    for ds in ("synthetic", "mini-mias"):
        table = llm_table(summary, tests, ds)
        if len(table): parts += [f"**{ds}**", markdown_table(table)]
    return parts


def page() -> str:
    summary, tests = load_results(RESULTS)
    wall = summary.assign(family=summary.dataset.str.split("/").str[0]).groupby("family").seconds.sum()
    primary = ", ".join(f"`{d}`" for d in PRIMARY)
    parts = [
        forest(tests),
        "This page answers the question radllm exists for, from the committed numbers of the study of "
        "[chapter 12](12_study.ipynb) (`make study`: every design below on identical folds, **5 x 5 repeated "
        "cross-validation grouped by patient**, every fitted step inside the training folds). Every number is the "
        "**procedure's** (chapter 09a): the AUC is the mean over repeats of each repeat's out-of-fold AUC, with the "
        "repeated-DeLong 95% interval: the DeLong variance of each lesion's placements averaged over the repeats, "
        "clustered by patient, plus the split-to-split variance of the per-repeat AUCs; two designs are compared by "
        "the same paired test on the same folds (with one shared repeat, the corrected resampled t of its folds); "
        "accuracy, sensitivity and specificity (at thresholds chosen on the training folds) are means over repeats "
        "with the corrected resampled-t interval of their per-fold values. "
        f"**Primary comparisons, named before the numbers:** {primary} against `radiomics`, on each dataset, "
        "Holm-corrected together; every other test on this page is exploratory and is never called significant. "
        f"The designs' fits took {wall.get('synthetic', float('nan')) / 60:.0f} min (synthetic) and "
        f"{wall.get('mini-mias', float('nan')) / 60:.0f} min (mini-MIAS) in all (each design's own time, summed) on "
        "two shared CPU cores. Designs marked *(paper)* use Ra et al.'s prompt of feature names and values; "
        "`lora:names_values` is the paper's prompt with LoRA on MiniLM (the paper used a LLaMA-class model), one "
        "repeat of 5 folds for its cost.",
        "**Read them for what they are.** The synthetic lesions are simulated by radllm itself, so its numbers say "
        "whether a pathway can carry the information at all, not how well it reads real mammograms; mini-MIAS is "
        "small, so only large differences could show there (the power table gives the smallest detectable "
        "difference of each primary comparison).",
        "## What to choose", choose(summary, tests),
    ]
    if "role" in tests:
        parts += ["## Primary comparisons, power and equivalence", markdown_table(power_table(tests))]
    for ds in DATASETS:
        if ds not in set(summary.dataset): continue
        parts += [f"## {ds}: {described(summary, ds)}", "### The answers", answers(summary, tests, ds),
                  "### The arms", markdown_table(design_table(summary, tests, ds, ARM_ORDER, marks=PAPER_MARKS)),
                  "### Text pathways (the `text` arm)",
                  markdown_table(design_table(summary, tests, ds, list(STYLE_DESIGNS) + list(LEVEL_DESIGNS)
                                              + [d for d in CONTROL_DESIGNS if d.startswith("text:")],
                                              marks=PAPER_MARKS))]
        if "auc_pooled" in summary:
            parts += ["### What the language model adds: controls (exploratory)",
                      "Each `levels` arm with the language model's vectors, with random vectors and with no model "
                      "(the classifier on the interpolation weights). LoRA fine-tunes the encoder itself: its random "
                      "control is the same fine-tuning of a randomly initialised encoder, its no-model control "
                      "`text:levels-nomodel`.", markdown_table(controls_table(summary, tests, ds)),
                      "### Permutation nulls (labels permuted by patient)",
                      markdown_table(permutation_table(summary, ds)) if len(permutation_table(summary, ds))
                      else "Not run in this study.",
                      "### Before and after #19",
                      "The numbers this page published before (AUC of the probabilities averaged over the 5 repeats, "
                      "plain DeLong) beside the procedure's AUC with the corrected interval:",
                      markdown_table(old_new_table(summary, tests, ds, ARM_ORDER))]
    if any(d.startswith("mini-mias/") for d in summary.dataset):
        parts += ["## ROI variants on mini-MIAS",
                  "mini-MIAS gives each lesion as an enclosing circle. The same two designs on the features of other "
                  "regions "
                  "(chapter 03: the core disc, the margin band across the circle, the peritumoral ring outside it, the "
                  "three "
                  "outline regions together) and with filtered images (wavelet, 2D LoG), each tested against the full "
                  "circle on "
                  "the same folds:", roi_table(summary, tests)]
    if any(d.startswith("synthetic/") for d in summary.dataset):
        v = "synthetic/roi=full+margin+peritumoral"
        parts += ["On the synthetic set (true outlines), the three outline regions together: " + "; ".join(
            f"`{d}` {auc(summary, v, d)} ({vs(tests, v, d, d, 'synthetic')} against the full ROI)"
            for d in ("radiomics", "text:levels")) + "."]
    parts += ["## A real LLM in every role (issue #20)"] + llm_part()
    parts += ["## A fresh synthetic population"] + fresh_part()
    parts += ["## Do the intervals cover?"] + coverage_part()
    parts += ["## The headline table", "The README's first table, made from the same numbers:",
              readme_table(summary, tests),
              "Columns *texts* and *tokens* of the tables above: the distinct texts a design sent to the embedding "
              "model over its "
              "25 fits (whoever embedded them first: the cache serves repeats) and their mean MiniLM token count; "
              "*seconds*: the "
              "design's wall time in the study."]
    return "\n\n".join(parts)


print(page())
