"""``python -m dmdviz ...``: subcommands mirroring the library.

Bad input of any kind exits with status 2 and one line ``error: ...`` on stderr. An
unexpected failure also prints one line (status 1); DMDVIZ_DEBUG=1 shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from dmdviz.errors import DmdvizError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise DmdvizError(message)


def _seed_list(text: str) -> tuple[int, ...]:
    return _ints(text, 0, 2**31 - 1)


def _ints(text: str, lo: int, hi: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or not all(lo <= v <= hi for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers between {lo} and {hi}, got {text!r}")
    return values


def _int(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi]. Absurd sizes fail here, before any
    allocation (a batch of 10^12 would otherwise end in an allocator error)."""
    def parse(text: str) -> int:
        value = int(text)  # a ValueError reads "invalid int value: ..."
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _real(lo: float, hi: float, open_lo: bool = False):
    """An argparse type: a finite float in [lo, hi] (or (lo, hi] with ``open_lo``); NaN and inf fail."""
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or value > hi or value < lo or (open_lo and value == lo):
            raise argparse.ArgumentTypeError(f"must be a number in {'(' if open_lo else '['}{lo:g}, {hi:g}], got {text}")
        return value

    parse.__name__ = "float"
    return parse


# SEED's bound is noise.MAX_SEED, written out so that parsing imports no torch
STEPS, BATCH, SEED, THREADS = _int(1, 10**7), _int(1, 2**16), _int(0, 2**31 - 1), _int(1, 1024)
K, RATIO, LR, WEIGHT = _int(1, 1024), _int(1, 100), _real(0, 1, open_lo=True), _real(0, 1000)


def _runtime(args):
    """The run's Runtime (a context manager: under torchrun it ends the process group)."""
    from dmdviz.runtime import Runtime

    return Runtime.create(args.device, args.bf16, args.threads)


def _progress(total: int, every: int):
    start = time.perf_counter()

    def on_step(step, rec):
        if step % every == 0 or step == total:
            shown = {k: rec[k] for k in ("fm_loss", "dm_loss", "critic_loss", "ot_agreement", "copy_ratio") if k in rec}
            text = " ".join(f"{k}={v:.4g}" for k, v in shown.items())
            print(f"[{step}/{total}] {time.perf_counter() - start:.1f}s {text}", flush=True)

    return on_step


def cmd_train_teacher(args) -> None:
    from dmdviz.config import get_preset
    from dmdviz.train import train_teacher

    p = get_preset(args.preset)
    t = p.teacher
    if args.steps is not None:
        t = replace(t, steps=args.steps, snapshots=tuple(s for s in t.snapshots if s < args.steps))
    if args.snapshots is not None:
        t = replace(t, snapshots=args.snapshots)
    if any(s >= t.steps for s in t.snapshots):
        raise DmdvizError(f"snapshots must come before the last step ({t.steps}), got {','.join(map(str, t.snapshots))}")
    if args.seed is not None:
        t = replace(t, seed=args.seed)
    if args.batch is not None:
        t = replace(t, batch=args.batch)
    data = p.data if args.dim is None else replace(p.data, dim=args.dim)
    net = p.net if args.dim is None else replace(p.net, shape=(args.dim,))
    if args.max_images is not None:
        data = replace(data, max_images=args.max_images)
    with _runtime(args) as rt:
        t0 = time.perf_counter()
        out = train_teacher(data, net, t, args.out, data_dir=args.data_dir, rt=rt,
                            on_step=_progress(t.steps, t.log_every * max(1, t.steps // 10 // t.log_every)) if rt.is_main else None,
                            resume=args.resume)
        if rt.is_main:
            print(f"teacher written to {out} in {time.perf_counter() - t0:.1f}s")


def cmd_distill(args) -> None:
    with _runtime(args) as rt:
        _distill_with(args, rt)


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


def _distill_with(args, rt) -> None:
    from dmdviz.hub import load_checkpoint
    from dmdviz.train import distill

    teacher = load_checkpoint(args.teacher, device=rt.device)
    base = _preset_distill(teacher)
    fields = {k: getattr(args, k) for k in ("steps", "ratio", "gan_weight", "regression_weight", "init", "batch",
                                             "seed", "probe_every", "probe_n", "k", "lr", "critic_lr")
              if getattr(args, k) is not None}
    cfg = replace(base, **fields, **_gan_weights(args))
    if args.student_hidden or args.student_depth or args.noise_rotation or args.shuffled_control:
        cfg = replace(cfg, student_hidden=args.student_hidden or 0, student_depth=args.student_depth or 0,
                      noise_rotation=args.noise_rotation or args.shuffled_control,
                      shuffled_control=args.shuffled_control)
    if args.extra_noise is not None:
        cfg = replace(cfg, extra_noise=True, extra_noise_scale=args.extra_noise)
    t0 = time.perf_counter()
    out = distill(teacher, cfg, args.out, data_dir=args.data_dir, rt=rt, resume=args.resume,
                  on_step=_progress(cfg.steps, max(1, cfg.steps // 10)) if rt.is_main else None)
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
        from dmdviz.models import pairfile

        local = Path(args.pair).exists() or not pairfile.REPO_ID.match(args.pair)
        spec = pairfile.read(args.pair if local else pairfile.fetch(args.pair))
        return (*pairfile.build(spec, allow_code=True, device=device), spec.ks)
    if not (args.teacher and args.student):
        raise DmdvizError("analyze needs --pair, or --teacher and --student")
    from dmdviz.hub import load_checkpoint

    return load_checkpoint(args.teacher), load_checkpoint(args.student), ()


def cmd_analyze(args) -> None:
    """Under torchrun every rank samples its share of the cache blocks; rank 0 then reads
    them all and computes the metrics (the same bytes as one process: analysis.cache)."""
    from dmdviz.analysis import fill_cache, study
    from dmdviz.analysis.cache import SampleCache
    from dmdviz.hub import load_checkpoint

    with _runtime(args) as rt:
        teacher, student, ks = _analysis_pair(args, rt.device)
        k = args.k or (ks[0] if ks else 8)
        all_ks = tuple(sorted({1, k, 32, *ks}))
        cache = None if args.no_cache else SampleCache(args.cache_dir) if args.cache_dir else SampleCache.from_env()
        if rt.world_size > 1:
            if cache is None:
                raise DmdvizError("analyze under torchrun shares its samples through the cache: drop --no-cache")
            fill_cache(teacher, student, args.n, args.seed, all_ks, cache, rt.rank, rt.world_size, device=rt.device,
                       bf16=rt.bf16)
            rt.barrier()
            if not rt.is_main:
                return
        series = [load_checkpoint(ref) for ref in args.series.split(",") if ref.strip()] if args.series else []
        other = load_checkpoint(args.compare) if args.compare else None
        st = study(teacher, student, n=args.n, k=k, seed=args.seed, data_dir=args.data_dir, series=series,
                   compare=other, ks=all_ks, cache=cache, device=rt.device, bf16=rt.bf16)
        text = json.dumps(st.summary, indent=2)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
        if args.html:
            from dmdviz.report import write_report

            print(f"report written to {write_report(st, args.html)}", file=sys.stderr)
        print(text)


def cmd_list(args) -> None:
    from dmdviz.hub import SHIPPED, read_config, shipped_names

    for name in shipped_names():
        cfg = read_config(SHIPPED / name)
        extra = f" <- {cfg['teacher']['ref']}" if cfg["role"] == "student" else ""
        print(f"{name:40s} {cfg['role']:8s} {cfg['data']['name']:13s} {cfg['net']['kind']}{extra}")


def cmd_reproduce(args) -> None:
    from dmdviz.reproduce import FAMILIES, reproduce, rescore, spread

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
    from dmdviz import sweep

    out = Path(args.out)
    base = sweep.read_config(out) if (out / "sweep.json").is_file() else sweep.SweepConfig()
    fields = {k: getattr(args, k) for k in ("dataset", "dims", "seeds", "embed", "cells", "hidden", "depth",
                                             "teacher_steps", "teacher_batch", "student_steps", "student_batch",
                                             "ratio", "lr", "n", "k") if getattr(args, k) is not None}
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
    from dmdviz.hub import push

    print(push(args.folder, args.repo_id, token=os.environ.get("HF_TOKEN")))


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m dmdviz", description="Noise-data pairings in DMD distillation.")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def run_opts(p):
        p.add_argument("--out", required=True, help="run / checkpoint folder")
        p.add_argument("--steps", type=STEPS)
        p.add_argument("--batch", type=BATCH)
        p.add_argument("--seed", type=SEED)
        p.add_argument("--data-dir", help="MNIST IDX folder (else $DMDVIZ_DATA_DIR or the Hub)")
        p.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when present)")
        p.add_argument("--bf16", action="store_true", help="bf16 autocast")
        p.add_argument("--threads", type=THREADS, help="torch CPU threads (default: all, or $DMDVIZ_THREADS)")
        p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")

    p = sub.add_parser("train-teacher", help="train a flow-matching teacher from a preset")
    p.add_argument("--preset", required=True)
    p.add_argument("--snapshots", type=lambda text: _ints(text, 1, 10**7), help="e.g. 1024,2048,4096")
    p.add_argument("--dim", type=_int(2, 4096), help="ambient dimension (vector data sets)")
    p.add_argument("--max-images", type=_int(1, 10**8),
                   help="imagefolder: keep at most this many images (a seeded subset)")
    run_opts(p)
    p.set_defaults(func=cmd_train_teacher)

    p = sub.add_parser("distill", help="distil a one-step DMD student from a teacher")
    p.add_argument("--teacher", required=True, help="folder, shipped name or org/name[@rev]")
    p.add_argument("--ratio", type=RATIO, help="critic updates per generator update (two time-scale)")
    p.add_argument("--gan", action="store_true", help="add the GAN term with DMD2's weights (G 3e-3, D 1e-2)")
    p.add_argument("--gan-weight-g", type=WEIGHT, help="GAN weight on the generator's loss (implies --gan)")
    p.add_argument("--gan-weight-d", type=WEIGHT, help="GAN weight on the discriminator's loss (implies --gan)")
    p.add_argument("--gan-weight", type=WEIGHT, help="one GAN weight on both G and D (the recipe before the split)")
    p.add_argument("--regression-weight", type=WEIGHT)
    p.add_argument("--init", choices=["teacher", "random"])
    p.add_argument("--probe-every", type=STEPS)
    p.add_argument("--probe-n", type=_int(2, 4096))
    p.add_argument("--k", type=K, help="Euler steps of the teacher target Φ_K")
    p.add_argument("--lr", type=LR)
    p.add_argument("--critic-lr", type=LR)
    p.add_argument("--student-hidden", type=_int(1, 8192), help="wider student (implies --init random)")
    p.add_argument("--student-depth", type=_int(1, 64), help="deeper student (implies --init random)")
    p.add_argument("--noise-rotation", action="store_true",
                   help="feed G a fixed random rotation R z (scored against Φ_K(R z): a relabelling control)")
    p.add_argument("--shuffled-control", action="store_true",
                   help="feed G R z but score it against Φ_K(z): the shuffled-seed negative control")
    p.add_argument("--extra-noise", type=_real(0, 100), metavar="SCALE",
                   help="give an MLP student a second noise input the teacher never sees (the freedom test), "
                   "its weights starting at SCALE x the first layer's std (0: unused at the start)")
    run_opts(p)
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("analyze", help="pairing metrics of a teacher/student pair")
    p.add_argument("--pair", help="a pair file (JSON or TOML: teacher, student, adapters, conditioning, K values), "
                   "or a Hub repo id holding pair.json")
    p.add_argument("--teacher", help="dmdviz teacher: folder, shipped name or org/name[@rev]")
    p.add_argument("--student", help="dmdviz student: folder, shipped name or org/name[@rev]")
    # --num-seeds: torchrun's own parser refuses "--n" as an ambiguous prefix of its options
    p.add_argument("--n", "--num-seeds", dest="n", type=_int(2, 10**9), default=1000, help="seeds (sample indices)")
    p.add_argument("--k", type=K, help="Euler steps of the target Φ_K (default: the pair file's first K, else 8)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--data-dir", help="MNIST IDX folder for training-set metrics (skipped with a note if absent)")
    p.add_argument("--json", help="write every metric (SPEC §4) here")
    p.add_argument("--html", help="write a self-contained HTML report with every figure (SPEC §5) here")
    p.add_argument("--series", help="comma-separated students of teacher snapshots (DM-loss and teacher-length figures)")
    p.add_argument("--compare", help="a second student of the same teacher, drawn on the same seeds (JSON 'compare', "
                   "and side-by-side figures in --html)")
    p.add_argument("--threads", type=THREADS, help="torch CPU threads (default: all, or $DMDVIZ_THREADS)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when present)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (about 1e-2 relative error)")
    p.add_argument("--cache-dir", help="sample cache folder (default $DMDVIZ_CACHE_DIR or ~/.cache/dmdviz/samples)")
    p.add_argument("--no-cache", action="store_true", help="sample without reading or writing the cache")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("list", help="list shipped checkpoints")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("reproduce", help="retrain a shipped checkpoint family from its preset")
    p.add_argument("name", help="chessboard4d, moons, digits, mlp-manifold, mnist or all")
    p.add_argument("--out-root", help="where the family folder goes (default: the shipped checkpoints/)")
    p.add_argument("--only", help="comma-separated students to distil again from the family's existing teachers")
    p.add_argument("--seeds", type=_seed_list,
                   help="run-to-run spread: train the family with each of these seeds (0 = the shipped one; "
                        "with --only, just those students, from the shipped teachers); "
                        "writes spread.json into the family folder")
    p.add_argument("--rescore", action="store_true",
                   help="no training: measure the shipped students' metrics again and write them into their configs")
    p.add_argument("--data-dir", help="MNIST IDX folder")
    p.add_argument("--device")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=THREADS)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("sweep", help="dimension sweep and geometric-freedom variants (resumable)")
    p.add_argument("--out", required=True, help="sweep folder (rerun to continue it)")
    p.add_argument("--dataset", choices=["chessboard", "mlp-manifold"])
    p.add_argument("--dims", type=lambda text: _ints(text, 2, 4096), help="ambient dimensions, e.g. 2,4,8,16,32,64,128,256,784")
    p.add_argument("--seeds", type=_seed_list, help="training seeds, e.g. 0,1,2")
    p.add_argument("--variants", help="comma-separated: plain, random-init, wide, deep, rotation")
    p.add_argument("--embed", choices=["random", "first"], help="plane of the 2-D set in R^D (default random)")
    p.add_argument("--cells", type=_int(1, 64), help="chessboard cells per axis")
    p.add_argument("--hidden", type=_int(1, 8192), help="MLP width, fixed across D")
    p.add_argument("--depth", type=_int(1, 64), help="MLP depth, fixed across D")
    p.add_argument("--teacher-steps", type=STEPS)
    p.add_argument("--teacher-batch", type=BATCH)
    p.add_argument("--student-steps", type=STEPS, help="DMD iterations per student")
    p.add_argument("--student-batch", type=BATCH)
    p.add_argument("--ratio", type=RATIO, help="critic updates per generator update")
    p.add_argument("--lr", type=LR, help="student and critic learning rate (default: the data set's)")
    p.add_argument("--n", type=_int(2, 20_000), help="seeds of the final pairing metrics")
    p.add_argument("--k", type=K, help="Euler steps of the teacher target Φ_K")
    p.add_argument("--device")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=THREADS)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("push", help="upload a checkpoint folder to a Hub repo ($HF_TOKEN)")
    p.add_argument("folder")
    p.add_argument("repo_id")
    p.set_defaults(func=cmd_push)
    return ap


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
