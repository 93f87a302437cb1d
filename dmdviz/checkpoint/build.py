"""The network a checkpoint config describes, and the bounds it is checked against first.

``check_size`` bounds every size in a config (widths, depth, channels, sample shape, classes)
and then builds the network on the meta device, so a config asking for gigabytes is refused
in one line before any storage is allocated; ``build_model`` builds it for real.
"""

from __future__ import annotations

import math

import torch

from dmdviz.config import NetConfig, from_dict
from dmdviz.core.dmd import ExtraNoise, StudentNet
from dmdviz.core.nets import build_net
from dmdviz.errors import DmdvizError
from dmdviz.limits import Limits

# Structural bounds of a checkpoint config, checked before the meta build (which itself costs
# host memory per module: a depth of 10^7 would be millions of Python objects). The sample
# bound is the largest preset's (imagenet64, 3 x 64 x 64); the others leave every preset far inside.
MAX_SAMPLE_DIM = 3 * 64 * 64
MAX_AXES = 3
BOUNDS = {"hidden": 1 << 16, "depth": 64, "time_dim": 4096, "n_classes": 100_000, "channels": 4096}
DATA_BOUNDS = {"dim": MAX_SAMPLE_DIM, "n_classes": BOUNDS["n_classes"], "cells": 1024, "latent_dim": 64,
               "size": 256, "channels": 4, "max_images": 10**6}


def build_model(config: dict) -> torch.nn.Module:
    """The (untrained) module a checkpoint config describes."""
    net = build_net(from_dict(NetConfig, config["net"]))
    if config["role"] == "student":
        rotation = None
        if config.get("student", {}).get("noise_rotation"):
            d = math.prod(config["net"]["shape"])
            rotation = torch.zeros(d, d)
        extra = None
        if config.get("student", {}).get("extra_noise"):
            d = math.prod(config["net"]["shape"])
            extra = ExtraNoise(d, int(config["net"]["hidden"]))
        return StudentNet(net, rotation, relabel=not config.get("student", {}).get("shuffled_control", False), extra=extra)
    return net


def _count(value, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DmdvizError(f"config.json: {what} must be an integer between {low} and {high}, got {str(value)[:40]}")
    return value


def check_size(config: dict, limits: Limits | None = None) -> torch.nn.Module:
    """Bound every size a checkpoint config names, before anything real is allocated; returns
    the network built on the meta device (shapes and dtypes, no storage), whose weights and
    buffers (fp32, plus a student's noise rotation) fit the memory budget.

    Each field is checked against ``BOUNDS`` / ``DATA_BOUNDS`` / ``MAX_SAMPLE_DIM`` first; the
    network is then built on the meta device (no storage) and its bytes compared with
    ``limits.max_model_mb`` (``DMDVIZ_MAX_MODEL_MB``). One ``DmdvizError`` line otherwise."""
    limits = limits or Limits.from_env()
    net, data = config.get("net"), config.get("data")
    if not isinstance(net, dict) or not isinstance(data, dict):
        raise DmdvizError("config.json: net and data must be JSON objects")
    shape = net.get("shape", [])
    if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_AXES:
        raise DmdvizError(f"config.json: net.shape must be a list of 1 to {MAX_AXES} sizes, got {str(shape)[:40]}")
    for size in shape:
        _count(size, "each net.shape size", 1, MAX_SAMPLE_DIM)
    d = math.prod(shape)
    if d > MAX_SAMPLE_DIM:
        raise DmdvizError(f"config.json: samples of {d:,} values (net.shape {shape}) are over the limit of "
                          f"{MAX_SAMPLE_DIM:,} (3 x 64 x 64)")
    for key, high in BOUNDS.items():
        if key == "channels":
            channels = net.get("channels", [])
            if not isinstance(channels, list) or len(channels) > 8:
                raise DmdvizError("config.json: net.channels must be a list of at most 8 widths")
            for c in channels:
                _count(c, "each net.channels width", 1, high)
        elif key in net:
            _count(net[key], f"net.{key}", 0 if key == "n_classes" else 1, high)
    for key, high in DATA_BOUNDS.items():
        if key in data:
            _count(data[key], f"data.{key}", 0, high)
    try:
        with torch.device("meta"):
            model = build_model(config)
    except (TypeError, ValueError, KeyError) as e:
        raise DmdvizError(f"config.json describes no valid network ({str(e).splitlines()[0][:120]})") from None
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    if size > limits.max_model_mb * 2**20:
        raise DmdvizError(f"config.json describes a network of {size / 2**20:,.0f} MB, over the "
                          f"{limits.max_model_mb} MB limit (DMDVIZ_MAX_MODEL_MB)")
    return model
