"""Run folders (dmdviz.files, experiments.launcher): one torn-line rule for every JSONL reader, atomic writes, names."""

import json

import pytest

from dmdviz import files
from dmdviz.errors import DmdvizError
from dmdviz.experiments import launcher


def _lines(path, *recs, torn=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + torn)


def test_a_torn_last_line_is_never_read(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _lines(path, {"step": 1}, {"step": 2}, torn='{"step": 3, "lo')
    assert files.read_jsonl(path) == [{"step": 1}, {"step": 2}]
    assert files.read_metrics(tmp_path) == [{"step": 1}, {"step": 2}]  # a folder reads its metrics.jsonl
    tail = files.Tail()
    assert tail.read(path) == [{"step": 1}, {"step": 2}]
    with open(path, "a") as f:
        f.write('ss": 0.5}\n{"step": 4}\n')  # the torn line completed by its writer, then one more
    assert tail.read(path) == [{"step": 1}, {"step": 2}, {"step": 3, "loss": 0.5}, {"step": 4}]


def test_cut_torn_tail_keeps_appends_whole(tmp_path):
    path = tmp_path / "results.jsonl"
    _lines(path, {"a": 1}, torn='{"a": ')
    files.cut_torn_tail(path)
    files.append(path, {"a": 2})
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'
    files.cut_torn_tail(tmp_path / "absent.jsonl")  # nothing to cut


def test_keep_until_cuts_back_to_a_resumed_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _lines(path, {"step": 0}, {"step": 1, "x": 0.1234567}, {"step": 2}, torn='{"st')
    tail = files.Tail()
    assert len(tail.read(path)) == 3
    files.keep_until(path, 1)
    assert path.read_text() == '{"step": 0}\n{"step": 1, "x": 0.1234567}\n'
    assert tail.read(path) == [{"step": 0}, {"step": 1, "x": 0.1234567}]  # a rewritten file is read afresh


def test_a_damaged_middle_line_is_an_error_not_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(DmdvizError, match="not JSON"):
        files.read_jsonl(path)


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "status.json"
    files.write_json(path, {"state": "running"})

    def broken(p):
        p.write_text('{"state": "do')
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        files.atomic_write(path, broken)
    assert files.read_json(path) == {"state": "running"} and [p.name for p in tmp_path.iterdir()] == ["status.json"]


@pytest.mark.parametrize("name", ["", "..", "a/b", "../x", "x" * 65, "a b"])
def test_names_are_one_safe_path_component(name):
    with pytest.raises(DmdvizError, match="not a run name"):
        files.check_name(name)


def test_stop_protocol(tmp_path):
    assert not files.stop_requested(tmp_path)
    files.request_stop(tmp_path)
    assert files.stop_requested(tmp_path)
    files.clear_stop(tmp_path)
    assert not files.stop_requested(tmp_path) and not launcher.worker_alive(tmp_path)
