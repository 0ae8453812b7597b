"""The radllm site's post-render step: the rendered pages load nothing from other hosts.

Quarto runs it after every render of the site (`post-render` in _quarto.yml), in the rendered project folder; nbdev
copies it there as `site_postrender`, without its suffix, as it does every .py file of nbs/ that is not a page.

Quarto adds require.js and jQuery from cdnjs to every executed notebook with an HTML output, for JavaScript widgets.
The site has none (the tutorial's HTML outputs are pandas tables), and where the network is closed, or the reader
offline, the two loads fail and the page reports "define is not defined". The three tags are removed where nothing
else on the page calls require() or define(). (The theme's web font is switched off in site.scss; nbdev's source
links without a host are dropped by site_filters.lua.)

Only the standard library is used: Quarto starts it with the `python3` on PATH. tests/test_site_render.py checks that
no page requests anything from another host.
"""
import os, re, sys
from pathlib import Path

CDN = re.compile(r'[ \t]*<script src="https://cdnjs\.cloudflare\.com/ajax/libs/(?:require\.js|jquery)/[^"]*"[^>]*></script>\n?'
                 r'|[ \t]*<script type="application/javascript">'
                 r'define\(\'jquery\', \[\],function\(\) \{return window\.jQuery;\}\)</script>\n?')
USES_AMD = re.compile(r"\b(?:require|define)\s*\(")


def clean(html: str) -> str:
    "The page without Quarto's CDN scripts for widgets, unless something on it uses them."
    stripped = CDN.sub("", html)
    return html if USES_AMD.search(stripped) else stripped


def main(out_dir: Path) -> int:
    changed = 0
    for page in sorted(out_dir.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        new = clean(html)
        if new != html:
            page.write_text(new, encoding="utf-8")
            changed += 1
    print(f"site_postrender: {changed} page(s) cleaned in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(os.environ.get("QUARTO_PROJECT_OUTPUT_DIR", "_docs"))))
