"""Public mode: smaller limits on a public Space, each still settable by its own variable."""

import pytest

from dmdviz.limits import Limits

KEYS = ("DMDVIZ_PUBLIC", "SPACE_ID", "DMDVIZ_MAX_SEEDS", "DMDVIZ_MAX_STEPS", "DMDVIZ_MAX_JOBS", "DMDVIZ_MAX_UPLOAD_MB",
        "DMDVIZ_JOB_THREADS", "DMDVIZ_QUEUE_SIZE", "DMDVIZ_ADDRESS_QUEUE")


@pytest.fixture
def env(monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_public_mode_is_smaller_on_every_shared_resource(env):
    private = Limits.from_env()
    env.setenv("DMDVIZ_PUBLIC", "1")
    public = Limits.from_env()
    assert not private.public and public.public
    for field in ("max_seeds", "max_k", "max_steps", "max_jobs", "max_upload_mb", "max_models", "max_cached"):
        assert getattr(public, field) < getattr(private, field), field


def test_a_space_is_public_unless_told_otherwise(env):
    env.setenv("SPACE_ID", "someone/dmdviz")
    assert Limits.from_env().public
    env.setenv("DMDVIZ_PUBLIC", "0")
    assert not Limits.from_env().public


def test_a_job_keeps_one_thread_on_a_space_and_every_core_locally(env):
    import os

    assert Limits.from_env().job_threads == os.cpu_count()
    env.setenv("DMDVIZ_PUBLIC", "1")
    assert Limits.from_env().job_threads == 1
    env.setenv("DMDVIZ_JOB_THREADS", "3")
    assert Limits.from_env().job_threads == 3


def test_explicit_limits_win_over_public_defaults(env):
    env.setenv("DMDVIZ_PUBLIC", "1")
    env.setenv("DMDVIZ_MAX_SEEDS", "64")
    env.setenv("DMDVIZ_MAX_JOBS", "3")
    lim = Limits.from_env()
    assert (lim.max_seeds, lim.max_jobs) == (64, 3)


def test_one_address_never_holds_the_whole_queue(env):
    env.setenv("DMDVIZ_QUEUE_SIZE", "6")
    env.setenv("DMDVIZ_ADDRESS_QUEUE", "40")
    assert Limits.from_env().address_queue == 5
    env.setenv("DMDVIZ_ADDRESS_QUEUE", "3")
    assert Limits.from_env().address_queue == 3


def test_public_limits_reach_the_app_and_the_jobs(env, tmp_path):
    from dmdviz.errors import DmdvizError
    from dmdviz.experiments import jobs
    from dmdviz.web.page import launch_kwargs

    env.setenv("DMDVIZ_PUBLIC", "1")
    lim = Limits.from_env()
    assert launch_kwargs()["max_file_size"] == f"{lim.max_upload_mb}mb" and launch_kwargs()["allowed_paths"] == []
    with pytest.raises(DmdvizError, match=f"between 1 and {lim.max_steps}"):
        jobs.start(jobs.JobSpec(teacher_steps=lim.max_steps + 1), root=tmp_path, limits=lim)
