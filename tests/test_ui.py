"""The app over HTTP: every named endpoint through gradio_client, and errors as one line in the
event's error box, every other output left as it was."""

import json
import re
import time
import zipfile

import pytest
from served_app import TINY_RUN, finished_run

ENDPOINTS = {"/sweep_show", "/sweep_start", "/sweep_stop", "/sweep_poll", "/init", "/explore", "/seed_detail",
             "/compare", "/siblings", "/choose_pair", "/load_ref", "/upload", "/choose_pairfile", "/upload_pairfile",
             "/diagnose",
             "/train_start", "/train_status", "/train_cancel", "/train_resume", "/runs", "/preset_steps",
             "/scales"}
UNLOAD = "/session_closed"  # the page-unload event (deletes the closing session's uploads): not in the API
PROGRAMS = {"/pairs", "/metrics", "/seed_views", "/pair_file_metrics"}  # web.api: the documented API (test_api.py)
VIEW = dict(n=120, seed=0, k=8, index=3)


@pytest.fixture
def client(served):
    from gradio_client import Client

    c = Client(served[1], analytics_enabled=False, download_files=str(served[2] / "dl"), verbose=False)
    yield c
    c.close()


def _is_plot(value) -> bool:
    return isinstance(value, dict) and value.get("type") == "plotly" and "data" in json.loads(value["plot"])


def _explore_ok(out, n):
    info, samples, pca, heat, scatter, table, _seed_view, path, seed_table, box = out
    assert box["visible"] is False
    assert f"**{n} seeds**" in info
    assert all(_is_plot(p) for p in (samples, pca, heat, scatter, path))
    assert any("ot_agreement" in row[0] for row in table["data"])
    assert "Φ_32" in seed_table


def test_every_event_is_named_and_served(served, client):
    demo = served[0]
    assert {f"/{fn.api_name}" for fn in demo.fns.values()} == ENDPOINTS | PROGRAMS | {UNLOAD}
    callable_ = {e.api_name for e in client.endpoints.values() if e.is_valid}
    assert ENDPOINTS | PROGRAMS <= callable_ and UNLOAD not in callable_
    # the page's events are undocumented (their inputs and outputs are the page's): web.api is the API
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == PROGRAMS


def test_page_load_draws_the_default_pair_then_explore_and_drill_down(client):
    out = client.predict(*VIEW.values(), api_name="/init")
    assert out[0]["value"] == TINY_RUN and ["chessboard4d/student (shipped)", "chessboard4d/student"] in out[0]["choices"]
    _explore_ok(out[1:], 120)
    _explore_ok(client.predict(200, 5, 4, 0, api_name="/explore"), 200)
    view, path, table, box, status = client.predict(200, 5, 4, 7, api_name="/seed_detail")
    assert view["visible"] is False and _is_plot(path) and "| G |" in table and box["visible"] is False
    assert "**200 seeds**" in status


def test_pair_by_dropdown_reference_and_upload(client, served, tiny_pair, tmp_path, refusal):
    from gradio_client import handle_file

    teacher, student = "runs/tiny/teacher", TINY_RUN
    _explore_ok(client.predict(student, "", *VIEW.values(), api_name="/choose_pair"), 120)
    _explore_ok(client.predict(student, teacher, *VIEW.values(), api_name="/load_ref"), 120)
    archive = tmp_path / "student.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # the run's student: it records the run's teacher
        for name in ("config.json", "model.safetensors"):
            zf.write(served[2] / "runs" / "tiny" / "student" / name, f"student/{name}")
    *out, emptied, box = client.predict([handle_file(str(archive))], "", *VIEW.values(), api_name="/upload")
    _explore_ok([*out, box], 120)
    assert emptied is None  # the upload box is emptied: the next upload is not added to these files
    assert "`runs/tiny/teacher` → `your upload`" in out[0]
    pair = [handle_file(str(tiny_pair[1] / n)) for n in ("config.json", "model.safetensors")]
    # this student records a teacher folder of the machine it was trained on: name the teacher
    refused = client.predict(pair, "", *VIEW.values(), api_name="/upload")
    assert "recorded teacher cannot be opened here" in refusal(refused)
    assert refused[-2] == {"__type__": "update", "value": None}  # the refused files are dropped from the box
    *out, _emptied, box = client.predict(pair, teacher, *VIEW.values(), api_name="/upload")
    _explore_ok([*out, box], 120)


def _metric_column(table, col: int) -> dict:
    return {row[0]: row[col] for row in table["data"]}


def test_compare_two_students_of_one_teacher_on_shared_seeds(client, served, tiny_pair, tiny_sibling):
    runs = served[2] / "runs"
    if not (runs / "sibling").exists():  # a second run whose student records the first run's teacher
        finished_run((tiny_pair[0], tiny_sibling), runs, "sibling", records=runs / "tiny" / "teacher")
    explored = client.predict(*VIEW.values(), api_name="/init")[1:]
    info, samples, pca, scatter, table, _ = client.predict("runs/sibling/student", 120, 0, 8, api_name="/compare")
    assert "(A) vs" in info and "`runs/sibling/student` (B)" in info and all(_is_plot(p) for p in (samples, pca, scatter))
    a, b, diff = (_metric_column(table, c) for c in (1, 2, 3))
    # A is the pair drawn in Explore, whose table reads "value [low, high]" for the bootstrapped metrics
    shown = {name: value for name, value, _, _ in explored[5]["data"]}
    assert shown.keys() - {"margin (margin)"} == a.keys()  # three significant figures shown
    assert all(float(str(shown[m]).split()[0]) == pytest.approx(a[m], rel=6e-3, abs=6e-4) for m in a)
    assert "[" in shown["A_OT (ot_agreement)"] and "[" not in str(shown["ρ at chance (copy_ratio_chance)"])
    assert all(diff[m] == pytest.approx(b[m] - a[m], abs=2e-4) for m in a)
    assert "A_OT (ot_agreement)" in a and a != b
    panels = json.loads(pca["plot"])["data"]
    assert {tr["name"] for tr in panels if tr["mode"] == "markers"} >= {"Φ_8", "Φ_1"}
    same = client.predict(client.predict(*VIEW.values(), api_name="/init")[0]["value"], 120, 0, 8,
                          api_name="/compare")[4]
    assert set(_metric_column(same, 3).values()) == {0.0}  # a student against itself differs in nothing


def test_compare_offers_the_siblings_and_refuses_other_teachers(client, refusal):
    client.predict("mnist/student-8192", "", 60, 0, 8, 0, api_name="/choose_pair")
    offered, _ = client.predict(api_name="/siblings")
    assert [ref for _, ref in offered["choices"]] == ["mnist/student-8192-extra-noise-3", "mnist/student-8192-gan",
                                                      "mnist/student-8192-random-init", "mnist/student-8192-regression",
                                                      "mnist/student-8192-shuffled"]
    assert offered["value"] == "mnist/student-8192-extra-noise-3"
    info, *_, table, _ = client.predict("mnist/student-8192-gan", 60, 0, 8, api_name="/compare")
    assert "both students of `mnist/teacher-8192`" in info and _metric_column(table, 1)["A_OT (ot_agreement)"] > 0.9
    for other, message in (("moons/student", "not of `mnist/teacher-8192`"), ("", "choose a second student"),
                           ("mnist/teacher-8192", "is a teacher"), ("no such thing!", "is not a shipped checkpoint")):
        assert message in refusal(client.predict(other, 60, 0, 8, api_name="/compare"))


def test_diagnostics_without_and_with_a_family(client, served):
    from dmdviz.experiments import jobs

    client.predict(*VIEW.values(), api_name="/init")
    mem, boundary, length, dm, info, _ = client.predict(None, 120, 0, 8, api_name="/diagnose")
    # one source, the Explore pair: its own DM loss, no teacher-length series (one teacher)
    assert _is_plot(mem) and _is_plot(boundary) and _is_plot(dm) and length is None
    assert "Source: the pair open in Explore** `runs/tiny/teacher` → `runs/tiny/student`" in info
    assert info.startswith("**Verdict** (`runs/tiny/teacher` → `runs/tiny/student`): ")
    run = jobs.start(jobs.JobSpec(teacher_steps=30, student_steps=6, batch=32), root=served[2] / "runs")
    deadline = time.monotonic() + 120
    while jobs.progress(run, served[2] / "runs").state != "done":
        assert time.monotonic() < deadline, (served[2] / "runs" / run / "log.txt").read_text()[-1500:]
        time.sleep(0.3)
    mem, boundary, length, dm, info, _ = client.predict("runs", 120, 0, 8, api_name="/diagnose")
    assert all(_is_plot(p) for p in (mem, boundary, length, dm))
    # every view of the one source, the family: the memorization and boundary plots of one of its pairs
    assert "**Source: family `runs`** (" in info
    titles = [" · ".join((t["text"], t["subtitle"]["text"])) for t in
              (json.loads(p["plot"])["layout"]["title"] for p in (mem, boundary, length, dm))]
    assert all("family runs" in t for t in titles)
    teacher, student = re.search(r"plain student `(\S+)` → `(\S+)`", info).groups()
    assert teacher in titles[0] and f"{teacher} → {student}" in titles[1] and student.startswith("runs/")


def _status(client, run, until, timeout=120):
    """Poll like the page's timer (its last-state input is session State, not sent)."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        bar, teacher_fig, student_fig, _pairs, _ = client.predict(run, api_name="/train_status")
        state = bar.split("<b>")[1].split("</b>")[0]
        if state in until:
            return bar, teacher_fig, student_fig, state
        time.sleep(0.3)
    pytest.fail(f"{run} still {state} after {timeout}s")


def test_train_tab_runs_cancels_resumes_and_lists_the_pair(client, refusal):
    run_choice, msg, _ = client.predict("chessboard4d", 0, 30, 6, 5, 0.0, "teacher", "ui-run", api_name="/train_start")
    assert run_choice["value"] == "ui-run" and "ui-run" in msg
    bar, teacher_fig, student_fig, state = _status(client, "ui-run", {"done", "failed"})
    assert state == "done" and "36/36" in bar and _is_plot(teacher_fig) and _is_plot(student_fig)
    assert "ui-run" in str(client.predict(api_name="/runs"))
    _explore_ok(client.predict("runs/ui-run/student", "", *VIEW.values(), api_name="/choose_pair"), 120)
    assert "not running" in refusal(client.predict("ui-run", api_name="/train_cancel"))
    assert "has finished" in refusal(client.predict("ui-run", api_name="/train_resume"))

    client.predict("chessboard4d", 0, 5000, 6, 5, 0.0, "teacher", "long", api_name="/train_start")
    assert "Cancel requested" in client.predict("long", api_name="/train_cancel")[0]
    assert _status(client, "long", {"cancelled", "failed"})[3] == "cancelled"
    assert "Resumed" in client.predict("long", api_name="/train_resume")[0]
    _status(client, "long", {"running"})
    client.predict("long", api_name="/train_cancel")
    assert _status(client, "long", {"cancelled", "failed"})[3] == "cancelled"


@pytest.mark.parametrize("call, message", [
    (("nobody/nothing@main", "", *VIEW.values(), "/load_ref"), "nobody/nothing"),
    (("no such thing!", "", *VIEW.values(), "/load_ref"), "is not a shipped checkpoint"),
    (("", "", *VIEW.values(), "/load_ref"), "empty checkpoint reference"),
    ((120, 0, 0, 0, "/explore"), "K must be between 1 and"),
    ((120, 2**32, 8, 0, "/explore"), "base seed must be between 0 and 2147483647"),  # would alias seed 0
    ((120, -1, 8, 0, "/explore"), "base seed must be between 0"),
    ((120, 0, 8, 500, "/seed_detail"), "seed index must be between 0 and 119"),
    (("chessboard4d", 0, 10**7, 10, 5, 0.0, "teacher", "", "/train_start"), "teacher steps must be between"),
    (("../../etc", "/train_cancel"), "not a run name"),
])
def test_user_errors_are_one_line_messages(client, refusal, call, message):
    client.predict(*VIEW.values(), api_name="/init")
    assert message in refusal(client.predict(*call[:-1], api_name=call[-1]))


def test_values_gradio_itself_refuses_are_one_line_too(client):
    import httpx

    client.predict(*VIEW.values(), api_name="/init")
    # the slider's own bound, checked when the request joins the queue (the per-session gate's
    # validator runs there): the join is refused with Gradio's one line as its detail
    with pytest.raises(httpx.HTTPStatusError) as err:
        client.predict(301, 0, 8, 0, api_name="/explore")
    detail = err.value.response.json()["detail"]
    assert "greater than maximum value 300" in detail and "Traceback" not in detail
    _explore_ok(client.predict(120, 0, 8, 0, api_name="/explore"), 120)  # and the session's place was not kept


def test_bad_uploads_and_mismatched_pairs(client, refusal, tiny_pair, tmp_path):
    from gradio_client import handle_file

    def upload(*names, folder=tmp_path / "fake", teacher=""):
        return refusal(client.predict([handle_file(str(folder / n)) for n in names], teacher, *VIEW.values(),
                                      api_name="/upload"))

    def load(student, teacher=""):
        return refusal(client.predict(str(student), str(teacher), *VIEW.values(), api_name="/load_ref"))

    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    (fake / "model.safetensors").write_bytes(b"\x80\x04pickle")
    assert "not a dmdviz checkpoint config" in upload("config.json", "model.safetensors")
    assert "upload a zip, or config.json and model.safetensors" in upload("model.safetensors")
    (fake / "bad.zip").write_bytes(b"PK not really")
    assert "not a valid zip" in upload("bad.zip")
    with zipfile.ZipFile(fake / "evil.zip", "w") as zf:
        zf.writestr("../config.json", "{}")
    assert "unsafe path" in upload("evil.zip")
    assert "shape mismatch" in load(TINY_RUN, "moons/teacher")
    assert "is a teacher" in load("runs/tiny/teacher")


def test_unexpected_failures_are_one_line_too(client, refusal, monkeypatch):
    from dmdviz import plots

    client.predict(*VIEW.values(), api_name="/init")

    def boom(*a, **k):
        raise ValueError("boom\nsecond line")

    monkeypatch.setattr(plots, "pca_triplets", boom)
    assert refusal(client.predict(130, 0, 8, 0, api_name="/explore")) == "unexpected ValueError: boom"
    monkeypatch.undo()
    _explore_ok(client.predict(130, 0, 8, 0, api_name="/explore"), 130)


def test_a_missing_default_pair_is_a_note_not_an_error(client, monkeypatch):
    monkeypatch.setenv("DMDVIZ_DEFAULT_PAIR", "missing/student")
    out = client.predict(*VIEW.values(), api_name="/init")
    assert "is not available" in out[1] and out[2] is None  # (the State output is not sent)


def test_launch_settings_are_safe(served):
    from dmdviz.web.page import launch_kwargs

    kw = launch_kwargs()
    assert kw["allowed_paths"] == [] and kw["max_file_size"].endswith("mb")
    assert served[0].delete_cache == (3600, 3600)


def test_page_starts_loading_plotly_once_it_has_painted(served):
    """The page's head imports Gradio's Plotly chunk once the page has painted (evaluating it
    holds the page's script thread for a second or two), not when the first figure arrives,
    and the chunk it names is one this server serves."""
    import json
    import re
    import urllib.request

    url = served[1]
    head = json.loads(urllib.request.urlopen(url + "config", timeout=30).read())["head"]  # the page inserts it
    names = re.findall(r'import\("\./(assets/PlotlyPlot-[\w-]+\.js)"\)', head)
    assert len(names) == 1, "no Plotly preload in the page head"
    assert "requestAnimationFrame" in head and ".first-paint-svg svg" in head  # after the first paint
    with urllib.request.urlopen(url + names[0], timeout=30) as r:
        assert r.status == 200 and b"plotly" in r.read(2_000_000).lower()


def test_one_explore_click_resolves_its_pair_once(client, monkeypatch):
    from dmdviz.models import pair as pair_module
    from dmdviz.web.registry import Registry

    client.predict(*VIEW.values(), api_name="/init")
    pairs, checks = [], []
    real_pair, real_check = Registry.pair, pair_module.check_pair
    monkeypatch.setattr(Registry, "pair", lambda self, *a, **k: pairs.append(a) or real_pair(self, *a, **k))
    monkeypatch.setattr(pair_module, "check_pair", lambda *a: checks.append(a) or real_check(*a))
    _explore_ok(client.predict(121, 0, 8, 0, api_name="/explore"), 121)
    # the pair opened at page load is kept with its models: found once, checked never again
    assert len(pairs) == 1 and len(checks) == 0

def test_a_preset_sets_its_own_step_counts(client):
    from dmdviz.config import PRESETS
    from dmdviz.limits import Limits

    teacher, student, ratio, box, _status = client.predict("moons", api_name="/preset_steps")
    moons, cap = PRESETS["moons"], Limits.from_env().max_steps  # the server's limits: this process's settings
    assert (teacher, student, ratio) == (min(moons.teacher.steps, cap), min(moons.distill.steps, cap), 2)
    assert box["visible"] is False


def test_the_scale_curve_follows_the_drawn_view_with_the_margin_in_the_table(client):
    table = client.predict(*VIEW.values(), api_name="/init")[6]
    assert any(row[0] == "margin (margin)" and "[" in row[1] for row in table["data"])
    fig, _ = client.predict(VIEW["n"], VIEW["seed"], VIEW["k"], api_name="/scales")  # the plot, the message box
    assert _is_plot(fig) and "Copying at every scale" in json.loads(fig["plot"])["layout"]["title"]["text"]
