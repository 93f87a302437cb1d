"""ZeroGPU: on a Space with lent GPUs (the ``spaces`` package importable), the app's sampling
runs inside ``spaces.GPU``, which holds a GPU for the call and returns it after.

Only what samples is wrapped: a miss of the app's analysis store (sampling N seeds for a
pair, or a second student's G) and a seed's trajectory. A cached view needs no GPU and asks
for none. Without ``spaces`` the ``Analyses`` is returned as it is.
"""

from __future__ import annotations

import functools

from dmdviz.analysis import Analyses


def _call(fn, *args, **kwargs):
    return fn(*args, **kwargs)


class _GpuStore:
    """The store of an ``Analyses`` whose ``make`` (the sampling) runs through ``gpu``."""

    def __init__(self, inner, gpu):
        self.inner, self.gpu = inner, gpu

    def get(self, key, make):
        return self.inner.get(key, lambda: self.gpu(make))


def zero_gpu(analyses: Analyses) -> Analyses:
    """``analyses`` with its sampling under ``spaces.GPU`` when ``spaces`` is importable."""
    try:
        import spaces
    except ImportError:
        return analyses
    gpu = spaces.GPU(_call)  # one decorated function: the GPU is held while it runs its argument
    analyses.store = _GpuStore(analyses.store, gpu)
    analyses.trajectory = functools.partial(gpu, analyses.trajectory)
    analyses.drill = functools.partial(gpu, analyses.drill)
    return analyses
