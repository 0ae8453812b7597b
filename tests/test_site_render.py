"""The documentation site rendered by real Quarto and checked in a real browser (Debian's Chromium, driven by
Playwright).

The session's `site` fixture (conftest.py) renders the site once, as `make docs` does. Here a loopback HTTP server
serves it, and Chromium, 1280 pixels wide, visits every page of _quarto.yml once. From that one visit per page the
tests check: no console error and no failed request; nothing is requested from another host (the site works offline);
every internal link and image resolves; the sidebar reaches every chapter, in reading order; nothing overflows the page
horizontally; the search finds a chapter by a word in it; the results page reads at a glance. A screenshot of every
page's first screen is saved in .pytest_artifacts/site/ (kept after the run, with timings.json: look at them); with
RADLLM_FULL_SCREENSHOTS=1, of the whole page (slower: the longest chapters make PNGs of several MB). Screenshots of a
run's model report, a lesion card and the study page's forest plot are looked at (not blank, the plot in the first
screen above every table) and kept in .pytest_artifacts/screenshots/.

These tests skip, saying why, only where Quarto cannot be had (no quarto on PATH, none in .tools/quarto/, no
../shared/tools/quarto to install it from) or Chromium is missing (`apt-get install chromium`); under CI (CI=true,
set by the CI runner) both must be there, and a missing one fails instead.
"""
import functools, http.server, json, os, re, shutil, sys, threading, time, urllib.error, urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urldefrag, urlsplit

import pandas as pd
import pytest
import yaml

from helpers import radllm

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".pytest_artifacts" / "site"
WIDTH, HEIGHT = 1280, 900
# Debian's Chromium as root in a closed network: no sandbox, no GPU, no background connections (refused here, many
# at a time)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
FULL_PAGE = os.environ.get("RADLLM_FULL_SCREENSHOTS") == "1"
SEARCHES = {"Mann-Whitney": "selection.html", "DeLong": "statistics.html"}   # a word -> a chapter that holds it


def unavailable(why: str):
    "Skip where a tool cannot be had; under CI, where .ci/run provides every tool, fail instead."
    if os.environ.get("CI"): pytest.fail(f"under CI: {why}")
    pytest.skip(why)


def render_list() -> list: return yaml.safe_load((ROOT / "_quarto.yml").read_text())["project"]["render"]


def html_name(page: str) -> str:
    "The rendered file of a source page: nbdev drops a chapter's number (03_extraction.ipynb -> extraction.html)."
    p = PurePosixPath(page)
    stem = re.sub(r"^\d+[a-z]?_", "", p.stem) if p.suffix == ".ipynb" else p.stem      # 09a_statistics -> statistics
    return str(p.with_name(stem + ".html"))


@pytest.fixture(scope="module")
def docs(site) -> Path:
    if site["quarto"] is None: unavailable(site["no_quarto"])
    assert site["render"]["returncode"] == 0, f"quarto render failed:\n{site['render']['log'][-6000:]}"
    return site["docs"]


@pytest.fixture(scope="module")
def server(docs):
    "The rendered site on a free loopback port; every request it answered is recorded as (path, status)."
    answered = []
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-",
                        size="-"): answered.append((self.path, int(code) if str(code).isdigit() else code))
        def log_message(self, *args): pass
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):   # the browser may drop a request it no longer needs
            if not isinstance(sys.exc_info()[1],
                              (BrokenPipeError, ConnectionResetError)): super().handle_error(request, client_address)
    httpd = Server(("127.0.0.1", 0), functools.partial(Handler, directory=str(docs)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield dict(base=f"http://127.0.0.1:{httpd.server_port}/", answered=answered)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium: unavailable("Chromium not found (apt-get install chromium; or set CHROMIUM to its path)")
    try: from playwright.sync_api import sync_playwright
    except ImportError: unavailable("the playwright package is missing (it is a dev requirement: make install)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


PAGE_FACTS = """() => {
  const lines = el => {   // lines of text in a cell: the tops of its boxes, those closer than half a line merged
    const r = document.createRange(); r.selectNodeContents(el);
    const half = parseFloat(getComputedStyle(el).lineHeight) / 2 || 8;
    const tops = [...r.getClientRects()].filter(x => x.width > 0).map(x => x.top).sort((a, b) => a - b);
    return tops.filter((t, i) => i === 0 || t - tops[i - 1] > half).length; };
  return {
    title: document.title,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    sidebar: [...document.querySelectorAll('#quarto-sidebar a.sidebar-link[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    width: document.documentElement.scrollWidth,
    clipped: [...document.querySelectorAll('main pre, main .cell-output-display, main .table-responsive')]
      .filter(e => e.scrollWidth > e.clientWidth + 1)
      .map(e => `${e.tagName.toLowerCase()}.${e.className} ${e.scrollWidth}px > ${e.clientWidth}px: ` +
                (e.innerText || '').slice(0, 60).replace(/\\s+/g, ' ')),
    tables: [...document.querySelectorAll('main table')].map(t => ({
      head: [...t.querySelectorAll('thead th')].map(th => th.innerText.trim()),
      lines: [...t.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(lines))})),
  };
}"""


@pytest.fixture(scope="module")
def visits(site, browser, server) -> dict:
    """Every page of the site visited once at 1280 x 900: what the browser reported while it loaded, the facts of the
    loaded page (PAGE_FACTS), and a screenshot in .pytest_artifacts/site/ (with pages.json, all of it, and
    timings.json: seconds to process nbs/, render with Quarto and visit the pages)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    base, out, t0 = server["base"], {}, time.perf_counter()
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    for page_src in render_list():
        name = html_name(page_src)
        seen = dict(console=[], errors=[], failed=[], bad_status=[], off_site=[])
        page = context.new_page()
        page.on("console", lambda m,
                s=seen: m.type == "error" and s["console"].append(f"{m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e, s=seen: s["errors"].append(str(e)))
        page.on("requestfailed", lambda r, s=seen: s["failed"].append(f"{r.url}: {r.failure}"))
        page.on("response", lambda r, s=seen: r.status >= 400 and s["bad_status"].append(f"{r.status} {r.url}"))
        page.on("request", lambda r,
                s=seen: not r.url.startswith((base, "data:", "blob:", "about:")) and s["off_site"].append(r.url))
        t = time.perf_counter()
        response = page.goto(base + name, wait_until="networkidle")
        seen["status"] = response.status if response else None
        page.screenshot(path=str(ARTIFACTS / (name.replace("/", "_")[:-5] + ".png")), full_page=FULL_PAGE)
        seen.update(page.evaluate(PAGE_FACTS), seconds=round(time.perf_counter() - t, 2))
        page.close()
        out[name] = seen
    context.close()
    seconds = time.perf_counter() - t0
    (ARTIFACTS / "pages.json").write_text(json.dumps(out, indent=1))
    (ARTIFACTS / "timings.json").write_text(json.dumps({**{k: round(v, 1) for k, v in site["times"].items()},
                                                         "browse": round(seconds, 1)}, indent=1))
    return dict(pages=out, base=base, seconds=seconds)


# ---------------------------------------------------------------- every page

def test_every_page_of_the_site_was_rendered(docs):
    missing = [p for p in render_list() if not (docs / html_name(p)).is_file()]
    assert not missing, f"pages of _quarto.yml that Quarto did not write: {missing}"


def test_every_page_loads_without_console_errors(visits):
    bad = {name: {k: v[k] for k in ("console", "errors", "failed", "bad_status") if v[k]}
           for name, v in visits["pages"].items()
           if v["status"] != 200 or v["console"] or v["errors"] or v["failed"] or v["bad_status"]}
    assert not bad, "pages with console errors, script errors or failed requests:\n" + json.dumps(bad, indent=1)


def test_nothing_is_requested_from_another_host(visits):
    "The site works offline (a student's laptop, this closed network): no CDN script, web font or MathJax."
    off = {name: v["off_site"] for name, v in visits["pages"].items() if v["off_site"]}
    assert not off, "requests to other hosts:\n" + json.dumps(off, indent=1)


def test_every_internal_link_resolves(visits, server):
    "Every link to the site itself answers 200, and a link to #id lands on an element with that id."
    base, pages = visits["base"], visits["pages"]
    links = {(name, l) for name, v in pages.items() for l in v["links"] if l.startswith(base)}
    assert len(links) > 100, "the pages link to each other (sidebar, navbar, chapters)"
    status = {}
    for url in sorted({urldefrag(l)[0].split("?")[0] for _, l in links}):
        try: status[url] = urllib.request.urlopen(url, timeout=10).status
        except urllib.error.HTTPError as e: status[url] = e.code
    broken = sorted(f"{name}: {l} ({status[urldefrag(l)[0].split('?')[0]]})" for name, l in links
                    if status[urldefrag(l)[0].split("?")[0]] != 200)
    assert not broken, "links that do not resolve:\n" + "\n".join(broken)
    missing_anchor = []
    for name, l in links:
        url, frag = urldefrag(l)
        target = urlsplit(url).path.lstrip("/") or "index.html"
        if frag and target in pages and frag not in pages[target]["ids"]: missing_anchor.append(f"{name}: {l}")
    assert not missing_anchor, "links to an #id that their page does not have:\n" + "\n".join(sorted(missing_anchor))


def test_every_image_loads(visits):
    images = [(name, i) for name, v in visits["pages"].items() for i in v["images"]]
    assert len(images) >= 5, "the example page shows its figures, the chapters theirs"
    broken = [f"{name}: {i['src'][:120]}" for name, i in images if not i["ok"]]
    assert not broken, "images that did not load:\n" + "\n".join(broken)


def test_sidebar_reaches_every_chapter_in_reading_order(visits):
    ("On every page the sidebar links every page of the site, in _quarto.yml's order (index, tutorial, 00..11, "
     "example, results).")
    expected = [visits["base"] + html_name(p) for p in render_list()]
    index = lambda urls: [u + "index.html" if u.endswith("/") else u for u in urls]   # Quarto links the index as ./
    wrong = {name: v["sidebar"] for name, v in visits["pages"].items() if index(v["sidebar"]) != expected}
    assert not wrong, f"sidebars that differ from {expected}:\n" + json.dumps(wrong, indent=1)


def test_nothing_overflows_the_page_horizontally(visits):
    """At 1280 pixels no page is wider than the window, and no output hides its end: outputs wrap (site.scss); a table
    wider than the text column scrolls inside its own box (listed in pages.json as 'clipped')."""
    wide = {name: v["width"] for name, v in visits["pages"].items() if v["width"] > WIDTH}
    assert not wide, f"pages wider than {WIDTH} px (scrollWidth): {wide}"
    hidden = {name: [c for c in v["clipped"] if c.startswith("pre")] for name, v in visits["pages"].items()}
    hidden = {k: v for k, v in hidden.items() if v}
    assert not hidden, "outputs whose end is hidden behind a scroll bar:\n" + json.dumps(hidden, indent=1)


def test_screenshots_of_every_page(visits):
    shots = {html_name(p): ARTIFACTS / (html_name(p).replace("/", "_")[:-5] + ".png") for p in render_list()}
    small = [str(s) for s in shots.values() if not s.is_file() or s.stat().st_size < 10_000]
    assert not small, f"missing or blank screenshots: {small}"


@pytest.mark.parametrize("word,chapter", SEARCHES.items())
def test_search_finds_a_chapter_by_a_word_in_it(browser, server, word, chapter):
    "The navbar's search (Quarto's search.json, read in the browser) lists the chapter for a word of it."
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page.goto(server["base"] + "index.html", wait_until="networkidle")
        page.click("#quarto-search")
        box = page.locator("input.aa-Input")
        box.wait_for(timeout=10_000)
        box.fill(word)
        page.wait_for_selector(".aa-Item a", timeout=10_000)
        hits = page.eval_on_selector_all(".aa-Item a", "els => els.map(e => e.href)")
        page.screenshot(path=str(ARTIFACTS / f"search-{word}.png"))
    finally: page.close()
    pages = {urlsplit(h).path.lstrip("/") for h in hits}
    assert chapter in pages, f"searching {word!r} listed {sorted(pages)}, not {chapter}"


def test_results_page_reads_at_a_glance(visits):
    """Per dataset, the AUC table comes first and each of its cells fits on one line (AUC, CI, the paired test); the
    other metrics follow, each cell on at most two lines (mean ± SD, then the CI)."""
    tables = visits["pages"]["results.html"]["tables"]
    auc = [t for t in tables if t["head"][:2] == ["design", "repeats"]]
    other = [t for t in tables if t["head"][:2] == ["design", "accuracy"]]
    assert auc and len(auc) == len(other), [t["head"] for t in tables]
    assert tables.index(auc[0]) < tables.index(other[0])
    assert all(n <= 1 for t in auc for row in t["lines"] for n in row), \
        f"AUC cells wrapped: {[t['lines'] for t in auc]}"
    assert all(n <= 2 for t in other for row in t["lines"] for n in row), \
        f"metric cells wrapped: {[t['lines'] for t in other]}"


# ---------------------------------------------------------------- screenshots, looked at (#22)

SHOTS = ROOT / ".pytest_artifacts" / "screenshots"   # kept after the run: look at them


def looked_at(png: Path) -> dict:
    """What a screenshot shows, measured: its size, the spread of its grey levels (0 for a blank page) and the share
    of its pixels darker than light grey (text, lines, points). It is copied to .pytest_artifacts/screenshots/."""
    import numpy as np
    from PIL import Image
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, SHOTS / png.name)
    with Image.open(png) as im: grey = np.asarray(im.convert("L"), dtype=float)
    return dict(height=grey.shape[0], width=grey.shape[1], std=float(grey.std()), ink=float((grey < 200).mean()))


def assert_not_blank(seen: dict, name: str, min_width: int = 400, min_height: int = 250):
    assert seen["width"] >= min_width and seen["height"] >= min_height, f"{name}: a screenshot of {seen}"
    assert seen["std"] > 15, f"{name} looks blank (grey-level SD {seen['std']:.1f}): {seen}"
    assert seen["ink"] > 0.005, f"{name} is nearly all white ({seen['ink']:.2%} dark pixels): {seen}"


def offline_page(browser, off_site: list):
    "A 1280 x 900 page that records every request leaving this machine's files (there must be none)."
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.on("request", lambda r: not r.url.startswith(("file:", "data:", "blob:", "about:")) and off_site.append(r.url))
    return page


def test_screenshot_of_a_runs_model_report(browser, run_folder, tmp_path):
    "`radllm report`'s model report of a run, opened from its folder, shows its text and figures, all of them local."
    from radllm.runs import report
    report(run_folder.parent.parent)
    off_site, shot = [], tmp_path / "model_report.png"
    page = offline_page(browser, off_site)
    try:
        page.goto((run_folder / "model_report.html").as_uri(), wait_until="load")
        images = page.eval_on_selector_all("img", "els => els.map(i => i.complete && i.naturalWidth > 0)")
        heading = page.inner_text("h1")
        page.screenshot(path=str(shot))
    finally: page.close()
    assert not off_site, off_site
    assert images and all(images), f"the report's figures did not all load: {images}"
    assert heading.strip(), "the report has no title"
    assert_not_blank(looked_at(shot), "model report", min_width=WIDTH, min_height=HEIGHT)


def test_screenshot_of_a_lesion_card(browser, run_folder, tmp_path):
    "The card `radllm explain --card` draws for a lesion, opened in the browser, is a picture with something on it."
    lesion = str(pd.read_parquet(run_folder / "predictions.parquet").lesion_id.iloc[3])
    card = tmp_path / "card.png"
    r = radllm("explain", run_folder, lesion, "--card", card)
    assert r.returncode == 0, r.stdout + r.stderr
    off_site, shot = [], tmp_path / "lesion_card.png"
    page = offline_page(browser, off_site)
    try:
        page.goto(card.as_uri(), wait_until="load")
        size = page.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]")
        page.locator("img").screenshot(path=str(shot))
    finally: page.close()
    assert not off_site, off_site
    assert size[0] > 300 and size[1] > 200, f"the card is {size} pixels"
    assert_not_blank(looked_at(shot), "lesion card", min_width=300, min_height=200)


@pytest.mark.parametrize("name", ["study_results.html", "results.html"])
def test_page_opens_with_its_forest_plot(browser, server, name, tmp_path):
    """The study and results pages open with the forest plot: its image loaded, visible in the first screen
    (1280 x 900), above the first table, with alt text and a caption saying what the interval is; the study page's
    plot is screenshotted and looked at."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    shot = tmp_path / f"forest_{name[:-5]}.png"
    try:
        page.goto(server["base"] + name, wait_until="networkidle")
        img = page.locator("#fig-forest img")
        box, loaded = img.bounding_box(), img.evaluate("i => i.complete && i.naturalWidth > 0")
        alt, caption = img.get_attribute("alt"), page.inner_text("#fig-forest figcaption")
        table = page.locator("main table").first.bounding_box()
        img.screenshot(path=str(shot))
    finally: page.close()
    assert loaded, f"{name}: the forest plot did not load"
    assert box["y"] < HEIGHT, f"{name}: the forest plot starts below the first screen: {box}"
    assert box["y"] + box["height"] <= table["y"], f"{name}: a table comes before the forest plot ({box}, {table})"
    assert box["width"] > 500, f"{name}: the forest plot is drawn {box['width']:.0f} pixels wide"
    assert alt and alt.startswith("Forest plot"), alt
    assert "95% interval" in caption, caption
    assert_not_blank(looked_at(shot), f"{name}'s forest plot", min_width=500, min_height=150)   # one panel: ~230 px
