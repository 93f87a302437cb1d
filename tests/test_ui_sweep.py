"""The Sweep tab over HTTP: its four named endpoints through gradio_client, a background sweep
started, polled to completion and shown, and user errors as one line."""

import json
import socket
import time
from dataclasses import asdict

import pytest

from dmdviz.experiments import sweep

ENDPOINTS = {"/sweep_show", "/sweep_start", "/sweep_stop", "/sweep_poll"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The tab alone in a Blocks, with a synthetic shipped default and its own runs root."""
    import gradio as gr
    from gradio_client import Client

    from dmdviz.web.common import Gate
    from dmdviz.web.sweep import sweep_tab

    tmp = tmp_path_factory.mktemp("ui_sweep")
    default = tmp / "checkpoints" / "sweep-default"
    default.mkdir(parents=True)
    cfg = sweep.SweepConfig(dims=(2, 64), seeds=(0,), variants=("plain", "rotation"))
    (default / "sweep.json").write_text(json.dumps(asdict(cfg)))
    rows = [{"variant": v, "dim": d, "seed": 0, "ot_agreement": a, "ot_agreement_init": 0.01, "copy_ratio": 0.5,
             "copy_ratio_chance": 1.5, "nn_agreement": a} for v in cfg.variants for d, a in ((2, 0.01), (64, 0.9))]
    (default / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DMDVIZ_CHECKPOINTS", str(tmp / "checkpoints"))
        mp.setenv("DMDVIZ_RUNS_DIR", str(tmp / "runs"))
        mp.setenv("GRADIO_TEMP_DIR", str(tmp / "gradio"))  # a cache of its own (see conftest)
        with gr.Blocks() as demo:
            with gr.Tab("Sweep"):
                sweep_tab(Gate(4))
        demo.queue()
        port = _free_port()
        demo.launch(prevent_thread_lock=True, server_port=port, quiet=True)
        c = Client(f"http://127.0.0.1:{port}/", analytics_enabled=False, download_files=str(tmp / "dl"), verbose=False)
        yield c
        c.close()
        demo.close()


def test_endpoints_are_named(client):
    # callable by name; not documented (the page's events: web.api is the documented API)
    assert ENDPOINTS <= {e.api_name for e in client.endpoints.values() if e.is_valid}
    assert not ENDPOINTS & set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_the_shipped_default_is_shown_without_training(client):
    fig, table, info, box = client.predict("sweep-default", api_name="/sweep_show")
    assert box["visible"] is False
    # the shipped default's rotation rows were scored against Φ_K(z) and not rerun: marked as such
    names = {t["name"] for t in json.loads(fig["plot"])["data"]}
    assert fig["type"] == "plotly" and names >= {"plain", "rotation (mis-scored)"} and "rotation" not in names
    assert "| rotation (mis-scored) | 64 | 1 | 0.900 ± 0.000 | 0.010 ± 0.000 |" in table
    assert "2/4" not in info and "4/4 sub-runs" in info and "**D = 64**" in info and "rotation rows mis-scored" in info


def test_a_sweep_started_here_runs_in_the_background_and_is_drawn(client, refusal):
    pick, msg, _ = client.predict("chessboard", "2", "0", ["plain"], 20, 4, "tiny", api_name="/sweep_start")
    assert pick["value"] == "tiny" and "tiny" in msg
    deadline, (fig, table, info) = time.monotonic() + 120, (None, None, "")
    while time.monotonic() < deadline and not ("1/1 sub-runs" in info and "complete" in info):
        *out, _ = client.predict("tiny", api_name="/sweep_poll")  # unchanged sweep: the outputs are skipped
        fig, table, info = (new or old for new, old in zip(out, (fig, table, info)))
        time.sleep(1)
    assert "1/1 sub-runs" in info and "complete" in info, info
    assert fig["type"] == "plotly" and "| plain | 2 | 1 |" in table
    assert "not running" in refusal(client.predict("tiny", api_name="/sweep_stop"))


@pytest.mark.parametrize("args, message", [
    (("chessboard", "1,8", "0", ["plain"], 20, 4, ""), "between 2 and 1024"),
    (("chessboard", "2", "0", [], 20, 4, ""), "variants must be among"),
    (("chessboard", "2", "0", ["plain"], 0, 4, ""), "teacher steps must be between"),
    (("chessboard", "2", "0", ["plain"], 20, 4, "sweep-default"), "not a free sweep name"),
    (("chessboard", "2", "0", ["plain"], 20, 4, ".."), "not a free sweep name"),  # never the runs root itself
])
def test_user_errors_are_one_line(client, refusal, args, message):
    assert message in refusal(client.predict(*args, api_name="/sweep_start"))
    assert "no sweep named" in refusal(client.predict("nothing-here", api_name="/sweep_show"))
