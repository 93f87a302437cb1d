"""The on-disk sample cache (issue 12 goal 2): computed once, grown, never stale, torn-safe."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from dmdviz import analysis
from dmdviz.analysis.cache import BLOCK, SampleCache
from dmdviz.checkpoint import load_checkpoint
from dmdviz.models import as_teacher
from dmdviz.web.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
KS = (1, 8)


def _count_forwards(*ckpts) -> list[int]:
    calls = [0]
    for c in ckpts:
        c.model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_a_second_analysis_of_the_same_request_performs_no_forward(tiny_pair, tmp_path, monkeypatch):
    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    first = Registry(local=True)  # the library's registry: local folders resolve
    pair = first.pair(str(tiny_pair[1]), str(tiny_pair[0]))
    calls = _count_forwards(*pair.given)
    a = first.analysis_of(pair, 300, 4, 8).pairing
    assert calls[0] > 0
    second = Registry(local=True)  # a fresh process: empty in-memory stores, the same disk cache
    pair = second.pair(str(tiny_pair[1]), str(tiny_pair[0]))
    calls = _count_forwards(*pair.given)
    b = second.analysis_of(pair, 300, 4, 8).pairing
    assert calls[0] == 0 and a == b


def test_a_larger_n_reuses_the_smaller_ones_samples_exactly(tiny_pair, tmp_path):
    t, s = load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1]))
    cache = SampleCache(tmp_path)
    small = analysis.sample_pair(t, s, 300, 2, KS, cache=cache)
    assert cache.computed == 300 * 3  # Φ_1, Φ_8, G
    big = analysis.sample_pair(t, s, 700, 2, KS, cache=cache)
    assert cache.computed == 700 * 3
    for k in KS:
        assert torch.equal(big.phi[k][:300], small.phi[k])
    assert torch.equal(big.g[:300], small.g)
    torch.testing.assert_close(big.phi[8], analysis.sample_pair(t, s, 700, 2, KS).phi[8])
    names = sorted(p.name for p in next(tmp_path.iterdir()).iterdir())
    assert names == [f"block-{b:08d}.safetensors" for b in range(3)]


def test_other_weights_under_the_same_path_never_hit_a_stale_entry(tiny_pair, tmp_path):
    folder = tmp_path / "teacher"
    shutil.copytree(tiny_pair[0], folder, ignore=shutil.ignore_patterns("snapshots"))
    s, cache = load_checkpoint(str(tiny_pair[1])), SampleCache(tmp_path / "cache")
    old = load_checkpoint(str(folder))
    before = analysis.sample_pair(old, s, 50, 0, KS, cache=cache)
    shutil.copyfile(tiny_pair[0] / "snapshots" / "step-000100" / "model.safetensors", folder / "model.safetensors")
    changed = load_checkpoint(str(folder))
    # the key is the weights in use: the model loaded before the swap keeps its own
    assert as_teacher(old).identity != as_teacher(changed).identity
    assert torch.equal(analysis.sample_pair(old, s, 50, 0, KS, cache=cache).phi[8], before.phi[8])
    after = analysis.sample_pair(changed, s, 50, 0, KS, cache=cache)
    assert not torch.equal(after.phi[8], before.phi[8])
    assert torch.equal(after.phi[8], analysis.sample_pair(changed, s, 50, 0, KS).phi[8])
    assert torch.equal(after.g, before.g)  # the student did not change: its G is a hit


def test_a_torn_cache_file_is_detected_and_recomputed(tiny_pair, tmp_path):
    t, s = load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1]))
    cache = SampleCache(tmp_path)
    good = analysis.sample_pair(t, s, 2 * BLOCK, 1, KS, cache=cache)
    files = sorted(tmp_path.glob("*/block-*.safetensors"))
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])  # torn: cut in half
    flipped = bytearray(files[1].read_bytes())
    flipped[-5] ^= 0xFF  # same length, one byte of data changed
    files[1].write_bytes(bytes(flipped))
    again = SampleCache(tmp_path)
    redo = analysis.sample_pair(t, s, 2 * BLOCK, 1, KS, cache=again)
    assert again.computed == 2 * BLOCK  # exactly the two damaged blocks, no others
    assert torch.equal(redo.phi[8], good.phi[8]) and torch.equal(redo.g, good.g)


def test_the_cache_stays_within_its_bound(tiny_pair, tmp_path):
    t, s = load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1]))
    cache = SampleCache(tmp_path, max_bytes=20_000)
    analysis.sample_pair(t, s, 4 * BLOCK, 0, KS, cache=cache)
    assert sum(p.stat().st_size for p in tmp_path.glob("*/*")) <= 20_000


SLOW = """
import sys, time
from dmdviz import analysis
from dmdviz.analysis.cache import SampleCache
from dmdviz.checkpoint import load_checkpoint
from dmdviz.models import as_teacher
from dmdviz.models import as_teacher

class Slow:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    def phi(self, z, k, y=None, trajectory=False):
        time.sleep(0.4)  # a slow teacher, so the kill lands mid-analysis
        return self.inner.phi(z, k, y, trajectory)
    velocity = lambda self, *a: self.inner.velocity(*a)
    times = lambda self, k: self.inner.times(k)

t = Slow(as_teacher(load_checkpoint(sys.argv[1])))
analysis.sample_pair(t, load_checkpoint(sys.argv[2]), 8 * 256, 0, (1, 8), chunk=128, cache=SampleCache(sys.argv[3]))
"""


def test_sigkill_mid_analysis_then_resume_gives_identical_metrics(tiny_pair, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SLOW, str(tiny_pair[0]), str(tiny_pair[1]), str(tmp_path / "c")],
                            env=env, cwd=ROOT)
    deadline = time.time() + 60
    while len(list(tmp_path.glob("c/*/block-*.safetensors"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(tmp_path.glob("c/*/block-*.safetensors")))
    assert 3 <= written < 8 * 3, "the kill must land mid-analysis"
    t, s = load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1]))
    resumed_cache = SampleCache(tmp_path / "c")
    resumed = analysis.sample_pair(t, s, 8 * BLOCK, 0, (1, 8), chunk=128, cache=resumed_cache)
    assert 0 < resumed_cache.computed < 8 * BLOCK * 3  # the blocks on disk were kept
    whole = analysis.sample_pair(t, s, 8 * BLOCK, 0, (1, 8), chunk=128, cache=SampleCache(tmp_path / "fresh"))
    assert analysis.PairAnalysis(resumed, 8).pairing == analysis.PairAnalysis(whole, 8).pairing


def test_shipped_samples_are_read_and_the_same_numbers_come_without_them(tiny_pair, tmp_path, monkeypatch):
    """A read-only cache shipped beside the checkpoints (``settings.shipped_samples``) answers
    where the user's folder misses, is never written, and, deleted, leaves the same samples
    computed (issue 26: a shipped cache counts only if the app works without it)."""
    t, s = load_checkpoint(str(tiny_pair[0])), load_checkpoint(str(tiny_pair[1]))
    shipped = tmp_path / "checkpoints" / "samples"
    analysis.sample_pair(t, s, 300, 5, KS, cache=SampleCache(shipped))  # what the build step writes
    before = {p: p.stat().st_mtime_ns for p in shipped.rglob("*.safetensors")}
    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("DMDVIZ_SHIPPED_SAMPLES", str(shipped))
    cache = SampleCache.from_env()
    read = analysis.sample_pair(t, s, 300, 5, KS, cache=cache)
    assert cache.shipped == shipped and cache.computed == 0
    grown = analysis.sample_pair(t, s, 400, 5, KS, cache=cache)  # beyond the shipped blocks: computed, kept in the user's folder
    assert cache.computed == 100 * 3 and torch.equal(grown.phi[8][:300], read.phi[8])
    assert {p: p.stat().st_mtime_ns for p in shipped.rglob("*.safetensors")} == before
    shutil.rmtree(shipped)
    monkeypatch.setenv("DMDVIZ_CACHE_DIR", str(tmp_path / "fresh"))
    cold = SampleCache.from_env()
    assert cold.shipped is None
    again = analysis.sample_pair(t, s, 300, 5, KS, cache=cold)
    assert cold.computed == 300 * 3
    assert all(torch.equal(again.phi[k], read.phi[k]) for k in KS) and torch.equal(again.g, read.g)
