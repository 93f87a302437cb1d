"""Distances in decoded pixels: a latent pair seen through its VAE (pair file ``space = "pixels"``).

Noise, labels, velocity and times stay the latent model's (the same z_i feed Φ_K and G);
only the samples are decoded, Φ_K(z) -> decode(Φ_K(z)) and G(z) -> decode(G(z)), so every
pairing metric is computed between images. A trajectory is decoded state by state: its
inner states are dmdviz-coordinate latents, a picture of the path rather than a metric.
The identity joins the model's and the decoder's, so pixel samples never meet latent ones
in the cache.
"""

from __future__ import annotations

import torch


class _Decoded:
    def __init__(self, inner, decode):
        self.inner, self.decode = inner, decode
        self.identity = f"{inner.identity}|{decode.identity}"
        self.shape, self.n_classes, self.dtype, self.device = inner.shape, inner.n_classes, inner.dtype, inner.device


class DecodedTeacher(_Decoded):
    def velocity(self, x_t, t, y=None):
        return self.inner.velocity(x_t, t, y)

    def times(self, k):
        return self.inner.times(k)

    def phi(self, z, k, y=None, trajectory=False):
        out = self.inner.phi(z, k, y, trajectory)
        return torch.stack([self.decode(s) for s in out]) if trajectory else self.decode(out)


class DecodedStudent(_Decoded):
    def __call__(self, z, y=None):
        return self.decode(self.inner(z, y))
