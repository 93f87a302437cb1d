"""Load on the app: 20 concurrent gradio_client sessions ask for analyses of the default pair.

The app is served as users start it, ``python app.py`` in a process of its own, on loopback
only (127.0.0.1, a free port) with this process's ``DMDVIZ_*`` settings (one compute slot by
default); the clients run here, so their own work (decoding answers) does not share the
server's interpreter. Each client keeps its connections, as a browser tab does
(``ssl_verify=False`` on plain http: with it on, gradio_client builds a certificate store for
every request, measured at half of a warm round's time when clients and server shared one
process). Each session opens the page (``/init``) and then asks ``/explore`` twice:

- cold: every session its own base seed, so 20 analyses are sampled and solved (OT) while
  the others wait in the queue;
- warm: every session the same seed, answered from the registry's analysis cache.

Every answer's metrics table is checked against the library's own numbers for that pair
and seed (``analysis.sample_pair`` + ``PairAnalysis.pairing``). Latency is per request,
measured at the client, queueing included; every wait is bounded.

    python -m benchmarks.bench_load [--sessions 20] [--n 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.bench_app import ROOT, free_port, wait_http
from dmdviz import analysis
from dmdviz.limits import Limits
from dmdviz.web.registry import Registry
from dmdviz.analysis.verdict import METRICS, shown

TIMEOUT_S = 300  # any one request; the whole run stays bounded by sessions x this


def _library_metrics(reg: Registry, student_ref: str, n: int, seed: int, k: int) -> dict:
    """The pairing metrics the app's table must show, from the library directly (as shown: three
    significant figures); the pair is resolved as the app resolves it (a shipped name or a finished run)."""
    teacher, student = reg.pair(student_ref).given
    pa = analysis.PairAnalysis(analysis.sample_pair(teacher, student, n, seed, analysis.sample_ks(k)), k)
    values = {**pa.pairing, **pa.margin[0]}
    return {key: shown(values[key]) for key in METRICS if key in values}


def _table_metrics(table: dict) -> dict:
    """{metric key: value} from the app's metrics Dataframe (rows 'label (key)', 'value [interval]', ...);
    the interval is left out (the library's intervals are tested in tests/test_bootstrap.py)."""
    return {row[0].rsplit("(", 1)[1].rstrip(")"): str(row[1]).split(" [")[0] for row in table["data"]}


def _percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3), "max_s": round(ordered[-1], 3)}


def _round(clients, seeds: list[int], n: int, k: int, expected: dict) -> dict:
    """Every client asks /explore at once; latencies and correctness of each answer."""
    def ask(i):
        t0 = time.perf_counter()
        try:
            out = clients[i].submit(n, seeds[i], k, 0, api_name="/explore").result(timeout=TIMEOUT_S)
        except TimeoutError:  # counted at the bound (the percentiles are then lower bounds)
            return TIMEOUT_S, False, True
        return time.perf_counter() - t0, _table_metrics(out[5]) == expected[seeds[i]], False

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(ask, range(len(clients))))
    wall = time.perf_counter() - t0
    return {**_percentiles([r[0] for r in results]), "wall_s": round(wall, 2),
            "correct": sum(r[1] for r in results), "requests": len(results), "timed_out": sum(r[2] for r in results)}


def run(sessions: int = 20, n: int = 500, k: int = 8) -> dict:
    """Serve the app, load it with ``sessions`` concurrent clients; returns the measurements."""
    from gradio_client import Client

    from dmdviz.web.app import default_pair

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="dmdviz-load-"))
    os.environ.setdefault("DMDVIZ_RUNS_DIR", str(tmp / "runs"))
    n = min(n, Limits.from_env().max_seeds)
    cold_seeds, warm_seeds = list(range(1, sessions + 1)), [0] * sessions
    reg = Registry()
    expected = {seed: _library_metrics(reg, default_pair(), n, seed, k) for seed in {*cold_seeds, *warm_seeds}}
    if not all(expected.values()):
        raise RuntimeError(f"the library gave no pairing metrics for {default_pair()}")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(tmp / "gradio")}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    clients = []
    try:
        wait_http(url, proc, TIMEOUT_S)
        clients = [Client(url, analytics_enabled=False, download_files=str(tmp / "dl"), verbose=False, ssl_verify=False)
                   for _ in range(sessions)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(sessions) as pool:
            list(pool.map(lambda c: c.submit(n, 0, k, 0, api_name="/init").result(timeout=TIMEOUT_S), clients))
        page_load = time.perf_counter() - t0
        cold = _round(clients, cold_seeds, n, k, expected)
        warm = _round(clients, warm_seeds, n, k, expected)
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(30)
    return {"pair": default_pair(), "sessions": sessions, "n": n, "k": k, "page_load_all_s": round(page_load, 2),
            "cold": cold, "warm": warm, "all_correct": cold["correct"] == warm["correct"] == sessions,
            "cpus": os.cpu_count()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--n", type=int, default=500, help="seeds per analysis (capped by DMDVIZ_MAX_SEEDS)")
    ap.add_argument("--k", type=int, default=8)
    args = ap.parse_args()
    print(json.dumps(run(args.sessions, args.n, args.k), indent=2))
