"""The app's first impression: first byte served → the default pair's plots on screen.

Starts ``python app.py`` as a user would (a fresh process, offline Hub), opens it in
Chromium and measures, in the page's own clock, from the navigation's ``responseStart``
(the first byte of the HTML) until every Explore plot is on screen: first as its static
first paint (``plots_static``: a visible SVG in the plot's slot) or already as Plotly's
plot, then as the interactive Plotly plot (its ``.main-svg``). The first load is cold for
the browser (no cached script); the server drew the default view before it opened its port.

    python benchmarks/bench_app.py [--pair chessboard4d/student] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DMDVIZ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PLOTS = ["#samples-plot", "#pca-plot", "#heatmap-plot", "#scatter-plot", "#trajectory-plot"]
SINCE_FIRST_BYTE = "performance.now() - performance.getEntriesByType('navigation')[0].responseStart"
# ms since the first byte once every plot has an SVG, else false (polled by Playwright)
DRAWN = f"ids => ids.every(id => document.querySelector(id + ' .js-plotly-plot .main-svg')) && {SINCE_FIRST_BYTE}"
# ms since the first byte once every plot shows its static first paint or its Plotly plot
PAINTED = (f"ids => ids.every(id => document.querySelector(id + ' .js-plotly-plot .main-svg') || "
           f"(document.querySelector(id + '-first svg')?.getBoundingClientRect().width > 0)) && {SINCE_FIRST_BYTE}")
# ms since the first byte once the page load event's answer is on the page (its info line)
ANSWERED = f"() => /seeds/.test(document.querySelector('#explore-info')?.innerText || '') && {SINCE_FIRST_BYTE}"


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages, written beside every timing ("n/a" off Linux)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def run(pair: str = "chessboard4d/student", repeats: int = 3, timeout: float = 180.0) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
               "GRADIO_ANALYTICS_ENABLED": "False", "DMDVIZ_DEFAULT_PAIR": pair,
               "DMDVIZ_RUNS_DIR": os.environ.get("DMDVIZ_RUNS_DIR", tmp)}  # a pair that is a run: its runs folder
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_http(url, proc, timeout)
            startup = time.perf_counter() - t0
            loads, paints, answers, ready = [], [], [], []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for _ in range(repeats):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(url)
                    ready.append(page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
                                               " - performance.getEntriesByType('navigation')[0].responseStart"))
                    paints.append(page.wait_for_function(PAINTED, arg=PLOTS, timeout=timeout * 1000).json_value())
                    answers.append(page.wait_for_function(ANSWERED, timeout=timeout * 1000).json_value())
                    loads.append(page.wait_for_function(DRAWN, arg=PLOTS, timeout=timeout * 1000).json_value())
                    page.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    return {"pair": pair, "server_start_s": round(startup, 2), "first_byte_to_paint_cold_ms": round(paints[0]),
            "first_byte_to_paint_warm_ms": round(statistics.median(paints[1:])) if len(paints) > 1 else None,
            "paints_ms": [round(x) for x in paints], "first_byte_to_plots_cold_ms": round(loads[0]),
            "first_byte_to_plots_warm_ms": round(statistics.median(loads[1:])) if len(loads) > 1 else None,
            "loads_ms": [round(x) for x in loads], "dom_ready_ms": [round(x) for x in ready],
            "load_event_answered_ms": [round(x) for x in answers], "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", default="chessboard4d/student")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds for the server to start and each page to draw")
    args = ap.parse_args()
    print(json.dumps(run(args.pair, args.repeats, args.timeout), indent=2))
