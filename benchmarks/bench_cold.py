"""Cold waits in the app: the mnist-unet pair file and the mnist-unet Diagnostics family.

Each case runs in a fresh process through the app's own callbacks (``web.app.App``:
``select_pairfile`` for ``pairs/mnist-unet.json``, ``diagnose`` for the family ``mnist-unet``)
at the app's defaults (N = ``layout.DEFAULT_N``, base seed 0, K = 8) with an empty sample
cache folder, so every set not shipped is sampled, the exact assignments, intervals and
figures made. Settings compared, one row each:

- ``fp32``: the app's default sampling, no shipped samples (``DMDVIZ_SHIPPED_SAMPLES=off``);
- ``shipped``: the same over a shipped sample folder (``--shipped``, default
  ``checkpoints/samples``, written by ``--build``; none is committed: the shipped folder's
  size budget) (the numbers must equal the first row's: checked);
- ``bf16``: ``DMDVIZ_BF16=1``, no shipped samples (its numbers differ: stated).

The load average is recorded beside every time; the seeds computed (not read) beside it.

    python -m benchmarks.bench_cold [--cases pair,family] [--settings fp32,shipped,bf16] [--shipped DIR] [--json out]
    python -m benchmarks.bench_cold --build checkpoints/samples   # write the shipped samples
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_app import ROOT, loadavg

PAIRFILE, FAMILY, SEED, K = "pairs/mnist-unet.json", "mnist-unet", 0, 8
SETTINGS = {"fp32": {"DMDVIZ_SHIPPED_SAMPLES": "off", "DMDVIZ_BF16": "0"},
            "shipped": {"DMDVIZ_SHIPPED_SAMPLES": "", "DMDVIZ_BF16": "0"},
            "bf16": {"DMDVIZ_SHIPPED_SAMPLES": "off", "DMDVIZ_BF16": "1"}}


def one(case: str) -> dict:
    """Run ``case`` (pair or family) once in this process with a fresh registry: seconds, the
    seeds the cache computed, and the numbers the answer showed."""
    from dmdviz.web.app import App
    from dmdviz.web.layout import DEFAULT_N

    app = App()
    load = loadavg()
    t0 = time.perf_counter()
    if case == "pair":
        out = app.select_pairfile(PAIRFILE, DEFAULT_N, SEED, K, 0)
        shown = out[1].split("\n\n")[1]
    else:
        out = app.diagnose({}, FAMILY, DEFAULT_N, SEED, K)
        shown = out[4].split("\n\n")[0]
    seconds = time.perf_counter() - t0
    cache = app.reg.cache
    shown = shown.rsplit(" · ", 1)[0] if case == "pair" else shown  # the pair's line ends with its time
    return {"case": case, "n": DEFAULT_N, "seconds": round(seconds, 1), "computed_seeds": cache.computed if cache else None,
            "load": load, "shown": shown}


def measure(case: str, setting: str, timeout: float = 900.0) -> dict:
    """``one(case)`` in a fresh process under ``setting`` with an empty cache folder."""
    with tempfile.TemporaryDirectory(prefix="dmdviz-cold-") as tmp:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "DMDVIZ_CACHE_DIR": tmp, **SETTINGS[setting]}
        env = {k: v for k, v in env.items() if v != ""}
        proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_cold", "--one", case], check=False, cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        return {"case": case, "setting": setting, "error": proc.stderr.strip().splitlines()[-1:]}
    row = {"setting": setting, **json.loads(proc.stdout.strip().splitlines()[-1])}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def build(folder: Path) -> None:
    """Write the shipped samples: both cases' sets, fp32, computed into ``folder`` (the app's own
    ``dmdviz.web.prefill``, which the Docker image runs at build time)."""
    from dmdviz.web.prefill import prefill

    print(json.dumps({"folder": str(folder), "computed_seeds": prefill(folder)}), flush=True)


def run(cases=("pair", "family"), settings=tuple(SETTINGS)) -> dict:
    out = {"load_before": loadavg(), "rows": [measure(c, s) for s in settings for c in cases]}
    out["load_after"] = loadavg()
    by = {(r["case"], r["setting"]): r for r in out["rows"] if "shown" in r}
    out["shipped_equal"] = {c: by[(c, "fp32")]["shown"] == by[(c, "shipped")]["shown"]
                            for c in cases if (c, "fp32") in by and (c, "shipped") in by}
    return out


def markdown(res: dict) -> str:
    lines = ["| case | setting | seconds | seeds computed | load average |", "|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['setting']} | {r.get('seconds', r.get('error'))} | {r.get('computed_seeds')} | "
              f"{r.get('load')} |" for r in res["rows"]]
    return "\n".join(lines) + (f"\n\nshipped samples give the same numbers as fp32 sampling: {res['shipped_equal']}; "
                               f"load average before {res['load_before']}, after {res['load_after']}.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="pair,family")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--build", type=Path, help="write the shipped samples into this folder")
    ap.add_argument("--shipped", type=Path, help="the shipped samples folder the 'shipped' rows read")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.shipped:
        SETTINGS["shipped"]["DMDVIZ_SHIPPED_SAMPLES"] = str(args.shipped.resolve())
    if args.one:
        print(json.dumps(one(args.one)))
        return
    if args.build:
        build(args.build)
        return
    res = run(tuple(args.cases.split(",")), tuple(args.settings.split(",")))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
