"""ZeroGPU: with a ``spaces`` package importable, the app's sampling runs inside ``spaces.GPU``
(a fake package on sys.path records each decorated call); cached views ask for no GPU;
without the package nothing is wrapped."""

from __future__ import annotations

import sys

import pytest

from dmdviz.analysis import Analyses
from dmdviz.checkpoint import load_checkpoint
from dmdviz.models import open_pair
from dmdviz.web.gpu import zero_gpu

FAKE = '''
calls, wrapped = [], []

def GPU(fn=None, **kwargs):
    wrapped.append(fn.__name__)
    def run(*args, **kw):
        calls.append(args[0])
        return fn(*args, **kw)
    return run
'''


class Memo:
    def __init__(self):
        self.kept = {}

    def get(self, key, make):
        if key not in self.kept:
            self.kept[key] = make()
        return self.kept[key]


@pytest.fixture
def fake_spaces(tmp_path, monkeypatch):
    (tmp_path / "spaces.py").write_text(FAKE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    yield
    sys.modules.pop("spaces", None)


def test_the_sampling_runs_under_spaces_gpu_and_a_cached_view_asks_for_none(fake_spaces, tiny_pair):
    import spaces

    pair = open_pair(*(load_checkpoint(str(p)) for p in tiny_pair))
    an = zero_gpu(Analyses(store=Memo(), device="cpu"))
    assert spaces.wrapped == ["_call"] and spaces.calls == []
    first = an.analysis(pair, 64, 0, 8)
    assert len(spaces.calls) == 1  # the store's miss: the sampling
    assert an.analysis(pair, 64, 0, 8) is first and len(spaces.calls) == 1  # a hit: no GPU asked for
    path = an.trajectory(pair, 3, 0, 8)
    assert len(spaces.calls) == 2 and path.index == 3
    assert first.s.g.shape == (64, 4)  # the real samples came back


def test_without_spaces_nothing_is_wrapped(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # `import spaces` raises ImportError
    store = Memo()
    an = zero_gpu(Analyses(store=store))
    assert an.store is store and "trajectory" not in vars(an)
