"""Explore from pair files over HTTP: shipped, uploaded (dmdviz and diffusers), and refusals."""

import json

import pytest

VIEW = dict(n=60, seed=0, k=8, index=3)


@pytest.fixture
def client(served):
    from gradio_client import Client

    c = Client(served[1], analytics_enabled=False, download_files=str(served[2] / "dl"), verbose=False)
    yield c
    c.close()


def _upload(client, path):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), *VIEW.values(), api_name="/upload_pairfile")


def _explored(out, n=60):
    info, *_rest, seed_table, _box = out
    assert f"**{n} seeds**" in info and "Φ_32" in seed_table
    return info


def test_a_shipped_pair_file_opens_in_explore_with_the_drill_down(client):
    from dmdviz.web.catalog import shipped_pair_files

    path = dict((label, p) for label, p in shipped_pair_files())["chessboard4d (pair file)"]
    info = _explored(client.predict(path, *VIEW.values(), api_name="/choose_pairfile"))
    assert "`chessboard4d/teacher` → `chessboard4d/student`" in info and "chessboard" in info
    view, path_plot, table, *_ = client.predict(60, 0, 8, 11, api_name="/seed_detail")
    assert "**Seed 11**" in table


def _hub_snapshot(tmp_path, monkeypatch, repo: str):
    """An offline Hugging Face cache holding ``repo`` (org/name): its snapshot folder, to fill."""
    import huggingface_hub.constants

    org, name = repo.split("/")
    snap = tmp_path / "hub" / f"models--{org}--{name}" / "snapshots" / ("d" * 40)
    snap.mkdir(parents=True)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("d" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return snap


def test_an_uploaded_diffusers_pair_file_draws_image_grids(client, tmp_path, refusal, monkeypatch):
    from test_diffusers_adapter import save_pipe, tiny_unet

    root = save_pipe(_hub_snapshot(tmp_path, monkeypatch, "dmdviz-test/tiny-pipe"), tiny_unet(), "DDIMScheduler",
                     {"clip_sample": False})
    pair = {"teacher": {"ref": "dmdviz-test/tiny-pipe", "adapter": "diffusers"},
            "student": {"ref": "dmdviz-test/tiny-pipe", "adapter": "diffusers", "args": {"timestep": 999}}, "k": [4]}
    (tmp_path / "local.json").write_text(json.dumps({**pair, "teacher": {"ref": str(root), "adapter": "diffusers"}}))
    line = refusal(_upload(client, tmp_path / "local.json"))  # a folder of the server is never opened
    assert "is not available: in the web app a diffusers model" in line and str(tmp_path) not in line
    (tmp_path / "pair.json").write_text(json.dumps(pair))
    out = _upload(client, tmp_path / "pair.json")
    info = _explored(out)
    assert "own model" in info and "dimension 128" in info
    assert json.loads(out[1]["plot"])["data"][0]["type"] in ("heatmap", "image")  # samples as an image grid
    view, _, table, *_ = client.predict(60, 0, 4, 5, api_name="/seed_detail")
    assert view["visible"] is True and "**Seed 5**" in table
    *_plots, note, _box = client.predict(None, 60, 0, 4, api_name="/diagnose")
    assert "no dmdviz checkpoint" in note  # training-set diagnostics need a data set; a note, not an error
    (root / "unet" / "diffusion_pytorch_model.safetensors").rename(root / "unet" / "diffusion_pytorch_model.bin")
    (tmp_path / "pair2.json").write_text(json.dumps({**pair, "k": [2]}))
    assert "pickle files are never loaded" in refusal(_upload(client, tmp_path / "pair2.json"))


@pytest.mark.parametrize("pair, message", [
    ({"teacher": "entry_pair:teacher", "student": "x"}, None),
    ({"teacher": {"ref": "chessboard4d/teacher", "adapter": "entrypoint"}, "student": "chessboard4d/student"},
     "never in the web app"),
    ({"teacher": "chessboard4d/teacher", "student": {"ref": "s", "adapter": "onnx"}}, "unknown adapter"),
    ({"teacher": "chessboard4d/teacher", "student": "mnist-unet/student-8192"}, "shape mismatch"),
])
def test_bad_pair_files_are_one_line_messages_and_the_server_lives(client, tmp_path, pair, message, refusal):
    (tmp_path / "bad.json").write_text(json.dumps(pair))
    line = refusal(_upload(client, tmp_path / "bad.json"))
    assert message is None or message in line
    assert client.predict(api_name="/runs") is not None  # the server still answers


def test_a_hub_repo_holding_a_pair_file_opens_and_other_local_paths_are_refused(client, tmp_path, monkeypatch,
                                                                                 refusal):
    snap = _hub_snapshot(tmp_path, monkeypatch, "dmdviz-test/cb-pair")
    (snap / "pair.json").write_text(json.dumps({"teacher": "chessboard4d/teacher", "student": "chessboard4d/student"}))
    info = _explored(client.predict("dmdviz-test/cb-pair", *VIEW.values(), api_name="/choose_pairfile"))
    assert "`chessboard4d/teacher` → `chessboard4d/student`" in info
    (tmp_path / "elsewhere.json").write_text(json.dumps({"teacher": "chessboard4d/teacher", "student": "x"}))
    for choice in (str(tmp_path / "elsewhere.json"), "/etc/passwd"):
        assert "choose a shipped pair file" in refusal(client.predict(choice, *VIEW.values(), api_name="/choose_pairfile"))
