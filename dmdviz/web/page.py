"""What the page carries besides its components: ``demo.launch`` settings (the head script,
the CSS, the page script) and the static first paints of the default view.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import gradio as gr

from dmdviz import plots
from dmdviz.limits import Limits
from dmdviz.web.text import FIRST_PAINT_CSS, PICK_SEED_JS


def _preload_plotly() -> str:
    """A page-head script that imports Gradio's Plotly chunk (about 4.6 MB of script) as soon
    as the page has painted, instead of when the first figure arrives. Not earlier: evaluating
    it holds the page's one script thread for 1-2 s on a 2-core machine, and imported while
    the page boots it delayed the static first paint from about 1.0 s to 1.3-2.2 s (README,
    Benchmarks). Waits for the first paint (``.first-paint-svg svg``) or the page's plots
    slots, at most 3 s. Empty if the chunk is not where this Gradio keeps it."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    chunks = [p.name for p in sorted(assets.glob("PlotlyPlot-*.js"))]
    if not chunks:
        return ""
    imports = "; ".join(f'import("./assets/{name}")' for name in chunks)
    return ('<script type="module">const t0 = performance.now(); const go = () => '
            '(document.querySelector(".first-paint-svg svg, .js-plotly-plot") || performance.now() - t0 > 3000) '
            f'? setTimeout(() => {{ {imports}; }}, 50) : requestAnimationFrame(go); requestAnimationFrame(go);</script>')


def launch_kwargs(limits: Limits | None = None) -> dict:
    """``demo.launch`` settings: bounded uploads, no extra readable paths, and the page script
    that turns a click on a seed's point into its drill-down. It reads the limits only: the
    one registry of the process is ``build_demo``'s. ``DMDVIZ_MCP=1`` also serves the API's
    read-only endpoints (``web.api``) as MCP tools at ``/gradio_api/mcp/`` (needs ``gradio[mcp]``)."""
    limits = limits or Limits.from_env()
    mcp = {"mcp_server": True} if os.environ.get("DMDVIZ_MCP") == "1" else {}
    return {"max_file_size": f"{limits.max_upload_mb}mb", "allowed_paths": [], "footer_links": ["api"],
            "js": PICK_SEED_JS, "head": _preload_plotly(), "css": FIRST_PAINT_CSS, **mcp}


FIRST_PAINT_PLOTS = ("samples-plot", "pca-plot", "heatmap-plot", "scatter-plot", None, None, "trajectory-plot")


def first_paints(view: tuple) -> dict[str, str]:
    """Static SVGs of the page-load view's figures by plot id (``App.init``'s answer: the pair
    list, the pair, the info line, then the figures in ``FIRST_PAINT_PLOTS``' order); none
    when the default pair did not load."""
    figures = view[3:3 + len(FIRST_PAINT_PLOTS)]
    return {elem_id: plots.figure_svg(json.loads(fig.plot)) for elem_id, fig in zip(FIRST_PAINT_PLOTS, figures)
            if elem_id and getattr(fig, "plot", None)}
