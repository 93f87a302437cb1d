"""Shipped checkpoint families, rebuilt deterministically from their presets.

``python -m dmdviz reproduce NAME`` trains the family's teacher (keeping the snapshots the
family ships), distils every student from the shipped teacher folder, measures the key
metrics on 1,000 shared seeds and writes them into each model card. Everything is seeded;
on the same machine and thread count the weights come out the same.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from dmdviz import analysis, checkpoint, settings
from dmdviz.analysis.freedom import extra_noise_use, has_extra_noise
from dmdviz.config import customize, get_preset
from dmdviz.errors import DmdvizError
from dmdviz.files import atomic_write
from dmdviz.training import distill, train_teacher
from dmdviz.training.runtime import Runtime

KEEP = ("config.json", "model.safetensors", "README.md", "metrics.jsonl", "run.json")


@dataclass(frozen=True)
class StudentSpec:
    name: str
    teacher: str
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    preset: str
    teachers: dict[str, int]  # shipped teacher name -> training step (the last one is the final teacher)
    students: tuple[StudentSpec, ...]
    note: str = ""


def _single(preset: str, *ablations: StudentSpec) -> Family:
    """One teacher at the preset's length, its plain student, and any ablation students."""
    steps = get_preset(preset).teacher.steps
    return Family(preset, {"teacher": steps}, (StudentSpec("student", "teacher"), *ablations))


_MNIST_STEPS = (1024, 2048, 4096, 8192)
FAMILIES: dict[str, Family] = {
    # the low-dimensional counterpart of the MNIST ablation: fresh weights, twice the updates
    "chessboard4d": _single("chessboard4d", StudentSpec("student-random-init", "teacher",
                                                        {"init": "random", "steps": 4000, "probe_every": 500}),
                            # one recipe across dimensions: the MNIST students' (lr 1e-4 / 2e-4, ratio 5, batch 64),
                            # run until its samples match the plain student's (the board recipe diverges on MNIST: README)
                            StudentSpec("student-mnist-recipe", "teacher", {"lr": 1e-4, "critic_lr": 2e-4, "ratio": 5,
                                                                            "batch": 64, "steps": 8000, "probe_every": 500})),
    "moons": _single("moons"),
    "digits": _single("digits"),
    "mlp-manifold": _single("mlp-manifold"),
    "mnist": Family(
        "mnist-mlp",
        {f"teacher-{s}": s for s in _MNIST_STEPS},
        tuple(StudentSpec(f"student-{s}", f"teacher-{s}") for s in _MNIST_STEPS) + (
            StudentSpec("student-8192-gan", "teacher-8192", {"gan_weight": 0.1}),
            # from scratch a student needs far more updates than a fine-tune of Φ_1: 5x the budget
            StudentSpec("student-8192-random-init", "teacher-8192", {"init": "random", "steps": 10000, "probe_every": 500}),
            # controls (README): forced copying must read as copying, a shuffled pairing as chance.
            # The relabelling control (noise_rotation alone) trains the same weights as the
            # shuffled one, scored against Φ_K(R z): measured in the README, not shipped twice.
            StudentSpec("student-8192-regression", "teacher-8192",
                        {"regression_weight": 10.0, "regression_pairs": 4096}),
            StudentSpec("student-8192-shuffled", "teacher-8192", {"noise_rotation": True, "shuffled_control": True}),
            # the freedom test (README): a second noise input the teacher never sees, its first-layer
            # weights starting three times as strong as z's; does the student still copy? (W' at 1x
            # and 0x, `distill --extra-noise 1` / `0`: measured in the README, not shipped)
            StudentSpec("student-8192-extra-noise-3", "teacher-8192", {"extra_noise": True, "extra_noise_scale": 3.0}),
        ),
        "Trained on the 10,000-image MNIST test split (IDX files; 9,000 for training, 1,000 held out).",
    ),
    # class-conditional MNIST (paper figs 8-10): the MLP recipe with a label embedding
    "mnist-cond": Family("mnist-cond", {"teacher": get_preset("mnist-cond").teacher.steps},
                         (StudentSpec("student", "teacher"),),
                         "Trained on the 10,000-image MNIST test split with its labels (9,000 for training)."),
    # the paper's architecture class at a CPU budget: the MNIST snapshots, 300 DMD iterations per student
    "mnist-unet": Family(
        "mnist",
        {f"teacher-{s}": s for s in _MNIST_STEPS},
        tuple(StudentSpec(f"student-{s}", f"teacher-{s}", {"steps": 300, "probe_every": 50}) for s in _MNIST_STEPS)
        + (StudentSpec("student-8192-gan", "teacher-8192", {"steps": 300, "probe_every": 50, "gan_weight": 0.1}),
           # does copying survive a longer distillation, and do the samples catch up with the teacher?
           # (every teacher length: the converged students of the teacher-length trend)
           *(StudentSpec(f"student-{s}-long", f"teacher-{s}", {"steps": 1500, "probe_every": 100}) for s in _MNIST_STEPS),
           # the shortest teacher's student is still short of its teacher's samples at 1,500: twice that
           StudentSpec("student-1024-longer", "teacher-1024", {"steps": 3000, "probe_every": 200})),
        "Small UNet (16/32/32 channels) on the 10,000-image MNIST test split; trained with --bf16 on 1 CPU thread.",
    ),
}


def _teachers(name, fam: Family, preset, out: Path, run: Path, command: str, data_dir, rt, log) -> None:
    """Train the family's teacher once; copy its final state and snapshots to ``out``."""
    final = max(fam.teachers.values())
    snaps = tuple(s for s in fam.teachers.values() if s != final)
    t0 = time.perf_counter()
    train_teacher(preset.data, preset.net, replace(preset.teacher, steps=final, snapshots=snaps), run / "teacher",
                  data_dir=data_dir, rt=rt)
    seconds = time.perf_counter() - t0
    log(f"{name}: teacher trained in {seconds:.1f}s")
    for tname, step in fam.teachers.items():
        src = run / "teacher" if step == final else run / "teacher" / "snapshots" / f"step-{step:06d}"
        _copy_checkpoint(src, out / tname)
        ckpt = checkpoint.load_folder(out / tname)
        checkpoint.save_checkpoint(out / tname, ckpt.model, ckpt.config, _card_extra(command, fam, seconds, fam.note))


def _copy_checkpoint(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in KEEP:
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)


def key_metrics(teacher: checkpoint.Checkpoint, student: checkpoint.Checkpoint, data_dir=None, n: int = 1000) -> dict:
    """The README's numbers for one pair on 1,000 shared seeds (``analysis.analyze``), with
    their bootstrap intervals under ``intervals``."""
    out = analysis.analyze(teacher, student, n=n, k=8, seed=0, data_dir=data_dir)
    if has_extra_noise(student.model):
        out.update(extra_noise_use(student.model, n=n))
    return {k: v for k, v in out.items()
            if k == "intervals" or isinstance(v, (int, float)) and not isinstance(v, bool)}


def _card_extra(command: str, family: Family, seconds: float, data_note: str) -> str:
    return "\n".join([
        "## Reproduce", "", f"    {command}", "",
        f"Preset `{family.preset}`; wall time {seconds:.0f} s on this run's machine. {data_note}".strip(),
    ])


def rescore(name: str, out_root=None, data_dir=None, log=print, only: tuple[str, ...] = ()) -> dict[str, dict]:
    """Measure the key metrics of family ``name``'s students again from their weights (no
    training) and write them into each config.json and model card: numbers of an older
    analysis brought up to date. The card keeps its "## Reproduce" section."""
    fam = _family(name, only)
    out = Path(out_root or settings.shipped_root()) / name
    results = {}
    for spec in (s for s in fam.students if not only or s.name in only):
        teacher = checkpoint.load_folder(out / spec.teacher, ref=f"{name}/{spec.teacher}")
        student = checkpoint.load_folder(out / spec.name, ref=f"{name}/{spec.name}")
        m = results[spec.name] = key_metrics(teacher, student, data_dir)
        card = (out / spec.name / "README.md").read_text()
        extra = card[card.index("## Reproduce"):].strip() if "## Reproduce" in card else ""
        config = dict(student.config, metrics=m)
        atomic_write(out / spec.name / "config.json", lambda p: p.write_text(json.dumps(config, indent=2) + "\n"))
        atomic_write(out / spec.name / "README.md", lambda p: p.write_text(checkpoint.card(config, extra)))
        log(f"{name}/{spec.name}: A_OT={m['ot_agreement']:.3f} {m['intervals']['ot_agreement']}, "
            f"rho={m['copy_ratio']:.3f} {m['intervals']['copy_ratio']}")
    return results


def _family(name: str, only: tuple[str, ...]) -> Family:
    if name not in FAMILIES:
        raise DmdvizError(f"unknown family {name!r}; choose one of {', '.join(FAMILIES)}")
    known = [spec.name for spec in FAMILIES[name].students]
    unknown = [s for s in only if s not in known]
    if unknown:
        raise DmdvizError(f"family {name} has no student {', '.join(unknown)}; its students: {', '.join(known)}")
    return FAMILIES[name]


def reproduce(name: str, out_root=None, runs_root="runs/reproduce", data_dir=None, rt: Runtime | None = None,
              log=print, only: tuple[str, ...] = (), seed: int = 0) -> dict[str, dict]:
    """Retrain family ``name`` into ``out_root/name`` and return the key metrics per student.

    ``only``: distil just these students of the family from the teachers already in
    ``out_root/name`` (an ablation added later, without retraining the teacher).
    ``seed``: the training seed of the teacher and of every student (the shipped runs: 0).
    """
    fam = _family(name, only)
    preset = customize(get_preset(fam.preset), teacher={"seed": seed}, distill={"seed": seed})
    rt = rt or Runtime.create()
    out = Path(out_root or settings.shipped_root()) / name
    run = Path(runs_root) / name
    command = f"python -m dmdviz reproduce {name}" + (f" --only {','.join(only)}" if only else "")
    t0 = time.perf_counter()
    if only:
        missing = sorted({spec.teacher for spec in fam.students if spec.name in only}
                         - {t for t in fam.teachers if (out / t / "config.json").is_file()})
        if missing:
            raise DmdvizError(f"--only needs the family's teachers in {out}; missing: {', '.join(missing)}")
    else:
        shutil.rmtree(run, ignore_errors=True)
        _teachers(name, fam, preset, out, run, command, data_dir, rt, log)

    results = {}
    for spec in (s for s in fam.students if not only or s.name in only):
        # the student records its teacher by its shipped name, wherever ``out_root`` is, so a
        # family trained elsewhere keeps its lineage when moved into checkpoints/
        teacher = checkpoint.load_folder(out / spec.teacher, ref=f"{name}/{spec.teacher}")
        dcfg = customize(preset, distill=spec.overrides).distill
        t1 = time.perf_counter()
        shutil.rmtree(run / spec.name, ignore_errors=True)
        distill(teacher, dcfg, run / spec.name, data_dir=data_dir, rt=rt)
        seconds = time.perf_counter() - t1
        _copy_checkpoint(run / spec.name, out / spec.name)
        student = checkpoint.load_folder(out / spec.name)
        m = key_metrics(teacher, student, data_dir)
        results[spec.name] = {"teacher": spec.teacher, **m}
        config = dict(student.config, metrics=m)
        checkpoint.save_checkpoint(out / spec.name, student.model, config, _card_extra(command, fam, seconds, fam.note))
        log(f"{name}/{spec.name}: distilled in {seconds:.1f}s; A_OT={m['ot_agreement']:.3f} "
            f"(init {m['ot_agreement_init']:.3f}), rho={m['copy_ratio']:.3f} (chance {m['copy_ratio_chance']:.3f})")
    log(f"{name}: done in {time.perf_counter() - t0:.1f}s")
    return results


SPREAD = "spread.json"


def spread(name: str, seeds: tuple[int, ...], out_root=None, runs_root="runs/reproduce-seeds", data_dir=None,
           rt: Runtime | None = None, log=print, only: tuple[str, ...] = ()) -> dict:
    """Run-to-run spread: family ``name`` trained with each training seed of ``seeds``.

    Seed 0 is the shipped family (its recorded metrics); any other seed is trained from
    scratch under ``runs_root/seed-S`` (weights not shipped). With ``only``, just those
    students are distilled again, each seed from the family's shipped teachers (the spread
    over student seeds, teacher fixed; ``teacher_fixed`` in the summary). Writes
    ``spread.json`` into the shipped family folder: per student and metric the values per
    seed, their mean and sample standard deviation (ddof = 1), and under ``runs`` each
    student's seeds and whether its teacher was fixed; the students of earlier spreads of the
    family stay in the file beside this one's. Returns this spread's summary.
    """
    fam = _family(name, only)
    out = Path(out_root or settings.shipped_root()) / name
    specs = [spec for spec in fam.students if not only or spec.name in only]
    per_seed = {}
    for s in seeds:
        if s == 0:
            per_seed[s] = {spec.name: checkpoint.read_config(out / spec.name)["metrics"] for spec in specs}
            continue
        runs = Path(runs_root)
        if only:
            for tname in {spec.teacher for spec in specs}:
                _copy_checkpoint(out / tname, runs / f"seed-{s}" / name / tname)
        per_seed[s] = reproduce(name, out_root=runs / f"seed-{s}", runs_root=runs / f"run-{s}",
                                data_dir=data_dir, rt=rt, log=log, seed=s, only=only)
    students = {}
    for spec in specs:
        rows = [per_seed[s][spec.name] for s in seeds]
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        students[spec.name] = {k: _stats([r[k] for r in rows]) for k in keys}
    summary = {"family": name, "seeds": list(seeds), "teacher_fixed": bool(only), "students": students,
               "runs": {student: {"seeds": list(seeds), "teacher_fixed": bool(only)} for student in students}}
    old = json.loads((out / SPREAD).read_text()) if (out / SPREAD).is_file() else {}
    earlier = {st: spread_run(old, st) for st in old.get("students", {})}
    kept = {**summary, "students": {**old.get("students", {}), **students}, "runs": {**earlier, **summary["runs"]}}
    atomic_write(out / SPREAD, lambda p: p.write_text(json.dumps(kept, indent=1) + "\n"))
    return summary


def spread_run(summary: dict, student: str) -> dict:
    """A student's seeds and whether its teacher was fixed, in a ``spread.json`` summary; a
    file written before ``runs`` existed holds one spread, of the whole family retrained per
    seed unless it says ``teacher_fixed``."""
    return summary.get("runs", {}).get(student, {"seeds": summary.get("seeds"),
                                                 "teacher_fixed": bool(summary.get("teacher_fixed", False))})


def _stats(values: list[float]) -> dict:
    v = [float(x) for x in values]
    mean = sum(v) / len(v)
    sd = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
    return {"values": v, "mean": mean, "sd": sd}
