"""Execute the workshop notebooks and save their figures as PNG files, to look at.

Each notebook runs top to bottom with nbclient (working directory ``notebooks/``, files it
writes go to a temporary folder through ``WORKBENCH_OUTPUT_DIR``). The plotly figure of every
cell tagged ``main-figure`` (with ``--all``: every plotly figure) is drawn by plotly.js, bundled
with the plotly package, in headless Debian Chromium driven by Playwright, and saved as
``OUT/NOTEBOOK[-N].png``.

Run: ``.venv/bin/python tools/notebook_screenshots.py [NAME ...] [--all] [--out DIR]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Chromium exactly as the real-browser tests start it
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from _lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def execute(path: Path):
    """Run one notebook; return the executed notebook and the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_OUTPUT_DIR"] = tmp
        t0 = time.perf_counter()
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
        return nb, time.perf_counter() - t0


def figures(nb, everything: bool) -> list[dict]:
    """The plotly figure dicts of the cells tagged ``main-figure`` (or of every cell)."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not everything and "main-figure" not in cell.metadata.get("tags", []):
            continue
        found += [o["data"][PLOTLY_MIME] for o in cell.outputs if PLOTLY_MIME in o.get("data", {})]
    return found


def render(figs: dict[str, dict], out: Path) -> list[Path]:
    """Draw each named figure in Chromium and save ``out/NAME.png``."""
    import plotly.io as pio
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        for name, fig in figs.items():
            html = Path(tmp) / f"{name}.html"
            html.write_text(
                pio.to_html(fig, include_plotlyjs=True, full_html=True, div_id="figure"),
                encoding="utf-8",
            )
            page.goto(html.as_uri())
            page.wait_for_selector("#figure .main-svg", timeout=30_000)
            page.wait_for_timeout(300)
            target = out / f"{name}.png"
            page.locator("#figure").screenshot(path=str(target))
            saved.append(target)
        browser.close()
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    parser.add_argument("--all", action="store_true", help="every plotly figure, not only main")
    parser.add_argument("--out", default=str(ROOT / "test-artifacts" / "notebooks"))
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / f"{n}.ipynb" for n in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {missing}")
    for path in paths:
        nb, seconds = execute(path)
        found = figures(nb, args.all)
        if not found:
            print(f"{path.name}: ran in {seconds:.1f} s, no figure to save", file=sys.stderr)
            continue
        named = {
            path.stem if i == 0 and not args.all else f"{path.stem}-{i}": fig
            for i, fig in enumerate(found)
        }
        for png in render(named, Path(args.out)):
            print(f"{path.name}: ran in {seconds:.1f} s -> {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
