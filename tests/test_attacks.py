"""The attacks of an attack pass on the live app, each replayed against a running server
(loopback, gradio_client) with the fixed behaviour checked:

- a config.json describing a huge network is refused before anything is allocated (peak RSS
  of the serving process grows by under ``RSS_BOUND_MB``; built, the 20,000-wide MLP alone
  would take 4.6 GB);
- no server path is accepted (an existing checkpoint folder reads exactly like a missing one)
  or printed (the page's config, dropdowns and every refusal);
- the two safetensors headers a hand-written parser once read into a TypeError;
- one session's flood leaves another session served, and a read of shipped results is
  answered while the compute slot is held; twenty made-up sessions from one address hold only
  that address's places (the rest get the one-line refusal) and another address is served;
- uploads go when their session ends and when they expire, a zip's entries are capped, a
  refused upload leaves nothing, and the process builds one registry;
- a diffusers pair file (through a fake Hub cache): a 2048² ``sample_size`` or an absurd
  ``args.shape`` refused before anything is built; a side is a Hub id and nothing else
  (``../..``, absolute paths and subfolders get one line whether or not the path exists; a Hub
  id naming a server folder is looked up on the Hub only);
- a full disk leaves analyses working without the sample cache, and a slow model build holds
  up no other lookup.
"""

from __future__ import annotations

import json
import resource
import shutil
import struct
import tempfile
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from served_app import TINY_RUN, finished_run, free_port

from dmdviz.errors import DmdvizError

RSS_BOUND_MB = 200
VIEW = (60, 0, 8, 0)
# one address holds fewer places than the queue has (as the defaults, 8 of 64), so it cannot fill the queue
SESSION_QUEUE, ADDRESS_QUEUE, QUEUE_SIZE = 2, 4, 6
NO_FOLDER = ("a folder path is not a shipped checkpoint, a finished run (runs/<name>/student), your upload or a Hub "
             "repo id (org/name[@revision]); the web app opens no other folder")


@pytest.fixture(scope="module")
def server(tiny_pair, tmp_path_factory):
    """(url, registry, tmp, demo): the app with a small queue (6), per-session cap (2) and
    per-address cap (4), on a registry the tests can look into."""
    import huggingface_hub.constants

    from dmdviz.limits import Limits
    from dmdviz.web.app import build_demo
    from dmdviz.web.page import launch_kwargs
    from dmdviz.web.registry import Registry

    tmp = tmp_path_factory.mktemp("attacks")
    finished_run(tiny_pair, tmp / "runs")
    env = {"DMDVIZ_DEFAULT_PAIR": TINY_RUN, "DMDVIZ_RUNS_DIR": str(tmp / "runs"), "DMDVIZ_MAX_SEEDS": "300",
           "HF_HOME": str(tmp / "hf"), "GRADIO_TEMP_DIR": str(tmp / "gradio"), "DMDVIZ_QUEUE_SIZE": str(QUEUE_SIZE), "DMDVIZ_SESSION_QUEUE": str(SESSION_QUEUE),
           "DMDVIZ_ADDRESS_QUEUE": str(ADDRESS_QUEUE)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        reg = Registry(replace(Limits.from_env(), upload_ttl_s=600))
        demo = build_demo(reg)
        port = free_port()
        demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **launch_kwargs(reg.limits))
        yield f"http://127.0.0.1:{port}/", reg, tmp, demo
        demo.close()


def _client(server):
    from gradio_client import Client

    return Client(server[0], analytics_enabled=False, download_files=str(server[2] / "dl"), verbose=False)


@pytest.fixture
def client(server):
    c = _client(server)
    c.predict(*VIEW, api_name="/init")
    yield c
    c.close()


@pytest.fixture
def run_student(server) -> Path:
    """The served run's student folder: it records the run's teacher, so its upload opens."""
    return server[2] / "runs" / "tiny" / "student"


def _zip(folder: Path, out: Path, extra: int = 0) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for name in ("config.json", "model.safetensors"):
            zf.write(folder / name, f"ckpt/{name}")
        for i in range(extra):
            zf.writestr(f"ckpt/notes/{i}.txt", "")
    return out


def _upload(client, path: Path):
    from gradio_client import handle_file

    return client.predict([handle_file(str(path))], "", *VIEW, api_name="/upload")


def _with_config(tiny_pair, root: Path, name: str, change) -> Path:
    folder = root / name
    shutil.copytree(tiny_pair[1], folder, ignore=shutil.ignore_patterns("state.*", "metrics.jsonl"))
    cfg = json.loads((folder / "config.json").read_text())
    change(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def test_a_huge_network_in_config_json_is_refused_before_any_allocation(client, refusal, tiny_pair, tmp_path):
    cases = [
        (lambda c: c["net"].update(hidden=200_000), "net.hidden must be an integer between 1 and 65536"),
        (lambda c: c["net"].update(hidden=20_000), "MB, over the 1024 MB limit (DMDVIZ_MAX_MODEL_MB)"),  # ~4.6 GB
        (lambda c: c["net"].update(shape=[200_000]), "net.shape size must be an integer between 1 and 12288"),
        (lambda c: (c["net"].update(shape=[12_288]), c["student"].update(noise_rotation=True)), "does not match"),
        (lambda c: c["net"].update(depth=10**7), "net.depth must be an integer between 1 and 64"),
        (lambda c: c["net"].update(n_classes=10**9), "net.n_classes must be an integer between 0 and 100000"),
    ]
    before = _peak_mb()
    for i, (change, needle) in enumerate(cases):
        folder = _with_config(tiny_pair, tmp_path, f"huge-{i}", change)
        line = refusal(_upload(client, _zip(folder, tmp_path / f"huge-{i}.zip")))
        assert needle in line and line.startswith(("your upload", "model.safetensors")), line
    grown = _peak_mb() - before
    assert grown < RSS_BOUND_MB, f"the server's peak RSS grew by {grown:.0f} MB"


@pytest.mark.parametrize("where", ["/etc/passwd", "/root", "/definitely/not/here", "tiny-teacher", "tiny-student",
                                   "upload-root"])
def test_no_server_path_is_accepted_or_echoed(client, refusal, server, tiny_pair, where):
    refs = {"tiny-teacher": str(tiny_pair[0]), "tiny-student": str(tiny_pair[1]), "upload-root": str(server[1].uploads)}
    ref = refs.get(where, where)
    for args in ((ref, ""), (TINY_RUN, ref)):
        # the same words whether the folder exists, is a real checkpoint, or is missing: no oracle
        assert refusal(client.predict(*args, *VIEW, api_name="/load_ref")) == NO_FOLDER
    assert "choose a shipped pair file" in refusal(client.predict(ref, *VIEW, api_name="/choose_pairfile"))


def test_the_page_names_no_server_folder(server, client, tiny_pair, tmp_path, refusal):
    import httpx

    config = httpx.get(f"{server[0]}config", timeout=30).text
    for folder in (server[2], server[1].uploads, tiny_pair[0].parent, Path(tempfile.gettempdir()) / "pytest-of"):
        assert str(folder) not in config, folder
    choices = client.predict(*VIEW, api_name="/init")[0]["choices"]
    assert ["tiny (run)", TINY_RUN] in choices and not any(v.startswith("/") for _, v in choices)
    # a refused upload speaks of "your upload", not of the folder it was unpacked into
    folder = _with_config(tiny_pair, tmp_path, "bad", lambda c: c["net"].update(depth=5))
    line = refusal(_upload(client, _zip(folder, tmp_path / "bad.zip")))
    assert "does not match its config.json" in line and "/" not in line.replace("config.json", ""), line


@pytest.mark.parametrize("entry, needle", [
    ({"dtype": "F32", "shape": [2], "data_offsets": 5}, "expected a tuple of size 2"),
    ({"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}, "not a valid safetensors file"),
])
def test_malformed_safetensors_headers_get_a_clear_line(client, refusal, tiny_pair, tmp_path, entry, needle):
    folder = _with_config(tiny_pair, tmp_path, "header", lambda c: None)
    text = json.dumps({"inp.weight": entry}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + bytes(8))
    line = refusal(_upload(client, _zip(folder, tmp_path / "header.zip")))
    assert needle in line and "unexpected" not in line, line


def test_a_flood_from_one_session_leaves_another_served(server, monkeypatch):
    from gradio_client.exceptions import AppError

    from dmdviz import plots

    held = threading.Event()
    draw = plots.pca_triplets

    def slow(*args, **kwargs):  # every Explore holds the compute slot until the test lets go
        held.wait(60)
        return draw(*args, **kwargs)

    flooder, other = _client(server), _client(server)
    try:
        flooder.predict(*VIEW, api_name="/init")
        monkeypatch.setattr(plots, "pca_triplets", slow)
        # sizes other than /init's: a view already drawn is answered from the view cache without the held
        # draw, its place given back at once, and one more of the flood would be admitted behind it
        jobs = [flooder.submit(VIEW[0] + 1 + i, *VIEW[1:], api_name="/explore") for i in range(3 * QUEUE_SIZE)]
        deadline = time.monotonic() + 60  # every join answered: all but the admitted ones refused
        while sum(j.done() for j in jobs) < len(jobs) - SESSION_QUEUE and time.monotonic() < deadline:
            time.sleep(0.1)
        # a read of shipped results is answered at once, beside the held compute slot
        plot, table, info, box = other.predict("sweep-default", api_name="/sweep_show")
        assert "`sweep-default`" in info and box["visible"] is False
        waiting = other.submit(*VIEW, api_name="/init")  # a computation: it queues (the queue is not full)
        assert not all(j.done() for j in jobs) and not waiting.done()  # the admitted ones are still held
        held.set()
        assert f"**{VIEW[0]} seeds**" in waiting.result(timeout=120)[1]
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=120)
                outcomes.append("served")
            except (AppError, ValueError) as e:  # gradio_client's ValidationError is a ValueError
                outcomes.append("refused" if "already waiting or running" in str(e) else repr(e))
        assert outcomes.count("served") == SESSION_QUEUE and set(outcomes) == {"served", "refused"}, outcomes
        monkeypatch.undo()
        assert "seeds**" in flooder.predict(*VIEW, api_name="/explore")[0]  # its places were given back
    finally:
        held.set()
        flooder.close()
        other.close()


def _uploads_of(reg, session: str) -> int:
    return sum(1 for up in reg._uploads.values() if up.session == session)


def test_uploads_go_when_their_session_ends_and_when_they_expire(server, run_student, tmp_path):
    reg = server[1]
    archive = _zip(run_student, tmp_path / "mine.zip")
    visitor = _client(server)  # it holds the session's heartbeat stream, as a page does
    try:
        _upload(visitor, archive)
        assert _uploads_of(reg, visitor.session_hash) == 1
        folders = {u.folder for u in reg._uploads.values() if u.session == visitor.session_hash}
    finally:
        visitor.close()  # the page closes: the heartbeat ends and the unload event deletes the uploads
    deadline = time.monotonic() + 60
    while _uploads_of(reg, visitor.session_hash) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _uploads_of(reg, visitor.session_hash) == 0 and not any(f.exists() for f in folders)
    kept = _client(server)
    try:
        _upload(kept, archive)
        folder = next(u.folder for u in reg._uploads.values() if u.session == kept.session_hash)
        assert reg.expire() == 0 and folder.exists()  # young: kept
        assert reg.expire(now=time.time() + reg.limits.upload_ttl_s + 1) >= 1 and not folder.exists()
        assert _uploads_of(reg, kept.session_hash) == 0
        assert any(t.name == "dmdviz-upload-expiry" and t.is_alive() for t in threading.enumerate())
    finally:
        kept.close()


def test_another_sessions_upload_cannot_be_named(server, run_student, tmp_path, refusal):
    archive = _zip(run_student, tmp_path / "theirs.zip")
    owner, stranger = _client(server), _client(server)
    try:
        owner.predict(*VIEW, api_name="/init")
        _upload(owner, archive)
        token = next(t for t, u in server[1]._uploads.items() if u.session == owner.session_hash)
        stranger.predict(*VIEW, api_name="/init")
        line = refusal(stranger.predict(token, "runs/tiny/teacher", *VIEW, api_name="/load_ref"))
        assert "not one of this session's" in line
    finally:
        owner.close()
        stranger.close()


def test_a_zip_of_too_many_entries_is_refused_and_leaves_nothing(client, refusal, server, run_student, tmp_path):
    reg = server[1]
    before = sorted(reg.uploads.iterdir())
    cap = reg.limits.max_zip_entries
    line = refusal(_upload(client, _zip(run_student, tmp_path / "many.zip", extra=cap)))
    assert f"the zip holds {cap + 2:,} entries (at most {cap}" in line
    assert sorted(reg.uploads.iterdir()) == before  # neither the unpacked files nor an empty folder stay


def test_one_registry_per_process(monkeypatch):
    from dmdviz.web import registry
    from dmdviz.web.app import build_demo
    from dmdviz.web.page import launch_kwargs

    made = []
    real = registry.tempfile.mkdtemp

    def counting(*args, **kwargs):
        path = real(*args, **kwargs)
        if kwargs.get("prefix") == "dmdviz-uploads-":
            made.append(path)
        return path

    monkeypatch.setattr(registry.tempfile, "mkdtemp", counting)
    demo = build_demo()
    launch_kwargs()
    assert len(made) == 1
    for fn in demo.fns.values():  # every call that can take seconds reports its progress
        if fn.api_name in ("init", "explore", "compare", "diagnose", "choose_pair", "load_ref", "upload"):
            assert fn.tracks_progress, fn.api_name
    groups = {fn.api_name: fn.concurrency_id for fn in demo.fns.values()}
    assert groups["explore"] == "compute" and groups["sweep_show"] == groups["runs"] == "views"
    shutil.rmtree(made[0], ignore_errors=True)


def test_a_request_gradio_dropped_gives_its_place_back():
    from types import SimpleNamespace

    from dmdviz.web.common import Gate

    queue = SimpleNamespace(pending_event_ids_session={"s": {"e1", "e2"}})
    gate = Gate(2)
    gate.bind(SimpleNamespace(_queue=queue))
    assert gate.admit("s") and gate.admit("s") and not gate.admit("s")  # both still in Gradio's queue
    gate.GRACE_S = 0.0
    assert not gate.admit("s")  # still held: Gradio holds two requests of the session
    queue.pending_event_ids_session["s"] = {"e2"}  # e1 was dropped before it ran (never released)
    assert gate.admit("s")
    queue.pending_event_ids_session["s"] = {"e2", "e3"}  # the admitted one joins Gradio's queue
    assert not gate.admit("s")
    gate.release("s")
    gate.release("s")
    assert gate.admit("other") and "s" not in gate.held


# --------------------------------------------------------------------------- diffusers sides: budget, Hub only, disk

SIDE_REFUSED = ("is not available: in the web app a diffusers model (and its scheduler) is a Hub repo id "
                "(org/name[@revision]), its subfolder a relative name inside it")


def _pairfile(client, tmp_path: Path, name: str, teacher: dict, student: dict | None = None):
    from gradio_client import handle_file

    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"teacher": {"adapter": "diffusers", **teacher},
                                "student": {"adapter": "diffusers", "args": {"timestep": 999}, **(student or teacher)}}))
    return client.predict(handle_file(str(path)), *VIEW, api_name="/upload_pairfile")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """The served app's (offline) Hugging Face cache, empty."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_a_huge_sample_size_or_shape_is_refused_before_any_allocation(client, refusal, hub_cache, tmp_path):
    pytest.importorskip("diffusers")
    from fake_hub import cached_repo, tiny_pipe

    cached_repo(hub_cache, "fake/huge", tiny_pipe(tmp_path / "huge", sample_size=2048))
    cached_repo(hub_cache, "fake/tiny", tiny_pipe(tmp_path / "tiny"))
    before = _peak_mb()
    line = refusal(_pairfile(client, tmp_path, "huge", {"ref": "fake/huge"}))
    assert line == ("unet/config.json's sample shape [2, 2048, 2048] holds 8,388,608 numbers per sample, over the "
                    "1,048,576 limit (DMDVIZ_MAX_SAMPLE_VALUES)"), line
    for shape, needle in [([2, 1024, 1024], "holds 2,097,152 numbers per sample"),
                          ([2, 10**9, 10**9], "holds ~10^18 numbers"), ([2, "x"], "must be 1 to 4 positive integers")]:
        line = refusal(_pairfile(client, tmp_path, "shape", {"ref": "fake/tiny", "args": {"shape": shape}},
                                 {"ref": "fake/tiny", "args": {"timestep": 999}}))
        assert line.startswith("the pair file's teacher args.shape") and needle in line, line
    grown = _peak_mb() - before
    assert grown < RSS_BOUND_MB, f"the server's peak RSS grew by {grown:.0f} MB"
    assert "seeds**" in client.predict(*VIEW, api_name="/explore")[0]


@pytest.mark.parametrize("side, what, shown", [
    ({"ref": "../.."}, "model", "'../..'"), ({"ref": "../../etc"}, "model", "'../../etc'"),
    ({"ref": "../../nope"}, "model", "'../../nope'"), ({"ref": "/etc"}, "model", "a folder path"),
    ({"ref": "/definitely/not/here"}, "model", "a folder path"), ({"ref": "./fake/tiny"}, "model", "'./fake/tiny'"),
    ({"ref": "fake/tiny", "args": {"subfolder": "../.."}}, "subfolder", "'../..'"),
    ({"ref": "fake/tiny", "args": {"subfolder": "/etc"}}, "subfolder", "a folder path"),
    ({"ref": "fake/tiny", "args": {"subfolder": "/nope"}}, "subfolder", "a folder path"),
    ({"ref": "fake/tiny", "args": {"subfolder": "unet/../../../etc"}}, "subfolder", "'unet/../../../etc'"),
    ({"ref": "fake/tiny", "args": {"scheduler": "/etc"}}, "scheduler", "a folder path"),
    ({"ref": "fake/tiny", "args": {"scheduler": "../scheduler"}}, "scheduler", "'../scheduler'"),
])
def test_a_diffusers_side_is_a_hub_id_and_nothing_else(client, refusal, side, what, shown, tmp_path):
    line = refusal(_pairfile(client, tmp_path, "side", side))
    # the same words whatever the server holds at that path (no oracle), and no absolute path echoed
    assert line == f"the pair file's teacher {what} {shown} {SIDE_REFUSED}", line


@pytest.mark.parametrize("args, what", [
    ({"unet": "/etc/passwd.safetensors"}, "args.unet"),
    ({"unet": {"ref": "../..", "weight_name": "unet.safetensors"}}, "args.unet"),
    ({"transformer": "runs/x/model.safetensors"}, "args.transformer"),
    ({"lora": {"ref": "/srv/lora", "weight_name": "l.safetensors", "scale": 1.0}}, "args.lora"),
])
def test_a_pipeline_sides_weight_files_are_hub_files_and_nothing_else(args, what, tmp_path):
    from dmdviz.limits import Limits
    from dmdviz.models import pairfile
    from dmdviz.web import sides

    student = {"adapter": "pipeline", "ref": "org/student", "args": {"scheduler": "LCMScheduler", **args}}
    spec = pairfile.parse({"teacher": {"adapter": "pipeline", "ref": "org/teacher"}, "student": student}, tmp_path)
    with pytest.raises(DmdvizError, match=f"the pair file's student {what} .* is not available"):
        sides.check(spec, False, Limits.from_env())
    ok = {"adapter": "pipeline", "ref": "org/student",
          "args": {"scheduler": "LCMScheduler", "unet": {"ref": "org/dmd2", "weight_name": "unet.safetensors"}}}
    sides.check(pairfile.parse({"teacher": {"adapter": "pipeline", "ref": "org/teacher"}, "student": ok}, tmp_path),
                False, Limits.from_env())  # Hub files and a scheduler class name pass


def test_a_hub_id_that_names_a_server_folder_is_looked_up_on_the_hub_only(client, refusal, hub_cache, tmp_path):
    assert (Path.cwd() / "data" / "mnist").is_dir() or (Path(__file__).parent.parent / "data" / "mnist").is_dir()
    line = refusal(_pairfile(client, tmp_path, "mnist", {"ref": "data/mnist"}))
    assert line == "data/mnist: not in the local Hugging Face cache and the Hub is unreachable", line


def test_a_full_disk_leaves_analyses_working_without_the_cache(server, client, monkeypatch):
    import errno

    from dmdviz.analysis import cache

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    reg = server[1]
    monkeypatch.setattr(cache, "atomic_write", full)
    info = client.predict(VIEW[0] + 7, 11, *VIEW[2:], api_name="/explore")[0]  # new seeds: sampled, not read
    assert f"**{VIEW[0] + 7} seeds**" in info, info
    assert reg.cache is not None and "No space left on device" in reg.cache.note


def test_a_slow_build_holds_up_no_other_lookup():
    from dmdviz.web.registry import _LRU

    store, release, started = _LRU(4), threading.Event(), threading.Event()

    def slow():
        started.set()
        assert release.wait(60)
        return "slow"

    made = []
    builder = threading.Thread(target=lambda: made.append(store.get("a", slow)))
    builder.start()
    assert started.wait(60)
    assert store.get("b", lambda: "quick") == "quick"  # answered while "a" is still being built
    waiter = threading.Thread(target=lambda: made.append(store.get("a", lambda: "built twice")))
    waiter.start()
    release.set()
    builder.join(60)
    waiter.join(60)
    assert made == ["slow", "slow"] and not store.building


def test_another_sessions_run_cannot_be_cancelled_or_resumed(server, refusal, monkeypatch):
    from dmdviz.experiments import jobs, launcher

    reg = server[1]
    monkeypatch.setattr(reg, "limits", replace(reg.limits, public=True))  # runs have owners in public mode
    monkeypatch.setattr(launcher, "launch", lambda *args, **kwargs: 0)  # no worker: the folder is what counts
    owner, stranger = _client(server), _client(server)
    try:
        owner.predict(*VIEW, api_name="/init")
        stranger.predict(*VIEW, api_name="/init")
        run = jobs.start(jobs.JobSpec(teacher_steps=2, student_steps=2), "owned", root=server[2] / "runs",
                         limits=reg.limits, owner=owner.session_hash)
        assert owner.session_hash not in (server[2] / "runs" / run / jobs.OWNER).read_text()  # kept hashed
        for api in ("/train_cancel", "/train_resume"):
            line = refusal(stranger.predict(run, api_name=api))
            assert line == "run owned was started from another page: only that page can cancel or resume it", line
        assert refusal(owner.predict(run, api_name="/train_cancel")) == "run owned is not running"  # past the owner check
    finally:
        owner.close()
        stranger.close()
        shutil.rmtree(server[2] / "runs" / "owned", ignore_errors=True)


def test_forged_sessions_from_one_address_are_capped_together():
    from types import SimpleNamespace

    from dmdviz.web.common import Gate, client_address

    def request(session, peer, forwarded=""):
        return SimpleNamespace(session_hash=session, client=SimpleNamespace(host=peer),
                               headers={"x-forwarded-for": forwarded} if forwarded else {})

    gate = Gate(2, per_address=8)
    verdicts = [gate.admit(f"forged-{i}", "198.51.100.9") for i in range(20) for _ in range(2)]
    assert sum(verdicts) == 8  # twenty made-up sessions hold what one address may hold
    assert gate.admit("victim", "203.0.113.7") and gate.admit("victim", "203.0.113.7")
    assert not gate.admit("victim", "203.0.113.7")  # the victim's own per-session cap still holds
    # callers without a session: one bucket per address, so one address cannot lock out the rest
    assert gate.admit(None, "192.0.2.1") and gate.admit(None, "192.0.2.1") and not gate.admit(None, "192.0.2.1")
    assert gate.admit(None, "192.0.2.2")
    gate.release(None, "192.0.2.1")
    assert gate.admit(None, "192.0.2.1")
    for i in range(4):  # the flood's places given back: its address may queue again
        gate.release(f"forged-{i}", "198.51.100.9")
        gate.release(f"forged-{i}", "198.51.100.9")
    assert gate.admit("forged-99", "198.51.100.9")
    # the address: a direct peer as it is; behind a private proxy, the entry the proxy appended last
    assert client_address(request("s", "93.184.216.34", "10.9.9.9")) == "93.184.216.34"
    assert client_address(request("s", "10.0.0.2", "6.6.6.6, 203.0.113.7")) == "203.0.113.7"
    assert client_address(request("s", "127.0.0.1")) == "127.0.0.1"


def test_forged_sessions_on_the_live_server_are_refused_and_another_address_is_served(server):
    import httpx

    reg, held = server[1], threading.Event()
    analysis_of = reg.analysis_of

    def slow(*args, **kwargs):  # each admitted computation holds the compute slot until the test lets go
        held.wait(60)
        return analysis_of(*args, **kwargs)

    other = _client(server)  # a visitor from another address (loopback itself, no proxy header)
    init = other._infer_fn_index("/init", None)
    view = list(other.endpoints[init].insert_empty_state(*VIEW))
    try:
        with pytest.MonkeyPatch.context() as mp, httpx.Client(base_url=server[0]) as http:
            mp.setattr(reg, "analysis_of", slow)
            verdicts = []
            for i in range(2 * 20):  # 20 made-up sessions, two requests each, from one address behind the proxy
                r = http.post("gradio_api/queue/join", headers={"X-Forwarded-For": "198.51.100.9"},
                              json={"data": view, "fn_index": init, "session_hash": f"forged-{i // 2}"})
                verdicts.append(r.status_code if r.status_code != 422 else r.json()["detail"][0]["message"])
            assert verdicts.count(200) == ADDRESS_QUEUE, verdicts  # the address's places, whatever its sessions
            line = (f"{SESSION_QUEUE} requests from this page (or {ADDRESS_QUEUE} from this address) are already "
                    "waiting or running: wait for one to finish")
            assert set(verdicts) == {200, line}  # the rest: the one-line refusal, never "queue full"
            waiting = other.submit(*VIEW, api_name="/init")  # a normal request: admitted, behind the held slot
            held.set()
            assert f"**{VIEW[0]} seeds**" in waiting.result(timeout=120)[1]
    finally:
        held.set()
        other.close()


def test_a_computation_past_its_time_limit_is_stopped_and_frees_the_slot(server, client, refusal, monkeypatch):
    import torch

    reg = server[1]
    gate = next(fn.validator.__self__ for fn in server[3].fns.values() if fn.api_name == "explore")
    spins, stopped, net = [], threading.Event(), torch.nn.Linear(2, 2)

    def endless(*args, **kwargs):  # an analysis that does not end by itself, network call after network call
        end = time.monotonic() + 60
        try:
            while time.monotonic() < end:
                spins.append(net(torch.ones(2)))
        finally:
            stopped.set()

    monkeypatch.setattr(gate, "request_s", 0.5)
    monkeypatch.setattr(reg, "analysis_of", endless)
    line = refusal(client.submit(VIEW[0] + 3, *VIEW[1:], api_name="/explore").result(timeout=30))
    assert line == ("this computation ran past its 0.5 s limit (DMDVIZ_REQUEST_S) and was stopped: ask for fewer "
                    "seeds, a smaller K or a smaller model"), line
    assert stopped.wait(30) and spins  # the worker ended at its next network call, not after its 60 s
    monkeypatch.undo()
    assert f"**{VIEW[0] + 3} seeds**" in client.predict(VIEW[0] + 3, *VIEW[1:], api_name="/explore")[0]  # slot free
