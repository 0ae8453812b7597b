"""Helpers of the site's results pages: a caption for a table, and a figure embedded in the page.

The tables themselves come from `radllm.tables` (chapter 09d), the one writer that `radllm report`, the model
reports, the study page and the README use too, so a number prints alike everywhere. What is here is only what a
page needs around them:

- `captioned` adds a caption and the class that keeps the numbers on one line each;
- `site_table` writes a run summary's table for a page: the dataset is the page section's, the arm in code type;
- `embedded_figure` puts a figure (the forest plot each results page opens with) in the page.

`nbs/results.qmd.py` builds the results page from them; another page can use them the same way (nbdev runs page
scripts without the nbs folder on sys.path, hence the insert):

    import sys
    from nbdev.config import get_config
    sys.path.insert(0, str(get_config().nbs_path))
    from results_tables import captioned, site_table

(nbdev copies this helper into _proc/ as `results_tables`, without its suffix, like every .py file in nbs/ that is
not a page; Quarto does not render it.) tests/test_site.py checks the tables against the summary.
"""

import base64, tempfile
from pathlib import Path

import pandas as pd
from radllm.tables import markdown_table


def site_table(table: pd.DataFrame) -> str:
    """A table of one dataset (chapter 09d's `auc_table` or `metrics_table` of its rows) as page Markdown: without a
    dataset column (the page's section names it), the design (a run's arm) in code type, numbers right-aligned."""
    t = table.drop(columns="dataset", errors="ignore").assign(design=lambda d: d.design.map("`{}`".format))
    return markdown_table(t, "l" + "r" * (t.shape[1] - 1))


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
