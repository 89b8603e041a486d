"""Open a twasnet Snakemake report in headless chromium and check what a reader would see.

    .venv/bin/python tools/report_check.py results/report.html --out results/report_check

1. The report embeds the comparison page (with table rows), the setup page and at least four
   figures, in the categories Comparison, Setup and Figures (read from the report's own data).
2. Chromium loads the report and the report's app renders its navigation with the categories
   Comparison, Figures and Setup (checked in the DOM chromium dumps after running the scripts).
3. For the comparison page, the setup page and each figure, a copy of the report is opened with a
   few lines appended that do what clicking the result's eye button does (``app.setView`` with the
   embedded file); chromium saves a screenshot (``<out>/<view>.png``) and the DOM, which must show
   the item (the iframe or image with the embedded file). Screenshots must not be blank.

Exits non-zero, saying what is missing, when a check fails. Needs Debian's ``chromium``
(``apt-get install chromium``) or another Chromium/Chrome given by ``--browser``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
    "--virtual-time-budget=8000",
]
# What the report must hold, by category: (kind of view, least number of items). The items are
# found in the report's own category index, so the check follows the rules' report() flags.
EXPECTED = {"Comparison": ("html", 1), "Figures": ("img", 4), "Setup": ("html", 1)}
MIME_VIEWS = {"text/html": "html", "image/png": "img", "image/svg+xml": "img"}
# What clicking a result's eye button does in the report app (its ButtonViewManager).
OPEN_VIEW = """
<script>
(function open() {{
  if (typeof app === "undefined" || typeof results === "undefined") {{
    setTimeout(open, 50);
    return;
  }}
  app.showCategory({category});
  app.setView({{content: {content}, contentPath: results[{path}].data_uri, resultPath: {path}}});
}})();
</script>
"""


class CheckFailed(Exception):
    pass


def find_browser(name: str | None) -> str:
    for candidate in [name] if name else BROWSERS:
        found = shutil.which(candidate)
        if found:
            return found
    raise CheckFailed(f"no browser found ({name or ', '.join(BROWSERS)}): apt-get install chromium")


def embedded(report_html: str, variable: str):
    """The JSON value of ``var <variable> = ...;`` in the report's scripts."""
    match = re.search(
        rf'<script id="{variable}">\s*var {variable} = (.*?);\s*</script>', report_html, re.S
    )
    if not match:
        raise CheckFailed(f"the report has no '{variable}' data: is it a Snakemake report?")
    return json.loads(match.group(1))


def decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    return (
        base64.b64decode(payload) if ";base64" in header else urllib.parse.unquote_to_bytes(payload)
    )


class _AppText(HTMLParser):
    """Text inside ``<div id="app">``, plus the src of iframes and images there."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.text: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth == 0 and tag == "div" and attrs.get("id") == "app":
            self.depth = 1
        elif self.depth:
            if tag not in ("img", "br", "hr", "input", "meta", "link"):
                self.depth += 1
            if tag in ("iframe", "img") and attrs.get("src"):
                self.sources.append(attrs["src"])

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def run_browser(browser: str, url: str, *, screenshot: Path | None = None) -> str:
    """Load ``url``; return the DOM after its scripts ran (and save a screenshot if asked)."""
    with tempfile.TemporaryDirectory(prefix="twasnet-chromium-") as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        if screenshot is not None:
            shot = subprocess.run(
                [browser, *flags, f"--screenshot={screenshot}", url],
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            if shot.returncode != 0 or not screenshot.exists():
                raise CheckFailed(
                    f"chromium could not take a screenshot of {url}: {shot.stderr[-800:]}"
                )
        dump = subprocess.run(
            [browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=180
        )
    if dump.returncode != 0 or "<html" not in dump.stdout:
        raise CheckFailed(f"chromium could not load {url}: {dump.stderr[-800:]}")
    return dump.stdout


def app_content(dom: str) -> _AppText:
    parser = _AppText()
    parser.feed(dom)
    return parser


def not_blank(png: Path) -> bool:
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    return pixels.ndim == 3 and float(pixels[..., :3].std()) > 0.02


def report_views(results: dict, categories: dict) -> dict[str, tuple[str, str, str]]:
    """The viewable items of the expected categories: name -> (category, path, view kind)."""
    views = {}
    for category, (kind, least) in EXPECTED.items():
        paths = [p for sub in categories.get(category, {}).values() for p in sub]
        found = [p for p in paths if MIME_VIEWS.get(results[p]["mime_type"]) == kind]
        if len(found) < least:
            raise CheckFailed(
                f"the report's category {category!r} holds {len(found)} viewable item(s) "
                f"({kind}), expected at least {least}: was each output flagged with report()?"
            )
        views |= {Path(p).stem: (category, p, kind) for p in found}
    return views


def check_report(
    report: Path, out: Path, *, browser: str | None = None, only: tuple[str, ...] | None = None
) -> list[str]:
    """Run the checks on every view of the report (or the views named in ``only``, e.g.
    ``("comparison", "pairs")``); return a summary, one line per check. Raises CheckFailed."""
    browser = find_browser(browser)
    out.mkdir(parents=True, exist_ok=True)
    page = report.read_text(encoding="utf-8")
    results = embedded(page, "results")
    views = report_views(results, embedded(page, "categories"))
    comparison = views.get("comparison")
    if comparison is None:
        raise CheckFailed("the report has no comparison page (results/report/comparison.html)")
    table = decode_data_uri(results[comparison[1]]["data_uri"]).decode("utf-8")
    pairs = re.findall(r"<td>(\w+) vs (\w+)</td>", table)
    if "<table" not in table or not pairs:
        raise CheckFailed("the embedded comparison page holds no comparison table rows")
    lines = [f"embedded: comparison table with {len(pairs)} pair(s); views {', '.join(views)}"]

    landing = app_content(run_browser(browser, report.resolve().as_uri()))
    shown = " ".join(landing.text)
    missing = [c for c in EXPECTED if c not in shown]
    if missing:
        raise CheckFailed(f"the rendered report's menu lacks {missing}; it shows: {shown[:300]!r}")
    lines.append(f"landing page rendered with categories {', '.join(EXPECTED)}")

    for view in only or tuple(views):
        category, path, content = views[view]
        copy = out / f"{view}.html"
        script = OPEN_VIEW.format(
            category=json.dumps(category), content=json.dumps(content), path=json.dumps(path)
        )
        head, body_end, tail = page.rpartition("</body>")  # the document's own, not one in a script
        copy.write_text(head + script + body_end + tail, encoding="utf-8")
        screenshot = out / f"{view}.png"
        screenshot.unlink(missing_ok=True)
        rendered = app_content(run_browser(browser, copy.resolve().as_uri(), screenshot=screenshot))
        if results[path]["data_uri"] not in rendered.sources:
            raise CheckFailed(f"{view}: the report did not display {path}")
        if not not_blank(screenshot):
            raise CheckFailed(f"{view}: the screenshot {screenshot} is blank")
        copy.unlink()
        lines.append(f"{view}: {path} displayed; screenshot {screenshot}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, nargs="?", default=Path("results/report.html"))
    parser.add_argument("--out", type=Path, default=Path("results/report_check"))
    parser.add_argument("--browser", default=None, help="browser executable (default: chromium)")
    args = parser.parse_args(argv)
    try:
        for line in check_report(args.report, args.out, browser=args.browser):
            print(line)
    except CheckFailed as failed:
        print(f"report check FAILED: {failed}", file=sys.stderr)
        return 1
    print("report check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
