"""Samples for the app's slowest default views, written ahead into a read-only folder.

``python -m dmdviz.web.prefill checkpoints/samples`` opens the mnist-unet pair file and the
mnist-unet Diagnostics family through the app's own callbacks at the page's defaults (N =
``layout.DEFAULT_N``, base seed 0, K = 8, fp32) with that folder as the sample cache: their
sets land there, about 20 MB. The app reads the folder where its own cache misses
(``settings.shipped_samples``), so a first visitor's family opens in ~3 s instead of ~29 s
on one CPU thread; without it the same numbers are sampled (``tests/test_cache.py``). The
Docker image runs it at build time; it is not committed (the shipped folder's size budget).
Samples are keyed by the weights' hash, so a retrained checkpoint's old sets are never read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dmdviz.errors import DmdvizError

PAIRFILE, FAMILY, SEED, K = "pairs/mnist-unet.json", "mnist-unet", 0, 8


def prefill(folder: Path) -> int:
    """Sample the pair file's and the family's default views into ``folder``: the seeds computed."""
    from dmdviz.web.app import App
    from dmdviz.web.layout import DEFAULT_N

    folder.mkdir(parents=True, exist_ok=True)
    given = {key: os.environ.get(key) for key in ("DMDVIZ_CACHE_DIR", "DMDVIZ_SHIPPED_SAMPLES", "DMDVIZ_BF16", "DMDVIZ_CACHE_MB")}
    os.environ.update({"DMDVIZ_CACHE_DIR": str(folder), "DMDVIZ_SHIPPED_SAMPLES": "off", "DMDVIZ_BF16": "0",
                       "DMDVIZ_CACHE_MB": "4096"})
    try:
        app = App()
        app.select_pairfile(PAIRFILE, DEFAULT_N, SEED, K, 0)
        app.diagnose({}, FAMILY, DEFAULT_N, SEED, K)
        return app.reg.cache.computed
    finally:
        for key, value in given.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dmdviz.web.prefill", description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="where the samples go (the app reads checkpoints/samples)")
    args = ap.parse_args(argv)
    try:
        computed = prefill(args.folder)
    except (DmdvizError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{computed} seeds sampled into {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
