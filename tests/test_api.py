"""The API for programs (web.api) through gradio_client by name, its errors raised as errors,
and the MCP server's tool list (served with DMDVIZ_MCP=1)."""

import json

import httpx
import pytest
from served_app import TINY_RUN

SERVED_ENV = {"DMDVIZ_MCP": "1"}
DOCUMENTED = {"/pairs", "/metrics", "/seed_views", "/pair_file_metrics"}


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    c = Client(served[1], analytics_enabled=False, download_files=str(served[2] / "dl"), verbose=False)
    yield c
    c.close()


def test_the_documented_api_is_the_programs_api_with_named_parameters(served, client):
    info = httpx.get(f"{served[1]}gradio_api/info", timeout=30).json()
    assert set(info["named_endpoints"]) == DOCUMENTED  # the page's events are callable, not documented
    params = {p["parameter_name"] for p in info["named_endpoints"]["/metrics"]["parameters"]}
    assert params == {"student", "teacher", "n", "seed", "k"}
    assert TINY_RUN in client.predict(api_name="/pairs")["students"]


def test_metrics_and_a_seed_by_name_as_plain_json(client):
    out = client.predict(student=TINY_RUN, n=60, seed=0, k=8, api_name="/metrics")
    assert (out["teacher"], out["student"], out["n"], out["k"]) == ("runs/tiny/teacher", TINY_RUN, 60, 8)
    low, high = out["intervals_95"]["ot_agreement"]
    assert low <= out["metrics"]["ot_agreement"] <= high and 0 <= low <= high <= 1
    assert "copying" in out["meaning"]["copy_ratio"] and "ot_agreement" in out["start_phi_1"]
    # the page's explore event on the same pair and seeds reads the same A_OT
    client.predict(TINY_RUN, "", 60, 0, 8, 0, api_name="/choose_pair")
    assert f"A_OT = {out['metrics']['ot_agreement']:.3f}" in client.predict(60, 0, 8, 0, api_name="/explore")[0]
    views = client.predict(student=TINY_RUN, index=5, n=60, k=8, api_name="/seed_views")
    assert views["distance_to_target"]["Φ_8"] == 0.0  # Φ_K is its own target
    assert views["distance_to_target"]["G"] > 0 and len(views["first_coordinates"]["z"]) == 4
    pair = client.predict(pair_file="pairs/chessboard4d.toml", n=60, k=8, api_name="/pair_file_metrics")
    assert pair["metrics"].keys() == out["metrics"].keys()


@pytest.mark.parametrize("call, needle", [
    (dict(student="nobody/nothing@main", api_name="/metrics"), "nobody/nothing"),
    (dict(student=TINY_RUN, n=1, api_name="/metrics"), "number of seeds must be between 5"),
    (dict(student=TINY_RUN, index=99, n=60, api_name="/seed_views"), "seed index must be between 0 and 59"),
    (dict(pair_file="pairs/none.toml", api_name="/pair_file_metrics"), "none.toml"),
])
def test_a_bad_request_is_an_error_the_client_raises(client, call, needle):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=needle) as e:
        client.predict(**call)
    assert "Traceback" not in str(e.value) and "/tmp" not in str(e.value)


def test_the_mcp_server_lists_the_read_only_tools_with_descriptions(served):
    """The MCP ``tools/list`` answer: the API's endpoints only (no training, push or upload),
    each described, each parameter named and described."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = httpx.post(f"{served[1]}gradio_api/mcp/", json=request, headers=headers, timeout=30)
    data = next(json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:"))
    tools = {t["name"]: t for t in data["result"]["tools"]}
    assert set(tools) == {"pairs", "metrics", "seed_views", "pair_file_metrics"}
    for tool in tools.values():
        assert tool["description"].strip()
        assert all(p.get("description") for p in tool["inputSchema"]["properties"].values()), tool
    assert set(tools["metrics"]["inputSchema"]["properties"]) == {"student", "teacher", "n", "seed", "k"}


def test_the_mcp_server_is_off_unless_asked(monkeypatch):
    from dmdviz.web.page import launch_kwargs

    monkeypatch.delenv("DMDVIZ_MCP", raising=False)
    assert "mcp_server" not in launch_kwargs()
    monkeypatch.setenv("DMDVIZ_MCP", "1")
    assert launch_kwargs()["mcp_server"] is True
