"""One road from a pair to its analysis.

Every caller (the command line's ``analyze`` and its report, the app's views, a sweep's
final metrics, the teacher-length series) asks an ``Analyses`` for its ``PairAnalysis``:
a ``models.Pair`` (opened and checked once, at the edge that resolved its references)
sampled on shared seeds through the sample cache, Φ_K for the K set ``sample_ks`` decides,
then measured. ``store`` keeps analyses in memory where a caller wants them kept (the
app's bounded LRU); without one each call samples (through the on-disk cache, when given).
"""

from __future__ import annotations

import torch

from dmdviz.analysis.pairing import PairAnalysis
from dmdviz.analysis.samples import (
    DRILL_KS,
    Samples,
    Trajectory,
    fill_cache,
    sample,
    sample_ks,
    trajectory,
    with_student,
)
from dmdviz.models import Pair

GRID_SEEDS = 30  # the seeds of the Explore image grid: their per-seed-view sets are cached


class _Unkept:
    def get(self, key, make):
        return make()


class Analyses:
    """``cache``: an ``analysis.cache.SampleCache`` or None; ``store``: any object with
    ``get(key, make)`` (made once per key); ``device`` / ``bf16``: where and how to sample."""

    def __init__(self, cache=None, store=None, device=None, bf16: bool = False):
        self.cache, self.store, self.device, self.bf16 = cache, store or _Unkept(), device, bf16

    def analysis(self, pair: Pair, n: int, seed: int, k: int, extra_ks=(), drill: bool = True) -> PairAnalysis:
        """The analysis at K = ``k`` on seeds 0 .. n-1 of ``seed`` (Φ_K for ``sample_ks(k, extra_ks)``).
        ``drill=False`` samples Φ_1, Φ_K and ``extra_ks`` only (no Φ_32 of the per-seed view):
        the same metrics; the app's analyses, whose pages get the per-seed view's sets for the
        seeds they show from ``drill``, and a series member whose seeds nobody opens."""
        ks = sample_ks(k, extra_ks) if drill else tuple(sorted({1, int(k), *map(int, extra_ks)}))
        key = ("pair", pair.teacher.identity, pair.student.identity, int(n), int(seed), int(k), ks, self.bf16)
        return self.store.get(key, lambda: PairAnalysis(
            sample(pair, int(n), int(seed), ks, device=self.device, bf16=self.bf16, cache=self.cache), int(k)))

    def drill(self, pair: Pair, s: Samples, start: int, count: int) -> dict[int, torch.Tensor]:
        """Φ_K for every K of the per-seed view (``DRILL_KS``) on ``s``'s seeds start .. start +
        count - 1, (count, *shape) each: ``s``'s own sets where it has them (a lean analysis has
        Φ_1 and Φ_K), the others sampled: through the cache within ``s``'s first ``GRID_SEEDS``
        (the image grid's seeds: one set of bits for the grid and an opened seed), else for these
        seeds alone (a later seed opened: no cache block filled up to it)."""
        lo = start - s.start
        out = {k: s.phi[k][lo:lo + count] for k in DRILL_KS if k in s.phi}
        missing = tuple(k for k in DRILL_KS if k not in out)
        if missing and lo + count <= GRID_SEEDS:  # from s's first seed: the cache fills its blocks from their start
            more = sample(pair, lo + count, s.seed, missing, s.start, device=self.device, bf16=self.bf16, cache=self.cache)
            out.update({k: x[lo:] for k, x in more.phi.items()})
        elif missing:
            out.update(sample(pair, count, s.seed, missing, start, device=self.device, bf16=self.bf16).phi)
        return {k: out[k] for k in DRILL_KS}

    def second(self, first: PairAnalysis, pair: Pair) -> PairAnalysis:
        """``pair``'s student (a second student of ``first``'s teacher) on ``first``'s seeds and
        teacher targets: only its G is sampled."""
        s = first.s
        key = ("second", pair.teacher.identity, pair.student.identity, s.n, s.seed, first.k, self.bf16)
        return self.store.get(key, lambda: PairAnalysis(
            with_student(s, pair, device=self.device, bf16=self.bf16, cache=self.cache), first.k))

    def trajectory(self, pair: Pair, index: int, seed: int, k: int) -> Trajectory:
        """Sample ``index``'s K-step path (the per-seed view)."""
        return trajectory(pair, index, seed, k, self.device)

    def fill(self, pair: Pair, n: int, seed: int, k: int, extra_ks, rank: int, world: int) -> None:
        """This torchrun rank's share of ``analysis``'s samples, into the cache."""
        fill_cache(pair, n, seed, sample_ks(k, extra_ks), self.cache, rank, world, device=self.device, bf16=self.bf16)
