"""The app's slow default views prefilled into a shipped sample folder (dmdviz.web.prefill):
a later app reads them there and computes nothing; the folder is optional."""

from dmdviz.web import layout, prefill


def test_a_prefilled_folder_serves_the_same_views_without_sampling(tmp_path, monkeypatch):
    monkeypatch.setattr(prefill, "PAIRFILE", "pairs/chessboard4d.toml")
    monkeypatch.setattr(prefill, "FAMILY", "chessboard4d")
    monkeypatch.setattr(layout, "DEFAULT_N", 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "samples"
    assert prefill.main([str(folder)]) == 0
    assert any(folder.rglob("*.safetensors"))
    from dmdviz.web.app import App

    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path / "own"))
    monkeypatch.setenv("DMDVIZ_SHIPPED_SAMPLES", str(folder))
    app = App()
    shown = app.select_pairfile(prefill.PAIRFILE, 40, 0, 8, 0)[1]
    assert app.reg.cache.computed == 0 and "error" not in shown.lower()
    monkeypatch.setenv("DMDVIZ_SHIPPED_SAMPLES", "off")
    fresh = App()
    assert fresh.select_pairfile(prefill.PAIRFILE, 40, 0, 8, 0)[1].split("\n\n")[1].rsplit(" · ", 1)[0] == \
        shown.split("\n\n")[1].rsplit(" · ", 1)[0]
    assert fresh.reg.cache.computed > 0


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert prefill.main([str(blocker / "samples")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
