"""The dimension sweep and the geometric-freedom experiments (spec §7, the paper's open test).

A 2-D data set (the chessboard, or the mlp-manifold set) is embedded in R^D for a list of
D; per (D, seed) one teacher is trained, and per variant one student is distilled from it,
all under the same budget. Each student's pairing metrics (spec §4, with the Φ_1 baseline
``*_init`` and the chance levels) on ``n`` shared seeds make one line of ``results.jsonl``.

Variants (``VARIANTS``), each a set of ``DistillConfig`` overrides:

    plain        G initialised from the teacher (θ): the paper's student
    random-init  same network, fresh weights: the control for ``wide`` and ``deep``
    wide         twice the teacher's width, fresh weights (a bigger net cannot start at θ:
                 compare it with random-init, not with plain, to separate width from init)
    deep         two more hidden layers, fresh weights (same confound, same control)
    rotation     the relabelling control: G fed a fixed random rotation R z, started at θ,
                 so at step 0 G(z) = Φ_1(R z). It is scored against Φ_K(R z), the teacher
                 on the noise it sees (``StudentNet.target_noise``): R only relabels which seed
                 gets which sample and adds no freedom, so it should read like plain

Choices written down here:
- The embedding (``embed``) is ``random`` by default at every D, including D = 2 (a
  rotation of the plane): a random plane in R^D is aligned with no coordinate axis, so
  no unit of the network sees the data plane directly. ``first`` is the paper's setting.
- The network is the chessboard4d preset's MLP (3 x 256) with ``shape=(D,)``: width and
  depth stay fixed as D grows. The data set (and its embedding) is fixed by ``data_seed``;
  the sweep's seeds vary the teacher's and the student's training randomness.
- Error bars are the sample standard deviation over seeds (ddof = 1; 0 for one seed).

A sweep is a folder::

    sweep.json                  the SweepConfig (a rerun must pass the same one)
    teachers/d{D}-s{seed}/      train_teacher run folders, shared by the variants
    runs/{variant}/d{D}-s{seed}/  distill run folders
    results.jsonl               one line per finished sub-run
    STOP                        present while a stop is pending (``request_stop``)
    pid, log.txt                the background worker's (``start_background``, ``launcher.launch``)

Rerunning ``run_sweep`` on the folder skips the sub-runs already in ``results.jsonl`` and
resumes unfinished ones from their saved state (``resume=True``); a finished sub-run's
resumable state is deleted (its checkpoint stays).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from dmdviz import files, settings
from dmdviz.errors import DmdvizError
from dmdviz.experiments import launcher
from dmdviz.limits import MIN_SEEDS, Limits

VARIANTS: dict[str, dict] = {
    "plain": {},
    "random-init": {"init": "random"},
    "wide": {"init": "random", "hidden_factor": 2},
    "deep": {"init": "random", "extra_depth": 2},
    "rotation": {"noise_rotation": True},
}
DATASETS = ("chessboard", "mlp-manifold")
DEFAULT_DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 784)
# the metrics summarised and plotted; every line of results.jsonl holds at least these
KEY_METRICS = ("ot_agreement", "ot_agreement_init", "nn_agreement", "nn_agreement_init", "copy_ratio",
               "copy_ratio_chance", "diag_contrast", "diag_contrast_init")
RESULTS = "results.jsonl"
# (student lr, critic lr) when SweepConfig.lr is 0: the chessboard4d and mlp-manifold presets'
# values; mlp-manifold students diverge at 1e-3 from D = 32 on (measured)
STUDENT_LR = {"chessboard": (1e-3, 1e-3), "mlp-manifold": (1e-4, 2e-4)}


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep trains; ``sweep.json`` holds it. Budgets are per sub-run; ``lr`` 0 takes
    the data set's student and critic learning rates (``STUDENT_LR``)."""

    dataset: str = "chessboard"
    dims: tuple[int, ...] = DEFAULT_DIMS
    seeds: tuple[int, ...] = (0, 1)
    variants: tuple[str, ...] = ("plain", "random-init", "wide", "rotation")
    embed: str = "random"
    cells: int = 4
    data_seed: int = 0
    hidden: int = 256
    depth: int = 3
    teacher_steps: int = 2000
    teacher_batch: int = 256
    teacher_lr: float = 3e-3
    student_steps: int = 1000
    student_batch: int = 256
    ratio: int = 2
    lr: float = 0.0
    n: int = 1000
    k: int = 8

    def check(self) -> None:
        if self.dataset not in DATASETS:
            raise DmdvizError(f"sweep dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise DmdvizError(f"variants must be among {', '.join(VARIANTS)}, got {list(self.variants)}")
        if not self.dims or any(not 2 <= d <= 4096 for d in self.dims) or not self.seeds:
            raise DmdvizError(f"need dims in 2..4096 and at least one seed, got dims {list(self.dims)}")
        if len(set(self.dims)) != len(self.dims) or len(set(self.seeds)) != len(self.seeds):
            raise DmdvizError("dims and seeds must not repeat")
        if self.embed not in ("first", "random"):
            raise DmdvizError(f"embed must be 'first' or 'random', got {self.embed!r}")
        if min(self.teacher_steps, self.student_steps, self.hidden, self.depth, self.ratio) < 1 or not MIN_SEEDS <= self.n <= 2000 \
                or self.lr < 0:
            raise DmdvizError(f"need positive steps, hidden, depth and ratio, lr >= 0 and {MIN_SEEDS} <= n <= 2000")

    @classmethod
    def from_dict(cls, d: dict) -> "SweepConfig":
        from dmdviz.config import from_dict

        return from_dict(cls, d)

    def sub_runs(self) -> list[tuple[str, int, int]]:
        """(variant, D, seed), seed outermost: the first seed gives a whole curve early."""
        return [(v, d, s) for s in self.seeds for d in self.dims for v in self.variants]

    # ------------------------------------------------------------------ configs of one sub-run

    def data_net(self, dim: int):
        """(DataConfig, NetConfig) at dimension ``dim``: same width and depth for every D."""
        from dmdviz.config import DataConfig, NetConfig, customize, get_preset

        if self.dataset == "chessboard":
            data = DataConfig("chessboard", dim=dim, embed=self.embed, cells=self.cells, seed=self.data_seed)
        else:
            data = customize(get_preset("mlp-manifold"), dim=dim, data={"seed": self.data_seed}).data
        return data, NetConfig(kind="mlp", shape=(dim,), hidden=self.hidden, depth=self.depth, n_classes=data.n_classes)

    def teacher_config(self, seed: int):
        from dmdviz.config import TeacherConfig

        return TeacherConfig(steps=self.teacher_steps, batch=self.teacher_batch, lr=self.teacher_lr,
                             warmup=min(200, self.teacher_steps // 10), seed=seed,
                             log_every=max(1, min(50, self.teacher_steps // 20)))

    def distill_config(self, variant: str, seed: int):
        """DistillConfig of one variant; ``hidden_factor`` / ``extra_depth`` resolve against
        the sweep's network."""
        from dmdviz.config import DistillConfig

        o = dict(VARIANTS[variant])
        if "hidden_factor" in o:
            o["student_hidden"] = self.hidden * o.pop("hidden_factor")
        if "extra_depth" in o:
            o["student_depth"] = self.depth + o.pop("extra_depth")
        lr, critic_lr = (self.lr, self.lr) if self.lr > 0 else STUDENT_LR[self.dataset]
        return DistillConfig(steps=self.student_steps, batch=self.student_batch, lr=lr, critic_lr=critic_lr,
                             ratio=self.ratio, probe_n=256, probe_every=max(1, self.student_steps // 5), k=self.k,
                             seed=seed, **o)


def _key(variant: str, dim: int, seed: int) -> str:
    return f"{variant}/d{dim}-s{seed}"


def read_results(folder) -> list[dict]:
    """The lines of ``results.jsonl``, one per (variant, dim, seed) (``files.read_jsonl``: a
    torn last line is not read)."""
    seen: dict[str, dict] = {}
    for rec in files.read_jsonl(Path(folder) / RESULTS):
        seen.setdefault(_key(rec["variant"], rec["dim"], rec["seed"]), rec)
    return list(seen.values())


def read_sweep(folder) -> SweepConfig:
    path = Path(folder) / "sweep.json"
    if not path.is_file():
        raise DmdvizError(f"{folder} is not a sweep folder (no sweep.json)")
    return SweepConfig.from_dict(json.loads(path.read_text()))


def _open(folder: Path, cfg: SweepConfig) -> None:
    """Write sweep.json, or check that the folder holds this same sweep."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.json"
    if path.exists():
        if read_sweep(folder) != cfg:
            raise DmdvizError(f"{folder} holds a different sweep (its sweep.json differs); choose a new --out")
        return
    files.write_json(path, asdict(cfg))


def _pair_metrics(teacher, student, cfg: SweepConfig, dataset, device) -> dict:
    """spec §4 pairing metrics on seeds 0 .. n-1, plus sample quality of Φ_1, Φ_K and G."""
    from dmdviz.analysis import Analyses
    from dmdviz.models import open_pair

    pa = Analyses(device=device).analysis(open_pair(teacher, student), cfg.n, 0, cfg.k)
    return {**pa.pairing, **pa.quality(dataset.heldout, dataset.support, intervals=False, ks=(1, cfg.k))[0]}


def run_sweep(folder, cfg: SweepConfig, *, rt=None, should_stop: Callable[[], bool] | None = None,
              log=print) -> bool:
    """Run (or continue) the sweep in ``folder``; True when every sub-run has its result line.

    ``should_stop`` is polled inside training and between sub-runs; the ``STOP`` file in the
    folder also stops it. Either way the folder is left resumable.
    """
    from dmdviz import checkpoint
    from dmdviz.data import get_dataset
    from dmdviz.training import STATE, distill, train_teacher
    from dmdviz.training.runtime import Runtime

    cfg.check()
    folder = Path(folder)
    _open(folder, cfg)
    files.cut_torn_tail(folder / RESULTS)
    rt = rt or Runtime.create()
    if rt.world_size > 1:
        raise DmdvizError("a sweep runs in one process (its sub-runs are small): start it without torchrun")

    def stop() -> bool:
        return files.stop_requested(folder) or (should_stop is not None and should_stop())

    done = {_key(r["variant"], r["dim"], r["seed"]) for r in read_results(folder)}
    todo = [r for r in cfg.sub_runs() if _key(*r) not in done]
    log(f"sweep {folder}: {len(done)} of {len(cfg.sub_runs())} sub-runs done, {len(todo)} to go")
    for variant, dim, seed in todo:
        if stop():
            break
        data, net = cfg.data_net(dim)
        t_dir, s_dir = folder / "teachers" / f"d{dim}-s{seed}", folder / "runs" / variant / f"d{dim}-s{seed}"
        if not (t_dir / "config.json").is_file():
            train_teacher(data, net, cfg.teacher_config(seed), t_dir, rt=rt, should_stop=stop, resume=True)
            if not (t_dir / "config.json").is_file():
                break  # stopped inside training
            (t_dir / STATE).unlink(missing_ok=True)
        teacher = checkpoint.load_folder(t_dir, device=rt.device)
        if not (s_dir / "config.json").is_file():
            distill(teacher, cfg.distill_config(variant, seed), s_dir, rt=rt, should_stop=stop, resume=True)
            if not (s_dir / "config.json").is_file():
                break
            (s_dir / STATE).unlink(missing_ok=True)
        student = checkpoint.load_folder(s_dir, device=rt.device)
        t1 = time.perf_counter()
        metrics = _pair_metrics(teacher, student, cfg, get_dataset(data), rt.device)
        rec = {"variant": variant, "dim": dim, "seed": seed, "teacher": str(t_dir.relative_to(folder)),
               "student": str(s_dir.relative_to(folder)), **{k: _round(v) for k, v in metrics.items()},
               "teacher_s": teacher.spec.train.get("wall_time_s"),
               "student_s": student.spec.train.get("wall_time_s"), "analysis_s": round(time.perf_counter() - t1, 2)}
        files.append(folder / RESULTS, rec)
        log(f"{_key(variant, dim, seed)}: A_OT={rec['ot_agreement']:.3f} (init {rec['ot_agreement_init']:.3f}) "
            f"NN={rec['nn_agreement']:.3f} rho={rec['copy_ratio']:.3f} (chance {rec['copy_ratio_chance']:.3f}) "
            f"teacher {rec['teacher_s']}s student {rec['student_s']}s")
    files.clear_stop(folder)
    return {_key(r["variant"], r["dim"], r["seed"]) for r in read_results(folder)} >= {_key(*r) for r in cfg.sub_runs()}


def _round(v):
    return round(float(v), 6) if isinstance(v, (float, np.floating)) else v


# --------------------------------------------------------------------------- summaries


def summarize(folder) -> dict:
    """Per (variant, D): mean and std over the finished seeds of every numeric metric.

    Returns ``{"config": sweep.json, "dims": [D...], "variants": [...], "n_results": int,
    "metrics": {metric: {variant: {"mean": [..], "std": [..], "n": [..]}}}}``, lists
    aligned with ``dims``; a (variant, D) without results has n = 0 and NaN mean and std
    (``None`` in JSON). std is the sample standard deviation (ddof = 1), 0 for one seed.
    """
    cfg = read_sweep(folder)
    results = read_results(folder)
    names = sorted({k for r in results for k, v in r.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("dim", "seed")})
    out: dict = {"config": asdict(cfg), "dims": list(cfg.dims), "variants": list(cfg.variants),
                 "n_results": len(results), "n_sub_runs": len(cfg.sub_runs()), "metrics": {}}
    for name in names:
        per = out["metrics"][name] = {}
        for variant in cfg.variants:
            cols = {"mean": [], "std": [], "n": []}
            for dim in cfg.dims:
                vals = np.array([r[name] for r in results if r["variant"] == variant and r["dim"] == dim
                                 and r.get(name) is not None], dtype=float)
                cols["n"].append(int(len(vals)))
                cols["mean"].append(float(vals.mean()) if len(vals) else math.nan)
                cols["std"].append(float(vals.std(ddof=1)) if len(vals) > 1 else (0.0 if len(vals) else math.nan))
            per[variant] = cols
    return out


def copy_onset(summary: dict, variant: str = "plain", threshold: float = 0.5) -> int | None:
    """The smallest D from which the variant copies at every larger D of the sweep.

    Copying here is the spec §4 reading "the teacher's pairing is kept": mean A_OT ≥
    ``threshold`` (chance is 1/n). None when the largest D does not copy.
    """
    m = summary["metrics"].get("ot_agreement", {}).get(variant)
    if m is None:
        return None
    onset = None
    for dim, mean in zip(reversed(summary["dims"]), reversed(m["mean"])):
        if math.isnan(mean) or mean < threshold:
            break
        onset = dim
    return onset


def results_table(summary: dict, metrics=("ot_agreement", "nn_agreement", "copy_ratio", "copy_ratio_chance")) -> str:
    """A Markdown table: one row per (variant, D), ``mean ± std`` per metric."""
    head = "| variant | D | seeds | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (3 + len(metrics))]
    for variant in summary["variants"]:
        for i, dim in enumerate(summary["dims"]):
            cells = []
            for name in metrics:
                col = summary["metrics"].get(name, {}).get(variant)
                cells.append("–" if col is None or not col["n"][i] else f"{col['mean'][i]:.3f} ± {col['std'][i]:.3f}")
            n = summary["metrics"].get("ot_agreement", {}).get(variant, {"n": [0] * len(summary["dims"])})["n"][i]
            lines.append(f"| {variant} | {dim} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- background sweeps


def start_background(folder, cfg: SweepConfig, threads: int | None = None, limits: Limits | None = None,
                     root=None) -> int:
    """Start ``python -m dmdviz sweep`` on ``folder`` as a background worker; returns its pid.

    A subprocess (not a thread) so that the sweep keeps its own torch thread count and
    outlives the browser tab (``launcher.launch``: output in ``folder/log.txt``, pid in
    ``folder/pid``). It takes one of the ``limits.max_jobs`` slots that training jobs and
    sweeps under ``root`` (default the runs root) share; ``threads`` overrides
    ``limits.job_threads``.
    """
    cfg.check()
    limits = limits or Limits.from_env()
    if threads is not None:
        limits = replace(limits, job_threads=threads)
    folder = Path(folder)
    with launcher.launching(root or settings.runs_root(), limits):
        if is_running(folder):
            raise DmdvizError(f"a sweep is already running in {folder}")
        _open(folder, cfg)
        return launcher.launch("sweep", folder, limits)


def is_running(folder) -> bool:
    """Whether the background sweep launched on ``folder`` is alive."""
    return launcher.worker_alive(folder)


def request_stop(folder) -> None:
    """Ask a running sweep to stop at its next step (it stays resumable)."""
    files.request_stop(folder)
