"""Samples of a teacher/student pair on shared seeds (spec §2, §4).

``sample`` evaluates Φ_K for every K asked and G on the same noises z_i, once; every
metric and figure reads from that one ``Samples`` object (never resample per figure).
Each function takes a ``models.Pair`` (checked once, where it was opened); ``sample_pair``
and ``seed_trajectory`` open one from a teacher and a student for library callers.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from dmdviz import models
from dmdviz.analysis.cache import blocks as cache_blocks
from dmdviz.core import noise
from dmdviz.errors import DmdvizError


@dataclass
class Samples:
    """Samples on seeds ``start .. start + n - 1`` of ``seed``: z, y, Φ_K per K, G.

    ``z``, ``g`` and each ``phi[k]`` are CPU float32 (n, *shape); ``y`` is (n,) long or None.
    ``z`` is the seeded noise G is called with; ``phi`` is the teacher run on the noise of
    the student's target (``StudentNet.target_noise``: R z for a noise-rotated student that
    relabels, else z), kept in ``extra["teacher_z"]`` when it differs from ``z``.
    """

    seed: int
    z: torch.Tensor
    y: torch.Tensor | None
    phi: dict[int, torch.Tensor]
    g: torch.Tensor
    start: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.z)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.z.shape[1:])

    @property
    def seeds(self) -> torch.Tensor:
        """Sample indices i of z_i, (n,) long: the identity every figure hovers with."""
        return torch.arange(self.start, self.start + self.n)


DRILL_KS = (1, 8, 32)  # every analysis samples Φ_1, Φ_8, Φ_32 (the per-seed view, paper fig 1) beside its Φ_K


def sample_ks(k: int, extra=()) -> tuple[int, ...]:
    """The K values an analysis at K = ``k`` samples: ``DRILL_KS``, ``k`` and ``extra``."""
    return tuple(sorted({*DRILL_KS, int(k), *map(int, extra)}))


def _autocast(device, bf16: bool):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if bf16 else nullcontext()


def sample_pair(teacher, student, n: int, seed: int = 0, ks=DRILL_KS, start: int = 0, chunk: int = 250,
                device=None, bf16: bool = False, cache=None) -> Samples:
    """``sample`` of the pair ``teacher`` / ``student`` (protocol objects or dmdviz checkpoints)."""
    return sample(models.open_pair(teacher, student), n, seed, ks, start, chunk, device, bf16, cache)


def sample(pair: models.Pair, n: int, seed: int = 0, ks=DRILL_KS, start: int = 0, chunk: int = 250,
           device=None, bf16: bool = False, cache=None) -> Samples:
    """Φ_K(z_i) for each K in ``ks`` and G(z_i), i = start .. start + n - 1.

    Chunks of ``chunk``
    seeds under ``torch.inference_mode``; ``bf16`` runs the networks under bf16 autocast
    (~1e-2 relative error; off by default so metrics are fp32-exact). With a ``cache``
    (``analysis.cache.SampleCache``) every set is read from disk where it was sampled
    before and only the missing seeds are computed. Results are CPU float32.
    """
    placed = pair.on(device)
    t, g = placed.teacher, placed.student
    z, y = noise.seeded(seed, n, t.shape, t.n_classes, start)
    target, tag = _target_noise(g, z)
    phi = {k: _sampled(t, ("phi", k, *tag), lambda zc, yc, k=k: t.phi(zc, k, yc), target, y, seed, start, chunk,
                       bf16, cache)
           for k in ks}
    g_out = _sampled(g, ("g",), g, z, y, seed, start, chunk, bf16, cache)
    return Samples(seed, z, y, phi, g_out, start, {"teacher_z": target} if tag else {})


def _target_noise(student, z: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """The noise of the student's teacher targets for seeds z, and its cache tag: (z, ()) unless
    the student relabels its seeds (protocol's optional ``target_noise``), then (T z, (its
    identity,)) so the teacher's samples on T z are cached apart from those on z."""
    if not getattr(student, "relabels", False):
        return z, ()
    with torch.inference_mode():
        return student.target_noise(z.to(student.device, student.dtype)).float().cpu(), ("noise", student.identity)


def fill_cache(pair: models.Pair, n: int, seed: int, ks, cache, rank: int, world: int, chunk: int = 250,
               device=None, bf16: bool = False) -> None:
    """This rank's share of ``sample(pair, n, seed, ks, cache=cache)``: the cache blocks j
    with j % world == rank, each computed on its own range as one process would, so rank
    0's later ``sample`` reads exactly the single-process bytes."""
    placed = pair.on(device)
    t, g = placed.teacher, placed.student
    for j, (lo, hi) in enumerate(cache_blocks(0, n)):
        if j % world != rank:
            continue
        z, y = noise.seeded(seed, hi - lo, t.shape, t.n_classes, lo)
        target, tag = _target_noise(g, z)
        for k in ks:
            _sampled(t, ("phi", k, *tag), lambda zc, yc, k=k: t.phi(zc, k, yc), target, y, seed, lo, chunk, bf16,
                     cache)
        _sampled(g, ("g",), g, z, y, seed, lo, chunk, bf16, cache)


def with_student(samples: Samples, pair: models.Pair, chunk: int = 250, device=None, bf16: bool = False,
                 cache=None) -> Samples:
    """The same seeds and teacher targets with ``pair``'s student (a second student of the
    first one's teacher), compared on exactly the first one's z_i and Φ_K(z_i), the teacher
    not rerun."""
    g = pair.on(device).student
    target, _ = _target_noise(g, samples.z)
    if not torch.equal(target, samples.extra.get("teacher_z", samples.z)):
        raise DmdvizError(f"{g.identity.split('@')[0]} has its teacher targets on other noise (a noise rotation) "
                          "than the first student, so the two cannot share one frame")
    out = _sampled(g, ("g",), g, samples.z, samples.y, samples.seed, samples.start, chunk, bf16, cache)
    return Samples(samples.seed, samples.z, samples.y, samples.phi, out, samples.start, samples.extra)


def _sampled(model, what: tuple, fn, z, y, seed: int, start: int, chunk: int, bf16: bool, cache) -> torch.Tensor:
    """fn over the seeds, through the cache when there is one (keyed by ``model.identity``)."""
    def compute(lo: int, hi: int) -> torch.Tensor:
        return _in_chunks(fn, z[lo - start:hi - start], None if y is None else y[lo - start:hi - start],
                          chunk, model, bf16)

    if cache is None:
        return compute(start, start + len(z))
    return cache.get(model, what, seed, start, len(z), bf16, compute)


def _in_chunks(fn, z: torch.Tensor, y: torch.Tensor | None, chunk: int, model, bf16: bool) -> torch.Tensor:
    """fn(z, y) over chunks of ``chunk`` rows under inference mode, as one CPU float32 tensor;
    inputs go to the model's device and dtype."""
    out = []
    device = model.device
    with torch.inference_mode(), _autocast(device, bf16):
        for i in range(0, len(z), chunk):
            yc = None if y is None else y[i : i + chunk].to(device)
            out.append(fn(z[i : i + chunk].to(device, model.dtype), yc).float().cpu())
    return torch.cat(out) if out else torch.zeros((0, *model.shape))


@dataclass
class Trajectory:
    """One seed's drill-down: the teacher's Euler path and the student's jump.

    ``states`` (K + 1, *shape) in dmdviz coordinates from the start (z for a dmdviz teacher,
    t = 0) to Φ_K(z) (t = 1); ``times`` (K + 1,) the teacher's own grid (docs/parameterisations.md);
    ``phi_1`` and ``g`` (*shape). All CPU float32.
    """

    seed: int
    index: int
    states: torch.Tensor
    times: torch.Tensor
    phi_1: torch.Tensor
    g: torch.Tensor
    y: int | None


def seed_trajectory(teacher, student, index: int, seed: int = 0, k: int = 8, device=None) -> Trajectory:
    """``trajectory`` of the pair ``teacher`` / ``student``."""
    return trajectory(models.open_pair(teacher, student), index, seed, k, device)


def trajectory(pair: models.Pair, index: int, seed: int = 0, k: int = 8, device=None) -> Trajectory:
    """The K-step trajectory of Φ_K for sample ``index`` of ``seed``, with Φ_1 and G;
    states in dmdviz coordinates at the teacher's own times (uniform k / K for dmdviz nets)."""
    placed = pair.on(device)
    t, g = placed.teacher, placed.student
    z, y = noise.seeded(seed, 1, t.shape, t.n_classes, index)
    z, y = z.to(t.device, t.dtype), None if y is None else y.to(t.device)
    start = _target_noise(g, z)[0].to(t.device, t.dtype)  # the teacher runs on the noise of G's target
    with torch.inference_mode():
        states = t.phi(start, k, y, trajectory=True)[:, 0].float().cpu()
        phi_1 = t.phi(start, 1, y)[0].float().cpu()
        out = g(z, y)[0].float().cpu()
    return Trajectory(seed, index, states, t.times(k).float(), phi_1, out, None if y is None else int(y[0]))
