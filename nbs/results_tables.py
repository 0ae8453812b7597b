"""Markdown tables of a run summary (the `summary.csv` that `radllm report` writes), for the site's results pages.

A summary holds one row per dataset x arm x metric: `seeds`, `mean` and `sd` over seeds, `ci_lo`/`ci_hi` (the median
per-run 95% CI), for the AUC the repeated-DeLong CI over all seeds (`cv_lo`/`cv_hi`) and, for every arm
but `radiomics`, its paired tests against `radiomics` on the same folds (`auc_diff` with `diff_lo`/`diff_hi` and
`p_corrected`, the single runs' `delong_p` and `mcnemar_p`). A table with every metric in one row
per arm does not fit a page (each value squeezed into four lines), so a dataset gets two tables:

- `auc_table`: the AUC first, with its CI, and the paired tests against `radiomics` (repeated DeLong, McNemar);
- `metrics_table`: the other metrics, the mean with the CI below it.

`captioned` adds a caption and the class that keeps the numbers on one line each; `embedded_figure` puts a figure
(the forest plot each results page opens with) in the page.

`nbs/results.qmd.py` builds the results page from them; another page of run results can use them the same way
(nbdev runs page scripts without the nbs folder on sys.path, hence the insert):

    import sys; from nbdev.config import get_config
    sys.path.insert(0, str(get_config().nbs_path)); from results_tables import auc_table, captioned, metrics_table

(nbdev copies this helper into _proc/ as `results_tables`, without its suffix, like every .py file in nbs/ that is
not a page; Quarto does not render it.) tests/test_site.py checks the tables against the summary.
"""
import base64, re, tempfile
from pathlib import Path

import pandas as pd
from radllm.statistics import METRICS, format_p, metric_names

DASH = "–"   # en dash, between the two ends of a CI
NONE = "—"   # em dash, where a test does not apply (the baseline itself)


def p_value(p) -> str:
    "A p-value with three decimals ('< 0.001' below that); NONE where there is none."
    return NONE if pd.isna(p) else format_p(p)


def mean_sd(r) -> str:
    "'mean ± SD' over seeds, three decimals; the mean alone with a single seed."
    return f"{r['mean']:.3f}" + (f" ± {r['sd']:.3f}" if pd.notna(r["sd"]) else "")


def ci(r) -> str: return f"{r['ci_lo']:.3f}{DASH}{r['ci_hi']:.3f}"


def md_table(head: list, rows: list, align: str = "") -> str:
    """A Markdown pipe table. `align` holds one letter per column (l, r, c; default l). The separator's dashes follow
    each column's longest visible line (a header by its longest word, as it may wrap): pandoc sizes a wide table's
    columns by them, so numbers keep their width (equal dashes would squeeze a numeric column like a long text one)."""
    visible = lambda s: max(len(re.sub(r"<[^>]+>", "", part)) for part in str(s).split("<br>"))
    width = [max(3, *(len(w) for w in str(head[i]).split()), *(visible(r[i]) for r in rows)) for i in range(len(head))]
    sep = []
    for i, w in enumerate(width):
        a = align[i] if i < len(align) else "l"
        sep.append(":" + "-" * (w - 1) if a == "l" else "-" * (w - 1) + ":" if a == "r" else ":" + "-" * (w - 2) + ":")
    line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"
    return "\n".join([line(head), "|" + "|".join(sep) + "|", *map(line, rows)])


def _arms(s: pd.DataFrame) -> list: return list(dict.fromkeys(s.arm))


def _corrected_ci(r) -> str:
    "The CI over all seeds (`cv_lo`/`cv_hi`, summaries since #19), else the median per-run CI."
    if pd.notna(r.get("cv_lo", float("nan"))): return f"{r['cv_lo']:.3f}{DASH}{r['cv_hi']:.3f}"
    return ci(r)


def auc_table(s: pd.DataFrame) -> str:
    """AUC per arm of one dataset's summary (mean ± SD over seeds, the corrected 95% CI over all seeds' folds) and the
    paired tests against radiomics: the repeated DeLong for the AUC (mean difference, its CI, p; chapter 09a)
    and McNemar for the errors (median p of the single runs)."""
    head = ["arm", "AUC (mean ± SD)", "95% CI", "AUC diff vs radiomics", "diff 95% CI", "p",
            "McNemar p (median)"]
    auc = s[s.metric == "auc"].set_index("arm")
    rows = []
    for arm in _arms(s):
        if arm not in auc.index: continue
        r = auc.loc[arm]
        p = r.get("p_corrected", float("nan"))
        tested = pd.notna(p)
        rows.append([f"`{arm}`", mean_sd(r), _corrected_ci(r), f"{r['auc_diff']:+.3f}" if tested else NONE,
                     f"{r['diff_lo']:+.3f}{DASH}{r['diff_hi']:+.3f}" if tested else NONE, p_value(p),
                     p_value(r.get("mcnemar_p"))])
    return md_table(head, rows, "lrrrrrr")


def metrics_table(s: pd.DataFrame) -> str:
    """The other metrics per arm of one dataset's summary: the mean over seeds with the median 95% CI below it. (No SD
    here: with it, five metric columns do not fit the page's text column; summary.csv has it.)"""
    metrics = [m for m in metric_names("report") if m in set(s.metric)]
    by = s.set_index(["arm", "metric"])
    rows = [[f"`{arm}`", *(f"{by.loc[(arm, m)]['mean']:.3f}<br><small>{ci(by.loc[(arm, m)])}</small>"
                           if (arm, m) in by.index else "" for m in metrics)] for arm in _arms(s)]
    return md_table(["arm", *(METRICS[m].title for m in metrics)], rows, "l" + "r" * len(metrics))


def captioned(table: str, caption: str) -> str:
    "A table with its caption, and the class `numbers` (site.scss: its values never wrap, only its headers do)."
    return f"{table}\n\n: {caption} {{.numbers}}"


def embedded_figure(fig, alt: str, caption: str, ident: str) -> str:
    """A matplotlib figure as a Markdown figure with its caption, alt text and id (`fig-...`): the PNG, written by
    radllm's `save_figure`, travels inline as a data URI. A page script does not know the folder nbdev writes its page
    to (_proc/ for `make docs`, a temporary one in the tests), so the picture goes in the page, as the example page's
    figures do."""
    from radllm.figures import save_figure
    with tempfile.TemporaryDirectory() as d: png = save_figure(fig, Path(d) / "figure.png").read_bytes()
    alt = alt.replace('"', "'")
    return f'![{caption}](data:image/png;base64,{base64.b64encode(png).decode()}){{#{ident} fig-alt="{alt}"}}'
