"""Size limits, in one place: the library's absolute bounds and the app's limits.

A request is checked once, where it enters (the CLI's parser, the app's registry and job and
sweep specs), against these; the layers below trust their typed arguments.

``MAX_SEEDS``, ``MAX_K`` and ``MAX_STEPS`` bound what any one call may ask for, command
line included. ``Limits`` is the app's share of them, read once from the environment (the
only reader of ``DMDVIZ_MAX_SEEDS``, ``DMDVIZ_MAX_K``, ``DMDVIZ_MAX_STEPS``, ...), and never
above those bounds.

A public Space (``DMDVIZ_PUBLIC=1``, the default on a Hugging Face Space, which sets
``SPACE_ID``; ``DMDVIZ_PUBLIC=0`` turns it off) gets smaller defaults: strangers share its
two CPU cores, so one request must not be able to hold them for minutes. Every limit can
still be set explicitly by its variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_SEEDS = 20_000  # seeds (sample indices) of one analysis
# the fewest seeds of one analysis: below 5, some of the bootstrap's 200 resamples draw one seed N times,
# and a pairing of one seed has no cross-seed costs (at N = 2, 3, 4: 107, 24 and 3 of them)
MIN_SEEDS = 5
MAX_POINT_SEEDS = 100_000  # seeds of the point metrics alone (analysis.large: bounded memory)
MAX_K = 1024  # Euler steps of one teacher target Φ_K
MAX_STEPS = 10**7  # iterations of one training run
MAX_SAMPLE_VALUES = 2**24  # numbers in one sample (C × H × W) of any model, command line included


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _public() -> bool:
    """``DMDVIZ_PUBLIC`` when set; unset, a Hugging Face Space (``SPACE_ID``) counts as public."""
    value = os.environ.get("DMDVIZ_PUBLIC", "").strip().lower()
    if not value:
        return bool(os.environ.get("SPACE_ID"))
    return value in ("1", "true", "yes")


@dataclass(frozen=True)
class Limits:
    public: bool
    max_seeds: int  # DMDVIZ_MAX_SEEDS: seeds per Explore request (at most MAX_SEEDS)
    max_k: int  # DMDVIZ_MAX_K: Euler steps of the teacher target (at most MAX_K)
    max_steps: int  # DMDVIZ_MAX_STEPS: teacher or student steps of one job or sweep sub-run (at most MAX_STEPS)
    max_jobs: int  # DMDVIZ_MAX_JOBS: background runs at once, training jobs and sweeps together
    job_threads: int  # DMDVIZ_JOB_THREADS: torch threads of each job
    app_threads: int  # DMDVIZ_APP_THREADS: torch threads of the server's own sampling
    max_upload_mb: int  # DMDVIZ_MAX_UPLOAD_MB: one uploaded file
    max_models: int  # DMDVIZ_MAX_MODELS: checkpoints kept loaded
    max_cached: int  # DMDVIZ_MAX_CACHED: sample sets kept in memory
    compute_slots: int  # DMDVIZ_COMPUTE_SLOTS: Explore/Diagnostics requests computed at once
    max_model_mb: int = 1024  # DMDVIZ_MAX_MODEL_MB: weights and buffers of one network a config describes
    queue_size: int = 64  # DMDVIZ_QUEUE_SIZE: requests waiting in the server's queue, all visitors together
    session_queue: int = 4  # DMDVIZ_SESSION_QUEUE: requests one visitor may have waiting or running
    address_queue: int = 8  # DMDVIZ_ADDRESS_QUEUE: requests one client address may have waiting or running
    upload_ttl_s: int = 3600  # DMDVIZ_UPLOAD_TTL_S: an upload is deleted this long after it came
    max_zip_entries: int = 64  # DMDVIZ_MAX_ZIP_ENTRIES: entries in one uploaded zip
    max_sample_values: int = 2**20  # DMDVIZ_MAX_SAMPLE_VALUES: numbers in one sample (C × H × W) of a diffusers model
    max_samples_mb: int = 2048  # DMDVIZ_MAX_SAMPLES_MB: one sample set, N × one sample in float32
    max_download_mb: int = 8192  # DMDVIZ_MAX_DOWNLOAD_MB: the files one Hub reference downloads, together
    request_s: int = 900  # DMDVIZ_REQUEST_S: wall-clock seconds of one computation (its slot is then freed); 0: none
    download_s: int = 1800  # DMDVIZ_DOWNLOAD_S: wall-clock seconds of one Hub reference's downloads; 0: none
    hub_cache_mb: int = 0  # DMDVIZ_HUB_CACHE_MB: the Hub cache, least recently used repos evicted above it; 0: none
    disk_margin_mb: int = 512  # DMDVIZ_DISK_MARGIN_MB: free disk an upload must leave
    job_s: int = 0  # DMDVIZ_JOB_S: wall-clock seconds of one start of a background job or sweep (then it stops, resumable); 0: none
    max_sweep_runs: int = 0  # DMDVIZ_MAX_SWEEP_RUNS: sub-runs of one sweep started from the app; 0: none
    max_runs: int = 0  # DMDVIZ_MAX_RUNS: runs kept under the runs root (the oldest not running deleted at a start); 0: none
    runs_mb: int = 0  # DMDVIZ_RUNS_MB: disk the runs under the runs root may take, likewise; 0: none

    @classmethod
    def from_env(cls) -> "Limits":
        public = _public()
        return cls(
            public=public,
            max_seeds=min(MAX_SEEDS, _env_int("DMDVIZ_MAX_SEEDS", 500 if public else 2000)),
            max_k=min(MAX_K, _env_int("DMDVIZ_MAX_K", 64 if public else 256)),
            max_steps=min(MAX_STEPS, _env_int("DMDVIZ_MAX_STEPS", 3000 if public else 50_000)),
            max_jobs=_env_int("DMDVIZ_MAX_JOBS", 1 if public else 2),
            # a Space's job keeps one core for the visitors' views; a local app's uses them all, as the CLI does
            job_threads=_env_int("DMDVIZ_JOB_THREADS", 1 if public else os.cpu_count() or 1),
            app_threads=_env_int("DMDVIZ_APP_THREADS", 1),
            max_upload_mb=_env_int("DMDVIZ_MAX_UPLOAD_MB", 32 if public else 256),
            max_models=_env_int("DMDVIZ_MAX_MODELS", 6 if public else 16),
            max_cached=_env_int("DMDVIZ_MAX_CACHED", 8 if public else 32),
            compute_slots=_env_int("DMDVIZ_COMPUTE_SLOTS", 1),
            max_model_mb=_env_int("DMDVIZ_MAX_MODEL_MB", 256 if public else 1024),
            queue_size=_env_int("DMDVIZ_QUEUE_SIZE", 64),
            session_queue=_env_int("DMDVIZ_SESSION_QUEUE", 4),
            # below the queue's size, whatever is set: else one address could fill it for everyone
            address_queue=min(_env_int("DMDVIZ_ADDRESS_QUEUE", 8), max(1, _env_int("DMDVIZ_QUEUE_SIZE", 64) - 1)),
            upload_ttl_s=_env_int("DMDVIZ_UPLOAD_TTL_S", 3600),
            max_zip_entries=_env_int("DMDVIZ_MAX_ZIP_ENTRIES", 64),
            # 4 × 64 × 64: an SD-style latent; a 2048² UNet sample ran for minutes at 4.7 GB on a Space
            max_sample_values=min(MAX_SAMPLE_VALUES, _env_int("DMDVIZ_MAX_SAMPLE_VALUES", 4 * 64 * 64 if public else 2**20)),
            max_samples_mb=_env_int("DMDVIZ_MAX_SAMPLES_MB", 64 if public else 2048),
            max_download_mb=_env_int("DMDVIZ_MAX_DOWNLOAD_MB", 512 if public else 8192),
            request_s=_env_int("DMDVIZ_REQUEST_S", 120 if public else 900),
            download_s=_env_int("DMDVIZ_DOWNLOAD_S", 120 if public else 1800),
            # locally the Hub cache is the user's, shared with other tools: no eviction unless asked
            hub_cache_mb=_env_int("DMDVIZ_HUB_CACHE_MB", 4096 if public else 0),
            disk_margin_mb=_env_int("DMDVIZ_DISK_MARGIN_MB", 1024 if public else 512),
            job_s=_env_int("DMDVIZ_JOB_S", 1800 if public else 0),
            max_sweep_runs=_env_int("DMDVIZ_MAX_SWEEP_RUNS", 12 if public else 0),
            max_runs=_env_int("DMDVIZ_MAX_RUNS", 20 if public else 0),
            runs_mb=_env_int("DMDVIZ_RUNS_MB", 2048 if public else 0),
        )
