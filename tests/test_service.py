"""One road from a pair to its analysis: the command line's ``analyze``, the app's Explore
click, the sweep and the teacher-length series all go through ``analysis.Analyses``, and a
request checks its pair once."""

import pytest
import torch

from dmdviz import analysis, cli
from dmdviz.analysis import Analyses
from dmdviz.models import open_pair
from dmdviz.models import pair as pair_module


@pytest.fixture
def counted(monkeypatch):
    """Calls of ``Analyses.analysis`` and of the pair check, recorded as they happen."""
    calls = {"analysis": 0, "check": 0}
    real_analysis, real_check = Analyses.analysis, pair_module.check_pair

    def analysis_(self, *a, **k):
        calls["analysis"] += 1
        return real_analysis(self, *a, **k)

    def check(*a):
        calls["check"] += 1
        return real_check(*a)

    monkeypatch.setattr(Analyses, "analysis", analysis_)
    monkeypatch.setattr(pair_module, "check_pair", check)
    return calls


def test_analyze_and_an_explore_click_take_the_same_road_and_check_their_pair_once(tiny_pair, counted, capsys,
                                                                                  tmp_path, monkeypatch):
    from dmdviz.web.app import App
    from dmdviz.web.registry import Registry

    teacher, student = map(str, tiny_pair)
    assert cli.main(["analyze", "--teacher", teacher, "--student", student, "--n", "24", "--no-cache"]) == 0
    assert counted == {"analysis": 1, "check": 1}
    capsys.readouterr()

    monkeypatch.setenv("DMDVIZ_CACHE_MB", "0")
    app = App(Registry(local=True))
    pair, opened = app._pair(student, teacher, "session")
    out = app._explore(pair, opened, 24, 0, 8, 0)
    assert counted == {"analysis": 2, "check": 2} and "24 seeds" in out[0]
    app.seed_detail(pair, 24, 0, 8, 3, "session")  # another view of the same request's pair: nothing checked again
    assert counted == {"analysis": 3, "check": 2}


def test_the_road_keeps_what_its_store_keeps_and_samples_the_k_set_once(tiny_pair):
    from dmdviz.checkpoint import load_checkpoint

    pair = open_pair(*(load_checkpoint(str(p)) for p in tiny_pair))
    kept = {}

    class Store:
        def get(self, key, make):
            return kept.setdefault(key, make()) if key not in kept else kept[key]

    road = Analyses(store=Store())
    a = road.analysis(pair, 16, 0, 4)
    assert road.analysis(pair, 16, 0, 4) is a and len(kept) == 1
    assert sorted(a.s.phi) == [1, 4, 8, 32] == list(analysis.sample_ks(4))
    assert analysis.sample_ks(8, (16,)) == (1, 8, 16, 32)
    plain = Analyses().analysis(pair, 16, 0, 4)
    assert plain is not a and plain.pairing == a.pairing


def test_a_series_member_without_the_drill_samples_phi_1_and_phi_k_only_and_measures_the_same(tiny_pair):
    from dmdviz.checkpoint import load_checkpoint

    pair = open_pair(*(load_checkpoint(str(p)) for p in tiny_pair))
    full, lean = Analyses().analysis(pair, 16, 0, 4), Analyses().analysis(pair, 16, 0, 4, drill=False)
    assert sorted(lean.s.phi) == [1, 4] and sorted(full.s.phi) == [1, 4, 8, 32]
    assert lean.pairing == full.pairing and lean.margin == full.margin
    assert sorted(Analyses().analysis(pair, 16, 0, 4, (16,), drill=False).s.phi) == [1, 4, 16]


def test_the_app_samples_in_bf16_when_told_and_says_so(tiny_pair, monkeypatch):
    from dmdviz.web.app import App
    from dmdviz.web.registry import Registry

    teacher, student = map(str, tiny_pair)
    monkeypatch.setenv("DMDVIZ_CACHE_MB", "0")
    shown = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("DMDVIZ_BF16", flag)
        app = App(Registry(local=True))
        pair, opened = app._pair(student, teacher, "session")
        info = app._explore(pair, opened, 24, 0, 8, 0)[0]
        shown[flag] = (app.reg.analyses.bf16, "bf16 autocast" in info, app.reg.analysis_of(opened, 24, 0, 8).s.g)
    assert shown["0"][:2] == (False, False) and shown["1"][:2] == (True, True)
    assert not torch.equal(shown["0"][2], shown["1"][2])  # bf16's numbers are its own


def test_the_per_seed_views_sets_of_a_lean_analysis_are_the_full_ones(tiny_pair, tmp_path):
    """The app's analyses sample Φ_1, Φ_K and G; ``drill`` adds Φ_32 for the grid's first seeds
    (through the cache) and for one later seed alone: the full analysis's values."""
    from dmdviz.analysis.cache import SampleCache
    from dmdviz.checkpoint import load_checkpoint

    pair = open_pair(*(load_checkpoint(str(p)) for p in tiny_pair))
    road = Analyses(SampleCache(tmp_path))
    lean, full = road.analysis(pair, 40, 0, 8, drill=False), Analyses().analysis(pair, 40, 0, 8)
    grid = road.drill(pair, lean.s, 0, 30)
    assert sorted(grid) == list(analysis.DRILL_KS) and grid[8] is not None and torch.equal(grid[1], lean.s.phi[1][:30])
    torch.testing.assert_close(grid[32], full.s.phi[32][:30])
    computed = road.cache.computed
    assert torch.equal(road.drill(pair, lean.s, 4, 1)[32][0], grid[32][4]) and road.cache.computed == computed
    torch.testing.assert_close(road.drill(pair, lean.s, 35, 1)[32][0], full.s.phi[32][35])
    assert road.cache.computed == computed  # a later seed alone, never a cache block filled up to it
