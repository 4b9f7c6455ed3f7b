"""UI benchmark: ``python bench/ui.py [--runs N] [--files N] [--repeat N]``.

Seeds a fresh project with ``--runs`` finished runs of examples/churn.ipynb (bench/ui_seed.py),
starts JupyterLab on it with this package's extensions, and drives the system Chromium with
Python Playwright (``executable_path=/usr/bin/chromium``; Playwright never downloads a
browser here). Each repeat is a new browser context on a new, empty workspace, so the MLOps
panel starts closed; one untimed warm-up goes first. Rows, all in milliseconds of the page's
own clock (``performance.now()``), median over the repeats:

- click on the MLOps tab → the first run row shown (``checkVisibility()``), and → the frame
  after it (painted);
- the first runs page arriving (its resource-timing ``responseEnd``) → rows in the DOM
  (target < 300 ms). The sidebar fetches and draws it while its panel is still hidden, as
  JupyterLab starts, so this also counts the app's own start-up work on the main thread;
  the page is read through ``page.on("response")`` too, to check it is one cursor page,
  not the whole store;
- picking function=train in the Runs filter: the input → rows, and the new first page
  arriving → rows (target < 300 ms), in a settled app;
- scrolling the run list through what is loaded, two rows per frame: frame times (p95, max),
  and the next page, from its response arriving to the list grown (and from the bottom
  reached to the list grown);
- the peer, measured in the same page: JupyterLab's file browser opening a folder of
  ``--files`` files: the double-click → the first row of the new listing shown (beside our
  click rows), and its /api/contents response arriving → that row (beside our first-page
  row). ``ratio`` is the peer's time over ours (higher: ours is faster).

Numbers are printed, never asserted; a failed repeat prints ``error: …`` in its rows.
Results go to bench/results/ui.json (every sample).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ui_lab import BenchError, free_port, kernels_idle, start_lab, stop_lab, wait_until_up
from ui_scripts import ARM_WATCH, INIT_SCRIPT, RUN_ROW, SCROLL
from ui_seed import make_folder, seed_runs

BENCH = Path(__file__).resolve().parent
EXAMPLE = BENCH.parent / "examples" / "churn.ipynb"
RESULTS = BENCH / "results" / "ui.json"
NOTEBOOK = "churn.ipynb"
FOLDER = "files"
SIDEBAR_TAB = '.lm-TabBar-tab[data-id="jupyter-mlops-sidebar"]'
FILES_TAB = '.lm-TabBar-tab[data-id="filebrowser"]'
RUN_LIST = '[data-testid="mlops-run-list"]'
COUNT = '[data-testid="mlops-run-count"]'
PAGE = 100  # runs per page the sidebar asks for (labextension/components/runPager.ts)
LISTING_ITEM = ".jp-DirListing-item"
FIRST_FILE = '.jp-DirListing-item[title^="Name: file_0"]'  # only in the big folder
TARGET_MS = 300.0
STEP_TIMEOUT_MS = 60_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Metric:
    name: str
    target: float | None = None
    peer_key: str | None = None
    samples: list[float] = field(default_factory=list)
    peer_samples: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ours(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def peer(self) -> float | None:
        return statistics.median(self.peer_samples) if self.peer_samples else None

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.peer is None or self.ours <= 0:
            return None
        return self.peer / self.ours

    @property
    def status(self) -> str:
        if self.errors and not self.samples:
            return f"error: {self.errors[-1]}"
        verdict = "-"
        if self.target is not None and self.ours is not None:
            verdict = "ok" if self.ours < self.target else "MISSED"
        if self.errors:
            verdict += f" ({len(self.errors)} failed repeats: {self.errors[-1]})"
        return verdict


# The server -----------------------------------------------------------------------------------


# One repeat in the browser ------------------------------------------------------------------


def measure_once(browser: Any, base: str, token: str, index: int) -> dict[str, float]:
    """Open churn.ipynb on a fresh workspace, then time ours and the peer in that page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.add_init_script(INIT_SCRIPT)
        first_pages: list[Any] = []
        page.on(
            "response",
            lambda r: (
                first_pages.append(r)
                if "/mlops/api/runs?" in r.url and "cursor=" not in r.url
                else None
            ),
        )
        page.goto(f"{base}lab/workspaces/bench-{index}/tree/{NOTEBOOK}?token={token}")
        page.locator("#jupyterlab-splash").wait_for(state="detached")
        page.locator(".jp-NotebookPanel").first.wait_for(state="visible")
        _settle(page, base, token)
        sample = _open_runs(page, first_pages)
        sample.update(_scroll_runs(page))
        sample.update(_filter_runs(page))
        sample.update(_open_folder(page))
        return sample
    finally:
        context.close()


def _settle(page: Any, base: str, token: str) -> None:
    """Let the notebook's kernel start and go idle, then a second of quiet."""
    deadline = time.monotonic() + 60
    while not kernels_idle(base, token):
        if time.monotonic() > deadline:
            raise BenchError("the notebook's kernel did not go idle in 60 s")
        time.sleep(0.25)
    page.wait_for_timeout(1000)


def _watch(page: Any, trigger: str, selector: str, text: str = "") -> None:
    if page.evaluate(ARM_WATCH, {"trigger": trigger, "selector": selector, "text": text}):
        raise BenchError(f"{selector} was already on screen before the {trigger}")


def _watched(page: Any) -> dict[str, float]:
    page.wait_for_function("window.__uiBench.watch.painted !== null")
    watch: dict[str, float] = page.evaluate("window.__uiBench.watch")
    if watch["input"] is None:
        raise BenchError("the input event was not seen")
    return watch


def _open_runs(page: Any, first_pages: list[Any]) -> dict[str, float]:
    _watch(page, "pointerdown", RUN_ROW)
    page.locator(SIDEBAR_TAB).click()
    watch = _watched(page)
    page.wait_for_timeout(200)  # the resource entry may be delivered after the render
    state: dict[str, Any] = page.evaluate("window.__uiBench")
    attached = state["rowsAttached"]
    if attached is None:
        raise BenchError("the rows are shown but were never seen attached")
    before_rows = [
        e
        for e in state["entries"]
        if "/mlops/api/runs?" in e["name"]
        and "cursor=" not in e["name"]
        and e["responseEnd"] <= attached
    ]
    if not before_rows:
        raise BenchError("no runs page arrived before the rows were attached")
    if not first_pages:
        raise BenchError("page.on('response') saw no runs page")
    body = first_pages[0].json()
    if not body.get("runs") or body.get("next_cursor") is None:
        raise BenchError("the first runs page is not a cursor page of a bigger list")
    arrived = before_rows[-1]["responseEnd"]
    busy = sum(
        max(0.0, min(end, attached) - max(start, arrived)) for start, end in state["longTasks"]
    )
    return {
        "click_to_rows_ms": watch["dom"] - watch["input"],
        "click_to_painted_ms": watch["painted"] - watch["input"],
        "response_to_rows_ms": attached - arrived,
        "response_to_rows_long_tasks_ms": busy,
        "rows_before_click": float(attached < watch["input"]),
        "first_page_runs": float(len(body["runs"])),
        "rows_in_dom": float(page.locator(RUN_ROW).count()),
    }


def _scroll_runs(page: Any) -> dict[str, float]:
    result: dict[str, Any] = page.evaluate(SCROLL, {"selector": RUN_LIST, "step": 96})
    frames = sorted(result["frames"])
    if not frames:
        raise BenchError("the scroll took no frames")
    entries: list[dict[str, Any]] = page.evaluate("window.__uiBench.entries")
    next_pages = [
        e
        for e in entries
        if "/mlops/api/runs?" in e["name"]
        and "cursor=" in e["name"]
        and e["responseEnd"] <= result["grown"]
    ]
    if not next_pages:
        raise BenchError("the list grew but no cursor page was fetched")
    return {
        "scroll_frame_p50_ms": statistics.median(frames),
        "scroll_frame_p95_ms": frames[min(len(frames) - 1, round(0.95 * (len(frames) - 1)))],
        "scroll_frame_max_ms": frames[-1],
        "scroll_frames": float(len(frames)),
        "next_page_response_to_rows_ms": result["grown"] - next_pages[0]["responseEnd"],
        "bottom_to_next_page_ms": max(0.0, result["grown"] - result["bottom"]),
    }


def _filter_runs(page: Any) -> dict[str, float]:
    """Pick function=train in the Runs filter: a new first page, in a settled app.

    Watched through the run count ("100 runs loaded…"), which React writes in the same
    commit as the rows: the rows alone could be the old list's, which the list still shows
    for one frame after the filter changes.
    """
    loaded = page.get_by_test_id("mlops-run-count").text_content() or ""
    if loaded.startswith(f"{PAGE} runs"):
        raise BenchError(f"the unfiltered list holds one page only ({loaded!r})")
    _watch(page, "change", COUNT, f"{PAGE} runs")
    page.get_by_test_id("mlops-filter-function").select_option("train")
    watch = _watched(page)
    page.wait_for_timeout(200)
    entries: list[dict[str, Any]] = page.evaluate("window.__uiBench.entries")
    pages = [
        e
        for e in entries
        if "function=train" in e["name"]
        and "cursor=" not in e["name"]
        and watch["input"] <= e["fetchStart"]
        and e["responseEnd"] <= watch["dom"]
    ]
    if not pages:
        raise BenchError("no function=train page arrived before its rows were shown")
    return {
        "filter_to_rows_ms": watch["dom"] - watch["input"],
        "filter_response_to_rows_ms": watch["dom"] - pages[-1]["responseEnd"],
    }


def _open_folder(page: Any) -> dict[str, float]:
    tab = page.locator(FILES_TAB)
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()  # a click on the current tab would fold the sidebar away
    folder = page.locator(LISTING_ITEM, has_text=FOLDER).first
    folder.wait_for(state="visible")
    _watch(page, "dblclick", FIRST_FILE)
    folder.dblclick()
    watch = _watched(page)
    page.wait_for_timeout(200)
    entries: list[dict[str, Any]] = page.evaluate("window.__uiBench.entries")
    listings = [
        e
        for e in entries
        if f"/api/contents/{FOLDER}" in e["name"]
        and e["fetchStart"] >= watch["input"]
        and e["responseEnd"] <= watch["dom"]
    ]
    if not listings:
        raise BenchError(f"no /api/contents/{FOLDER} response before the listing was drawn")
    return {
        "peer_dblclick_to_rows_ms": watch["dom"] - watch["input"],
        "peer_dblclick_to_painted_ms": watch["painted"] - watch["input"],
        "peer_response_to_rows_ms": watch["dom"] - listings[-1]["responseEnd"],
        "peer_rows_in_dom": float(page.locator(LISTING_ITEM).count()),
    }


# The table ------------------------------------------------------------------------------------


def build_metrics(samples: list[dict[str, float]], errors: list[str]) -> list[Metric]:
    rows = [
        Metric("open MLOps tab: click → run rows shown", peer_key="peer_dblclick_to_rows_ms"),
        Metric("open MLOps tab: click → rows painted", peer_key="peer_dblclick_to_painted_ms"),
        Metric(
            "first runs page arrived → rows in DOM",
            TARGET_MS,
            "peer_response_to_rows_ms",
        ),
        Metric("  … of which the main thread was in long tasks (>50 ms)"),
        Metric("filter function=train: select → rows in DOM"),
        Metric("filter function=train: page arrived → rows in DOM", TARGET_MS),
        Metric("scroll loaded rows: frame time p50"),
        Metric("scroll loaded rows: frame time p95"),
        Metric("scroll loaded rows: frame time max"),
        Metric("next page arrived → list grown"),
        Metric("bottom of loaded rows reached → next page in list"),
    ]
    keys = [
        "click_to_rows_ms",
        "click_to_painted_ms",
        "response_to_rows_ms",
        "response_to_rows_long_tasks_ms",
        "filter_to_rows_ms",
        "filter_response_to_rows_ms",
        "scroll_frame_p50_ms",
        "scroll_frame_p95_ms",
        "scroll_frame_max_ms",
        "next_page_response_to_rows_ms",
        "bottom_to_next_page_ms",
    ]
    for row, key in zip(rows, keys, strict=True):
        row.samples = [s[key] for s in samples]
        if row.peer_key:
            row.peer_samples = [s[row.peer_key] for s in samples]
        row.errors = list(errors)
    return rows


def format_table(rows: list[Metric]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    header = ["row", "ours (ms)", "peer (ms)", "ratio", "target", "status"]
    body = [
        [
            row.name,
            ms(row.ours),
            ms(row.peer),
            "-" if row.ratio is None else f"{row.ratio:.1f}x",
            "-" if row.target is None else f"< {row.target:g} ms",
            row.status,
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for line in [header, *body]:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)]
        lines.append("  ".join([*cells, line[-1]]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


# Entry point ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10_000, help="runs seeded (default 10,000)")
    parser.add_argument("--files", type=int, default=10_000, help="files in the peer's folder")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument(
        "--chromium",
        default=os.environ.get("MLOPS_UI_CHROMIUM", "/usr/bin/chromium"),
        help="the browser binary (default /usr/bin/chromium)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.runs < 300 or args.files < 1:
        parser.error("--repeat must be >= 1, --runs >= 300 (three pages), --files >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.chromium).is_file():
        print(f"no browser at {args.chromium}: apt-get install -y chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright  # the test extra; imported once needed

    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-ui-"))
    root = scratch / "project"
    root.mkdir()
    shutil.copy2(EXAMPLE, root / NOTEBOOK)
    began = time.perf_counter()
    seeded = seed_runs(root, NOTEBOOK, args.runs)
    seed_s = time.perf_counter() - began
    make_folder(root / FOLDER, args.files)
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}/"
    server = start_lab(root, scratch, port, token)
    samples: list[dict[str, float]] = []
    errors: list[str] = []
    try:
        wait_until_up(server, base, token, scratch / "lab.log")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            for index in range(args.repeat + 1):  # index 0: the untimed warm-up
                print(
                    f"  repeat {index}/{args.repeat}" + (" (warm-up)" if index == 0 else ""),
                    file=sys.stderr,
                    flush=True,
                )
                try:
                    sample = measure_once(browser, base, token, index)
                except Exception as err:  # a benchmark reports a failure and goes on
                    if index > 0:
                        errors.append(" ".join(f"{type(err).__name__}: {err}".split())[:160])
                    continue
                if index > 0:
                    samples.append(sample)
            browser.close()
    finally:
        stop_lab(server)
        log_tail = (scratch / "lab.log").read_text(errors="replace").splitlines()[-5:]
        shutil.rmtree(scratch, ignore_errors=True)
    rows = build_metrics(samples, errors)
    print(
        f"jupyter_mlops UI benchmark: {seeded.runs:,} runs (seeded in {seed_s:.1f} s) vs "
        f"JupyterLab's file browser on {args.files:,} files; Chromium headless, "
        f"{os.cpu_count()} CPUs, median of {len(samples)}/{args.repeat} repeats"
    )
    print(format_table(rows))
    if samples:
        first = samples[0]
        print(
            f"first runs page: {first['first_page_runs']:.0f} runs; run rows in the DOM "
            f"{first['rows_in_dom']:.0f}; file browser rows in the DOM "
            f"{first['peer_rows_in_dom']:.0f}; run rows drawn (hidden) before the click in "
            f"{sum(s['rows_before_click'] for s in samples):.0f}/{len(samples)} repeats"
        )
    if errors and not samples:
        print("last lines of the JupyterLab log:\n  " + "\n  ".join(log_tail))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "runs": seeded.runs,
                "files": args.files,
                "repeat": args.repeat,
                "samples": samples,
                "errors": errors,
                "rows": [
                    {
                        "name": r.name,
                        "ours_ms": r.ours,
                        "peer_ms": r.peer,
                        "ratio": r.ratio,
                        "target_ms": r.target,
                        "status": r.status,
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
