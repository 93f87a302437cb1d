"""The matched-start freedom test across dimension (README, "The freedom test").

Three teachers (chessboard4d, 4-D; digits, 64-D; MNIST teacher-8192, 784-D); for each, three
starts of one student: the teacher itself with an unused second noise input (``plain``, W' = 0)
and the teacher plus extra noise z' whose weights W' are scaled, per family, by bisection on
the untrained start (no training) to the point of its (z'-sensitivity, z-sensitivity) curve
nearest ``TARGETS`` ((0.87, 0.68) and (0.97, 0.44)). One recipe for all (``RECIPE``). Each run is measured at
its start and its end by ``analysis.freedom.matched_start`` plus the quality gate, and writes
``<results>/<family>/<start>-s<seed>.json``.

    python -m dmdviz.experiments.matched [--families chessboard4d,digits,mnist] [--seeds 0,1,2]
    python -m dmdviz.experiments.matched --report    (the table and figure: ``matched_report``)

Runs resume from their own state (``runs/matched/...``): a cut-off command run again picks
up where it stopped; a finished run's JSON is not recomputed.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from dmdviz import checkpoint, settings
from dmdviz.analysis import freedom, quality, scales
from dmdviz.config import DistillConfig
from dmdviz.core import metrics
from dmdviz.data import get_dataset
from dmdviz.errors import DmdvizError
from dmdviz.files import atomic_write
from dmdviz.training import distill
from dmdviz.training.runtime import Runtime
from dmdviz.training.student import make_student

TARGETS = {"mid": (0.87, 0.68), "high": (0.97, 0.44)}  # the start's (z'-, z-sensitivity); "plain": W' = 0
RECIPE = {"lr": 1e-4, "critic_lr": 2e-4, "ratio": 5, "batch": 64, "k": 8, "probe_every": 500}


@dataclass(frozen=True)
class Family:
    teacher: str  # shipped folder under checkpoints/
    steps: int
    seeds: tuple[int, ...]


FAMILIES = {
    "chessboard4d": Family("chessboard4d/teacher", 8000, (0, 1, 2)),
    "digits": Family("digits/teacher", 4000, (0, 1, 2)),
    "mnist": Family("mnist/teacher-8192", 2000, (0, 1, 2)),
}


def run_config(fam: Family, scale: float, seed: int, steps: int | None = None) -> DistillConfig:
    return DistillConfig(**RECIPE, steps=steps or fam.steps, seed=seed, extra_noise=True, extra_noise_scale=scale)


def start_sensitivity(teacher: checkpoint.Checkpoint, cfg: DistillConfig, n: int) -> dict:
    """``extra_noise_use`` of the untrained start of ``cfg``."""
    student, _ = make_student(teacher, cfg)
    return freedom.extra_noise_use(student.eval(), n=n)


def calibrate(teacher: checkpoint.Checkpoint, fam: Family, target: tuple[float, float], n: int = 500) -> dict:
    """The W' scale whose untrained start lies nearest (Euclidean) to ``target`` = (z'-sensitivity,
    z-sensitivity): one knob cannot hit both in every family, so the nearest point of the
    start's curve is taken. A log grid from 1/64 to 1024, then a bisection of the bracket
    around the best point on the squared distance's slope. With that start's readings."""
    def miss(scale: float) -> float:
        use = start_sensitivity(teacher, run_config(fam, scale, fam.seeds[0]), n)
        return (use["extra_sensitivity"] - target[0]) ** 2 + (use["z_sensitivity"] - target[1]) ** 2

    grid = [2.0 ** (j / 2) for j in range(-12, 21)]
    best = min(range(len(grid)), key=lambda i: miss(grid[i]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    for _ in range(8):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3  # ternary search: the miss is unimodal near its minimum
        lo, hi = (lo, b) if miss(a) < miss(b) else (a, hi)
    scale = (lo + hi) / 2
    return {"target": list(target), "scale": scale, **start_sensitivity(teacher, run_config(fam, scale, fam.seeds[0]), n)}


def scales_for(teacher: checkpoint.Checkpoint, fam: Family, path: Path, log) -> dict[str, float]:
    """Every start's W' scale, calibrated once and kept in ``path`` (``calibration.json``)."""
    if path.is_file():
        found = json.loads(path.read_text())
    else:
        found = {"plain": {"target": None, "scale": 0.0}}
        for name, target in TARGETS.items():
            found[name] = calibrate(teacher, fam, target)
            log(f"  {name}: W' scale {found[name]['scale']:.4g} -> z'-sens {found[name]['extra_sensitivity']:.3f}, "
                f"z-sens {found[name]['z_sensitivity']:.3f}")
        _write_json(path, found)
    return {name: entry["scale"] for name, entry in found.items()}


def natural_cells(teacher: checkpoint.Checkpoint) -> scales.Cells | None:
    if teacher.data.name == "chessboard":
        return scales.chessboard_cells(teacher.data)
    classifier = quality.shipped_classifier(teacher.data.name)
    return None if classifier is None else scales.class_cells(classifier)


def quality_gate(teacher: checkpoint.Checkpoint, samples: dict, data_dir=None) -> dict:
    """Sample quality of Φ_K, G₀ and G: sliced W₂ to held-out data (every set), the
    on-support share (toy sets), Fréchet distances in PCA-50 / classifier features and the
    class KL (image sets)."""
    ds = get_dataset(teacher.data, data_dir)
    sets = {name: x for name, x in samples.items() if name != "phi_1"}
    out = {f"swd_{name}": metrics.sliced_wasserstein(x, ds.heldout) for name, x in sets.items()}
    if ds.support is not None:
        out.update({f"on_support_{name}": float(ds.support(x)["on_support"]) for name, x in sets.items()})
    if len(ds.shape) == 3:
        values, _ = quality.feature_quality(sets, ds.train, ds.heldout, quality.shipped_classifier(teacher.data.name))
        out.update({k: v for k, v in values.items() if k != "class_shares"})
    return out


def one_run(teacher: checkpoint.Checkpoint, cfg: DistillConfig, folder: Path, result: Path, rt: Runtime,
            data_dir=None, n: int = 1000) -> dict:
    """Train (or resume) one student and measure it against its start on ``n`` shared seeds;
    the result JSON (read back, not recomputed, when ``result`` exists)."""
    if result.is_file():
        return json.loads(result.read_text())
    t0 = time.perf_counter()
    distill(teacher, cfg, folder, data_dir=data_dir, rt=rt, resume=(folder / "run.json").exists())
    seconds = time.perf_counter() - t0
    start, _ = make_student(teacher, cfg)
    end = checkpoint.load_folder(folder, ref=str(folder))
    out = freedom.matched_start(teacher.model, start.eval(), end.model.eval(), n=n, k=cfg.k, cells=natural_cells(teacher))
    samples = out.pop("samples")
    out.update({"quality": quality_gate(teacher, samples, data_dir), "extra_noise_scale": cfg.extra_noise_scale,
                "seed": cfg.seed, "steps": cfg.steps, "train_seconds": round(seconds, 1), "recipe": RECIPE})
    _write_json(result, out)
    return out


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=1) + "\n"))


def run_family(name: str, runs: Path, results: Path, seeds=None, steps: int | None = None, data_dir=None,
               rt: Runtime | None = None, log=print, root=None) -> list[dict]:
    """Calibrate and run every start × seed of family ``name``; the results in order."""
    if name not in FAMILIES:
        raise DmdvizError(f"unknown family {name!r}; choose from {', '.join(FAMILIES)}")
    fam = FAMILIES[name]
    fam = replace(fam, seeds=tuple(seeds) if seeds else fam.seeds, steps=steps or fam.steps)
    root = Path(root or settings.shipped_root())
    teacher = checkpoint.load_folder(root / fam.teacher, ref=fam.teacher)
    rt = rt or Runtime.create()
    log(f"{name}: calibrating the starts")
    w_scales = scales_for(teacher, fam, results / name / "calibration.json", log)
    out = []
    for seed in fam.seeds:
        for start, scale in w_scales.items():
            cfg = run_config(fam, scale, seed)
            r = one_run(teacher, cfg, runs / name / f"{start}-s{seed}", results / name / f"{start}-s{seed}.json", rt,
                        data_dir)
            log(f"{name} {start} s{seed}: A_OT {r['pairing_start']['ot_agreement']:.3f} -> "
                f"{r['pairing_end']['ot_agreement']:.3f} ({r['train_seconds']:.0f}s)")
            out.append(r)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dmdviz.experiments.matched", description=__doc__.split("\n\n")[0])
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--seeds", default="", help="student seeds, comma-separated (default: each family's)")
    p.add_argument("--steps", type=int, default=0, help="iterations per run (default: each family's)")
    p.add_argument("--runs", default="runs/matched")
    p.add_argument("--results", default="docs/results/matched")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report", action="store_true", help="only write the table and figure from the results")
    p.add_argument("--figure", default="docs/figures/matched-start.png")
    a = p.parse_args(argv)
    if a.report:
        from dmdviz.experiments import matched_report

        matched_report.write(Path(a.results), Path(a.figure) if a.figure else None)
        return 0
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
        rt = Runtime.create(threads=a.threads)
        for name in a.families.split(","):
            run_family(name.strip(), Path(a.runs), Path(a.results), seeds, a.steps or None, rt=rt,
                       log=lambda m: print(m, flush=True))
    except (DmdvizError, ValueError) as e:
        print(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
