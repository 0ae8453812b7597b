"""---
title: "Study: can the language model add anything?"
description: "Which prompt style and which arm to choose, whether feature names matter, whether any language-model arm beats radiomics: 5 x 5 patient-grouped CV on the synthetic set and mini-MIAS, generated from the committed study numbers."
---"""  # noqa: E501 (YAML front matter: the description stays on one line)
# An nbdev "qpy" page: `nbdev_docs` executes this script while it processes nbs/ and what it prints becomes
# _proc/study_results.qmd. Every number comes from nbs/results/study/{summary,tests}.csv, written by `make study`
# (chapter 12, nbs/experiments/study.ipynb); nothing on this page is typed by hand. tests/test_site.py checks the
# numbers against the CSVs. Run it alone to preview the page: `python nbs/study_results.qmd.py`.
from nbdev.config import get_config

import pandas as pd
from radllm.study import (LEVEL_DESIGNS, STYLE_DESIGNS, ci_cell, design_table, diff_cell,
                          load_results, p_cell,
                          readme_table, test_row, to_markdown)

RESULTS = get_config().nbs_path / "results" / "study"
ARM_ORDER = ["radiomics", "text:levels", "concat:levels", "weighted:levels", "lora:levels",
             "text:names_values", "concat:names_values", "weighted:names_values", "lora:names_values"]
DATASETS = {"synthetic": "the built-in synthetic set (240 lesions, 168 patients, true outlines)",
            "mini-mias": "mini-MIAS (83 lesions, 70 patients, circles around the lesions)"}


def auc(summary, ds, d) -> str:
    r = summary[(summary.dataset == ds) & (summary.design == d)]
    return "not run" if r.empty else f"AUC {ci_cell(r.auc.iloc[0], r.auc_lo.iloc[0], r.auc_hi.iloc[0])}"


def vs(tests, ds, a, b, versus_dataset=None) -> str:
    "'difference (CI), DeLong p = ..., significant or not' of a paired test."
    t = test_row(tests, ds, a, b, versus_dataset)
    if t is None: return "not tested"
    word = "significant" if t.p < 0.05 else "not significant"
    p = p_cell(t.p)
    return f"ΔAUC {diff_cell(t['diff'], t.diff_lo, t.diff_hi)}, DeLong p {p if p.startswith('<') else '= ' + p}, {word}"


def p_eq(p) -> str: return p_cell(p) if p < 0.001 else f"= {p_cell(p)}"


def best(summary, ds, designs) -> str:
    s = summary[(summary.dataset == ds) & summary.design.isin(list(designs))]
    return s.loc[s.auc.idxmax(), "design"]


def answers(summary, tests, ds) -> str:
    "The questions of the study, answered from the numbers of one dataset."
    text_designs = list(STYLE_DESIGNS) + ["text:levels"]
    beat = tests[(tests.dataset == ds) & (tests.versus == "radiomics") & (tests.versus_dataset == ds)
                 & (tests.p < 0.05)]
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
             "**Does any language-model design beat `radiomics`?** " + (
                 "Yes: " + ", ".join(f"`{r.design}` ({r['diff']:+.3f}, p {p_eq(r.p)})" for _,
                                     r in beat[beat["diff"] > 0].iterrows())
                 if (beat["diff"] > 0).any() else "No design was significantly better than `radiomics` (paired DeLong "
                                                  "p < 0.05).") + (
                 " Significantly worse: " + ", ".join(f"`{r.design}` ({r['diff']:+.3f}, p {p_eq(r.p)})" for _,
                                                      r in beat[beat["diff"] < 0].iterrows()) + "."
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
    return to_markdown(pd.DataFrame(rows))


def choose(summary, tests) -> str:
    "What a user should choose, with the numbers it rests on (the judgement is written; every number is read)."
    cost = summary[summary.dataset == "synthetic"].set_index("design")
    texts = lambda d: f"{int(cost.loc[d, 'n_texts'])} texts of {cost.loc[d, 'mean_tokens']:.0f} tokens"
    return "\n".join(f"- {l}" for l in [
        "**The text: `levels`** (radllm's default, `RunConfig.serializer`). On the synthetic set it is the text "
        "pathway that "
        "carries the features' information as well as the features themselves (`text:levels` vs `radiomics`: "
        f"{vs(tests, 'synthetic', 'text:levels', 'radiomics')}), where the paper's prompt of names and values loses "
        f"({vs(tests, 'synthetic', 'text:names_values', 'radiomics')}). Over the 25 fits of a design it needs "
        f"{texts('text:levels')} where the paper's prompt needs {texts('text:names_values')}. Its settings (three "
        "interpolated "
        "levels) were chosen in screening on the synthetic set and mini-MIAS (3 seeds x 5 folds) before this study; "
        "here neither "
        "alternative differed significantly from them: hard tertiles "
        f"{vs(tests, 'synthetic', 'text:levels-hard', 'text:levels')} (synthetic), "
        f"{vs(tests, 'mini-mias', 'text:levels-hard', 'text:levels')} "
        f"(mini-MIAS); five levels {vs(tests, 'synthetic', 'text:levels-5', 'text:levels')} (synthetic), "
        f"{vs(tests, 'mini-mias', 'text:levels-5', 'text:levels')} (mini-MIAS).",
        "**The arm: `radiomics`, or `weighted` / `concat` on `levels`** to keep a language model in the loop: they are "
        "indistinguishable from `radiomics` (synthetic: `weighted:levels` "
        f"{vs(tests, 'synthetic', 'weighted:levels', 'radiomics')}; "
        f"`concat:levels` {vs(tests, 'synthetic', 'concat:levels', 'radiomics')}) and no language-model design beat "
        "`radiomics` "
        "on either dataset.",
        "**Feature names do not matter here**, in the paper's prompt or in the `levels` sentences, and neither do the "
        "language "
        "model's own vectors: the same sentences with random vectors do as well "
        f"(synthetic: {vs(tests, 'synthetic', 'text:levels', 'text:levels-random')}). What lifts `levels` above the "
        "paper's prompt "
        "is how the values are written (a level per feature, one short sentence each, nothing truncated), not what the "
        "model knows "
        "about the words. A larger model might read more into them; these data give no sign of it.",
        "**LoRA**: the paper's recipe (a whole prompt, `LoraClassifier`) stays at chance on both datasets with this "
        "model and this "
        f"much data (synthetic {auc(summary, 'synthetic', 'lora:names_values')}); `LoraBagClassifier` on the `levels` "
        "sentences is "
        f"safe but adds nothing to the embeddings ({vs(tests, 'synthetic', 'lora:levels', 'text:levels')} against "
        "`text:levels`).",
        "**ROI for circles**: on mini-MIAS no region or filtered image was significantly better than the full circle, "
        "for either "
        "design; one combination was significantly worse (`text:levels` on the LoG features). The full ROI stays the "
        "default; the "
        "regions are there to be tested on larger sets given as circles."])


def page() -> str:
    summary, tests = load_results(RESULTS)
    wall = summary.assign(family=summary.dataset.str.split("/").str[0]).groupby("family").seconds.sum()
    parts = [
        "This page answers the question radllm exists for, from the committed numbers of the study of "
        "[chapter 12](12_study.ipynb) (`make study`: every design below on identical folds, **5 x 5 repeated "
        "cross-validation grouped by patient**, every fitted step inside the training folds). A lesion's probability "
        "is the "
        "mean over the 5 repeats; AUCs have DeLong 95% CIs, accuracy, sensitivity and specificity (at thresholds "
        "chosen on the "
        "training folds) patient-level bootstrap CIs, and two designs are compared by the paired DeLong test. "
        f"The designs took {wall.get('synthetic', float('nan')) / 60:.0f} min (synthetic) and "
        f"{wall.get('mini-mias', float('nan')) / 60:.0f} min (mini-MIAS) on two shared CPU cores, the two families in "
        "parallel. "
        "Designs marked *(paper)* are Ra et al.'s setting: the prompt of feature names and values, and LoRA "
        "fine-tuning "
        "on it (`lora:names_values`, one repeat of 5 folds for its cost).",
        "**Read them for what they are.** The synthetic lesions are simulated by radllm itself, so its numbers say "
        "whether a pathway can carry the information at all, not how well it reads real mammograms; mini-MIAS has 83 "
        "lesions (CIs about ±0.12), so only large differences could show there.",
        "## What to choose", choose(summary, tests),
    ]
    for ds, what in DATASETS.items():
        if ds not in set(summary.dataset): continue
        parts += [f"## {ds}: {what}", "### The answers", answers(summary, tests, ds),
                  "### The arms", to_markdown(design_table(summary, tests, ds, ARM_ORDER)),
                  "### Text pathways (the `text` arm)",
                  to_markdown(design_table(summary, tests, ds, list(STYLE_DESIGNS) + list(LEVEL_DESIGNS)))]
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
    parts += ["## The headline table", "The README's first table, made from the same numbers:",
              readme_table(summary, tests),
              "Columns *texts* and *tokens* of the tables above: the distinct texts a design sent to the embedding "
              "model over its "
              "25 fits (whoever embedded them first: the cache serves repeats) and their mean MiniLM token count; "
              "*seconds*: the "
              "design's wall time in the study."]
    return "\n\n".join(parts)


print(page())
