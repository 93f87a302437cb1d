"""``python -m dmdviz ...``: subcommands mirroring the library.

Bad input of any kind exits with status 2 and one line ``error: ...`` on stderr. An
unexpected failure also prints one line (status 1); DMDVIZ_DEBUG=1 shows the traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from dmdviz.cli import outputs
from dmdviz.cli import parser as cli_parser
from dmdviz.errors import DmdvizError


def _runtime(args):
    """The run's Runtime (a context manager: under torchrun it ends the process group); data/'s
    MNIST fallback is given the bounded Hub fetch (``checkpoint.fetch_dataset``)."""
    from dmdviz import checkpoint, data
    from dmdviz.training.runtime import Runtime

    data.use_hub(checkpoint.fetch_dataset)
    return Runtime.create(args.device, args.bf16, args.threads)


SHOWN = ("fm_loss", "dm_loss", "critic_loss", "ot_agreement", "copy_ratio")


def _progress(total: int, every: int):
    """A step callback: a tqdm bar on a terminal; in a log (stdout not a TTY), one
    ``[step/total] seconds metrics`` line every ``every`` steps and at the last."""
    if sys.stdout.isatty():
        return _bar(total, every)
    start = time.perf_counter()

    def on_step(step, rec):
        if step % every == 0 or step == total:
            text = " ".join(f"{k}={rec[k]:.4g}" for k in SHOWN if k in rec)
            print(f"[{step}/{total}] {time.perf_counter() - start:.1f}s {text}", flush=True)

    return on_step


def _bar(total: int, every: int):
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stdout, unit="step", dynamic_ncols=True)

    def on_step(step, rec):
        bar.update(step - bar.n)  # a resumed run starts past 0
        if step % every == 0 or step == total:
            bar.set_postfix({k: f"{rec[k]:.4g}" for k in SHOWN if k in rec}, refresh=False)
        if step == total:
            bar.close()

    return on_step


def _scalars(args, rt):
    """``--tensorboard DIR``: rank 0's ``ScalarLog`` (a context manager), else an empty context."""
    from contextlib import nullcontext

    from dmdviz.training.runtime import ScalarLog

    return ScalarLog(args.tensorboard) if args.tensorboard and rt.is_main else nullcontext()


def _steps(rt, log, role: str, total: int, every: int):
    """Rank 0's step callback: the progress (``_progress``), and the scalars when ``log`` is one."""
    if not rt.is_main:
        return None
    show = _progress(total, every)
    if log is None:
        return show

    def on_step(step, rec):
        show(step, rec)
        log.write(role, step, rec)

    return on_step


def _given(args, *names) -> dict:
    """The options among ``names`` that were given on the command line."""
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def cmd_train_teacher(args) -> None:
    from dmdviz.config import customize, get_preset
    from dmdviz.training import train_teacher

    if args.student_steps and not args.student:
        raise DmdvizError("--student-steps needs --student FOLDER")
    if args.student and Path(args.student).resolve() == Path(args.out).resolve():
        raise DmdvizError("--student must be another folder than --out (the teacher's)")
    p = customize(get_preset(args.preset), dim=args.dim or 0, data=_given(args, "max_images"),
                  teacher=_given(args, "steps", "snapshots", "seed", "batch"),
                  distill={**_given(args, "seed"), **({"steps": args.student_steps} if args.student_steps else {})})
    data, net, t = p.data, p.net, p.teacher
    if any(s >= t.steps for s in t.snapshots):
        raise DmdvizError(f"snapshots must come before the last step ({t.steps}), got {','.join(map(str, t.snapshots))}")
    with _runtime(args) as rt, _scalars(args, rt) as log:
        t0 = time.perf_counter()
        out = train_teacher(data, net, t, args.out, data_dir=args.data_dir, rt=rt, resume=args.resume,
                            on_step=_steps(rt, log, "teacher", t.steps, t.log_every * max(1, t.steps // 10 // t.log_every)))
        if rt.is_main:
            print(f"teacher written to {out} in {time.perf_counter() - t0:.1f}s")
        if args.student:
            _distill_preset(p, args, rt, log)


def _distill_preset(p, args, rt, log) -> None:
    """``train-teacher --student``: the preset's student of the teacher just written."""
    from dmdviz.checkpoint import load_checkpoint
    from dmdviz.training import distill

    cfg = p.distill
    teacher = load_checkpoint(args.out, device=rt.device)
    t0 = time.perf_counter()
    out = distill(teacher, cfg, args.student, data_dir=args.data_dir, rt=rt, resume=args.resume,
                  on_step=_steps(rt, log, "student", cfg.steps, max(1, cfg.steps // 10)))
    if rt.is_main:
        print(f"student written to {out} in {time.perf_counter() - t0:.1f}s")


def cmd_distill(args) -> None:
    with _runtime(args) as rt, _scalars(args, rt) as log:
        _distill_with(args, rt, log)


def _gan_weights(args) -> dict:
    """The GAN term's separate weights: ``--gan`` (DMD2's 3e-3 on G, 1e-2 on D), each
    overridable; ``--gan-weight`` is the single λ on both, as before the split."""
    from dmdviz.config import GAN_WEIGHT_D, GAN_WEIGHT_G

    separate = args.gan or args.gan_weight_g is not None or args.gan_weight_d is not None
    if separate and args.gan_weight is not None:
        raise DmdvizError("give --gan-weight (one λ on G and D) or --gan/--gan-weight-g/--gan-weight-d, not both")
    if not separate:
        return {}
    return {"gan_weight_g": GAN_WEIGHT_G if args.gan_weight_g is None else args.gan_weight_g,
            "gan_weight_d": GAN_WEIGHT_D if args.gan_weight_d is None else args.gan_weight_d}


def _distill_with(args, rt, log) -> None:
    from dmdviz.checkpoint import load_checkpoint
    from dmdviz.training import distill

    teacher = load_checkpoint(args.teacher, device=rt.device)
    base = _preset_distill(teacher)
    fields = _given(args, "steps", "ratio", "gan_weight", "regression_weight", "init", "batch", "seed", "probe_every",
                    "probe_n", "k", "lr", "critic_lr")
    cfg = replace(base, **fields, **_gan_weights(args))
    if args.student_hidden or args.student_depth or args.noise_rotation or args.shuffled_control:
        cfg = replace(cfg, student_hidden=args.student_hidden or 0, student_depth=args.student_depth or 0,
                      noise_rotation=args.noise_rotation or args.shuffled_control,
                      shuffled_control=args.shuffled_control)
    if args.extra_noise is not None:
        cfg = replace(cfg, extra_noise=True, extra_noise_scale=args.extra_noise)
    t0 = time.perf_counter()
    out = distill(teacher, cfg, args.out, data_dir=args.data_dir, rt=rt, resume=args.resume,
                  on_step=_steps(rt, log, "student", cfg.steps, max(1, cfg.steps // 10)))
    if rt.is_main:
        print(f"student written to {out} in {time.perf_counter() - t0:.1f}s")


def _preset_distill(teacher):
    """The distill defaults of the preset whose data set matches the teacher, if any."""
    from dmdviz.config import PRESETS, DistillConfig

    for p in PRESETS.values():
        if p.data.name == teacher.data.name and p.net.kind == teacher.net.kind:
            return p.distill
    return DistillConfig()


def _analysis_pair(args, device):
    """(teacher, student, extra Ks) from --pair or from --teacher and --student."""
    if args.pair:
        if args.teacher or args.student:
            raise DmdvizError("give --pair, or --teacher and --student, not both")
        from dmdviz import checkpoint
        from dmdviz.models import pairfile

        local = Path(args.pair).exists() or not checkpoint.is_repo_id(args.pair)
        spec = pairfile.read(args.pair if local else pairfile.fetch(args.pair))
        opened = pairfile.build(spec, lambda ref: checkpoint.load_checkpoint(ref, device), device=device)
        return (*opened, spec.ks)
    if not (args.teacher and args.student):
        raise DmdvizError("analyze needs --pair, or --teacher and --student")
    from dmdviz.checkpoint import load_checkpoint

    return load_checkpoint(args.teacher), load_checkpoint(args.student), ()


def _recorded_teacher(student):
    """The teacher a student records, opened by the command line's rule (any folder or Hub id)."""
    from dmdviz.checkpoint import load_checkpoint

    if not student.spec.teacher_ref:
        raise DmdvizError(f"{student.ref} records no teacher")
    return load_checkpoint(student.spec.teacher_ref)


def _second_student(teacher, ref: str):
    """``--compare``: a second student of ``teacher``, the teacher it records resolved here."""
    from dmdviz.analysis import check_sibling
    from dmdviz.checkpoint import load_checkpoint, resolve

    other = load_checkpoint(ref)
    try:
        recorded = resolve(other.spec.teacher_ref)[0] if other.spec.teacher_ref else None
    except DmdvizError:
        recorded = None
    check_sibling(teacher, other, recorded)
    return other


def cmd_analyze(args) -> None:
    """Under torchrun every rank samples its share of the cache blocks; rank 0 then reads
    them all and computes the metrics (the same bytes as one process: analysis.cache)."""
    from dmdviz.analysis import Analyses, large, study
    from dmdviz.analysis.cache import SampleCache
    from dmdviz.checkpoint import load_checkpoint
    from dmdviz.limits import MAX_SEEDS
    from dmdviz.models import open_pair

    if args.n > MAX_SEEDS and (args.html or args.figures or args.compare or args.series):
        raise DmdvizError(f"above {MAX_SEEDS:,} seeds analyze gives the point metrics alone: drop --html, "
                          "--figures, --compare and --series")
    outputs.check_format(args)
    with _runtime(args) as rt:
        teacher, student, ks = _analysis_pair(args, rt.device)
        k = args.k or (ks[0] if ks else 8)
        cache = None if args.no_cache else SampleCache(args.cache_dir) if args.cache_dir else SampleCache.from_env()
        service = Analyses(cache, device=rt.device, bf16=rt.bf16)
        other = _second_student(teacher, args.compare) if args.compare else None
        students = [load_checkpoint(ref) for ref in args.series.split(",") if ref.strip()] if args.series else []
        series = [(_recorded_teacher(s), s) for s in students]
        if rt.world_size > 1:
            if cache is None:
                raise DmdvizError("analyze under torchrun shares its samples through the cache: drop --no-cache")
            service.fill(open_pair(teacher, student), args.n, args.seed, k, ks, rt.rank, rt.world_size)
            rt.barrier()
            if not rt.is_main:
                return
        if args.n > MAX_SEEDS:
            return outputs.write_json(args, large.summary(service, teacher, student, args.n, args.seed, k, ks))
        st = study(teacher, student, n=args.n, k=k, seed=args.seed, data_dir=args.data_dir, series=series,
                   compare=other, ks=ks, service=service)
        outputs.pipeline_facts(st.summary, teacher, student)
        if args.save_samples:
            outputs.save_samples(st.pair.s, args.save_samples, st.summary)
        if args.html:
            from dmdviz.experiments.report import write_report

            print(f"report written to {write_report(st, args.html, images=args.format or 'svg')}", file=sys.stderr)
        if args.figures:
            outputs.write_figures(st, args.figures, args.format or "svg")
        outputs.write_json(args, st.summary)


def cmd_convert(args) -> None:
    """A pickled state dict as safetensors, read with ``torch.load(weights_only=True)`` (no code runs)."""
    from dmdviz.models.pipeline_load import convert

    out = convert(args.src, args.dst)
    print(f"{args.dst}: {out['tensors']} tensors, {out['bytes'] / 1e6:.1f} MB")


def cmd_embed(args) -> None:
    """A pipeline's prompt embeddings, computed once with its own encode_prompt (a pair's conditioning.prompts)."""
    from dmdviz.models.embed import embed, read_prompts

    shapes = embed(args.pipeline, read_prompts(args.prompts), args.out, args.negative, not args.no_negative,
                   device=args.device or "cpu", dtype=args.dtype)
    print(f"{args.out}: " + ", ".join(f"{name} {list(shape)}" for name, shape in shapes.items()))


def cmd_list(args) -> None:
    from dmdviz.checkpoint import read_config, shipped_names
    from dmdviz.settings import shipped_root

    for name in shipped_names():
        cfg = read_config(shipped_root() / name)
        extra = f" <- {cfg['teacher']['ref']}" if cfg["role"] == "student" else ""
        print(f"{name:40s} {cfg['role']:8s} {cfg['data']['name']:13s} {cfg['net']['kind']}{extra}")


def cmd_reproduce(args) -> None:
    from dmdviz.experiments.reproduce import FAMILIES, reproduce, rescore, spread

    names = list(FAMILIES) if args.name == "all" else [args.name]
    only = tuple(s.strip() for s in (args.only or "").split(",") if s.strip())
    if only and args.name == "all":
        raise DmdvizError("--only names students of one family, not of 'all'")
    t0 = time.perf_counter()
    if args.seeds is not None:
        if args.name == "all" or args.rescore:
            raise DmdvizError("--seeds trains one family (no 'all' or --rescore)")
        summary = spread(args.name, args.seeds, out_root=args.out_root, data_dir=args.data_dir, rt=_runtime(args),
                         only=only)
        print(json.dumps(summary["students"], indent=1))
        return
    for name in names:
        if args.rescore:
            _runtime(args)  # only its thread count matters: no training
            rescore(name, out_root=args.out_root, data_dir=args.data_dir, only=only)
        else:
            reproduce(name, out_root=args.out_root, data_dir=args.data_dir, rt=_runtime(args), only=only)
    print(f"{'rescored' if args.rescore else 'reproduced'} {', '.join(names)} in {time.perf_counter() - t0:.1f}s")


def cmd_sweep(args) -> None:
    """Dimension sweep: options override the folder's sweep.json (or the defaults when new)."""
    from dmdviz.experiments import sweep

    out = Path(args.out)
    base = sweep.read_sweep(out) if (out / "sweep.json").is_file() else sweep.SweepConfig()
    fields = _given(args, "dataset", "dims", "seeds", "embed", "cells", "hidden", "depth", "teacher_steps",
                    "teacher_batch", "student_steps", "student_batch", "ratio", "lr", "n", "k")
    if args.variants is not None:
        fields["variants"] = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    with _runtime(args) as rt:
        complete = sweep.run_sweep(out, replace(base, **fields), rt=rt)
    summary = sweep.summarize(out)
    print(sweep.results_table(summary))
    onset = sweep.copy_onset(summary)
    print(f"{summary['n_results']}/{summary['n_sub_runs']} sub-runs done; plain student copies (A_OT >= 0.5) "
          f"from D = {onset}" if onset else f"{summary['n_results']}/{summary['n_sub_runs']} sub-runs done; "
          "the plain student does not copy at the largest D")
    if not complete:
        print("sweep not complete: rerun the same command to continue it", file=sys.stderr)


def cmd_push(args) -> None:
    from dmdviz.checkpoint import push

    print(push(args.folder, args.repo_id, token=os.environ.get("HF_TOKEN")))


def build_parser():
    """The parser of every subcommand (``cli.parser``), wired to the commands here."""
    return cli_parser.build_parser({"train-teacher": cmd_train_teacher, "distill": cmd_distill, "analyze": cmd_analyze,
                                    "list": cmd_list, "reproduce": cmd_reproduce, "sweep": cmd_sweep, "push": cmd_push,
                                    "convert": cmd_convert, "embed": cmd_embed})


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "data_dir", None):
            os.environ["DMDVIZ_DATA_DIR"] = args.data_dir
        args.func(args)
        return 0
    except DmdvizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (the run folder keeps its last state; rerun with --resume)", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("DMDVIZ_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              "(set DMDVIZ_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
