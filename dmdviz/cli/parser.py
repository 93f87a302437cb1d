"""The command line's parser: every subcommand's options, and the one check of their values.

Each option's type bounds its value (``dmdviz.limits``), so an absurd size fails while
parsing, before anything is allocated; the library below trusts what it is given.
``build_parser(commands)`` wires each subcommand to ``commands[name]`` (``dmdviz.cli``).
"""

from __future__ import annotations

import argparse
import math

from dmdviz import __version__
from dmdviz.errors import DmdvizError
from dmdviz.limits import MAX_K, MAX_POINT_SEEDS, MAX_SEEDS, MAX_STEPS, MIN_SEEDS


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


# every request is checked here, once (the library trusts its arguments); SEED's bound is
# noise.MAX_SEED, written out so that parsing imports no torch
STEPS, BATCH, SEED, THREADS = _int(1, MAX_STEPS), _int(1, 2**16), _int(0, 2**31 - 1), _int(1, 1024)
K, RATIO, LR, WEIGHT = _int(1, MAX_K), _int(1, 100), _real(0, 1, open_lo=True), _real(0, 1000)
SEEDS = _int(MIN_SEEDS, MAX_SEEDS)
POINT_SEEDS = _int(MIN_SEEDS, MAX_POINT_SEEDS)  # analyze: above MAX_SEEDS, the point metrics alone


def _run_opts(p) -> None:
    p.add_argument("--out", required=True, help="run / checkpoint folder")
    p.add_argument("--steps", type=STEPS)
    p.add_argument("--batch", type=BATCH)
    p.add_argument("--seed", type=SEED)
    p.add_argument("--data-dir", help="MNIST IDX folder (else $DMDVIZ_DATA_DIR or the Hub)")
    _device_opts(p)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--tensorboard", metavar="DIR", help="also log the scalars for TensorBoard into DIR "
                   "(teacher/... and student/... tags; needs the tensorboard package)")


def _device_opts(p, bf16_help: str = "bf16 autocast") -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps (default: CUDA, else MPS, when present)")
    p.add_argument("--bf16", action="store_true", help=bf16_help)
    p.add_argument("--threads", type=THREADS, help="torch CPU threads (default: $DMDVIZ_THREADS, else the cores idle at start)")


def _add_train_teacher(sub, commands: dict) -> None:
    p = sub.add_parser("train-teacher", help="train a flow-matching teacher from a preset")
    p.add_argument("--preset", required=True)
    p.add_argument("--snapshots", type=lambda text: _ints(text, 1, MAX_STEPS), help="e.g. 1024,2048,4096")
    p.add_argument("--dim", type=_int(2, 4096), help="ambient dimension (vector data sets)")
    p.add_argument("--max-images", type=_int(1, 10**8),
                   help="imagefolder: keep at most this many images (a seeded subset)")
    p.add_argument("--student", metavar="FOLDER",
                   help="then distil the preset's student from the new teacher into FOLDER, in the same process "
                   "(a pair in one command: torch's start-up is paid once)")
    p.add_argument("--student-steps", type=STEPS, help="the student's iterations (default: the preset's)")
    _run_opts(p)
    p.set_defaults(func=commands["train-teacher"])


def _add_distill(sub, commands: dict) -> None:
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
    _run_opts(p)
    p.set_defaults(func=commands["distill"])


def _add_analyze(sub, commands: dict) -> None:
    p = sub.add_parser("analyze", help="pairing metrics of a teacher/student pair")
    p.add_argument("--pair", help="a pair file (JSON or TOML: teacher, student, adapters, conditioning, K values), "
                   "or a Hub repo id holding pair.json")
    p.add_argument("--teacher", help="dmdviz teacher: folder, shipped name or org/name[@rev]")
    p.add_argument("--student", help="dmdviz student: folder, shipped name or org/name[@rev]")
    # --num-seeds: torchrun's own parser refuses "--n" as an ambiguous prefix of its options
    p.add_argument("--n", "--num-seeds", dest="n", type=POINT_SEEDS, default=1000,
                   help=f"seeds (sample indices); above {MAX_SEEDS:,} (to {MAX_POINT_SEEDS:,}) the point metrics alone")
    p.add_argument("--k", type=K, help="Euler steps of the target Φ_K (default: the pair file's first K, else 8)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--data-dir", help="MNIST IDX folder for training-set metrics (skipped with a note if absent)")
    p.add_argument("--json", help="write every metric (docs/spec.md §4) here")
    p.add_argument("--html", help="write a self-contained HTML report with every figure (docs/spec.md §5) here")
    p.add_argument("--figures", metavar="DIR", help="write every report figure into DIR as a file (in --format)")
    p.add_argument("--format", choices=("svg", "pdf", "png"),
                   help="figure files: svg (dmdviz's own writer, no browser; the default), pdf or png (kaleido and a "
                   "Chromium); with --html, the report's static figures as svg (the default) or png images")
    p.add_argument("--series", help="comma-separated students of teacher snapshots (DM-loss and teacher-length figures)")
    p.add_argument("--compare", help="a second student of the same teacher, drawn on the same seeds (JSON 'compare', "
                   "and side-by-side figures in --html)")
    _device_opts(p, "bf16 autocast (about 1e-2 relative error)")
    p.add_argument("--save-samples", metavar="FILE.safetensors",
                   help="write the seeds, z, each Φ_K, G and the conditioning index y here")
    p.add_argument("--cache-dir", help="sample cache folder (default $DMDVIZ_CACHE_DIR or ~/.cache/dmdviz/samples)")
    p.add_argument("--no-cache", action="store_true", help="sample without reading or writing the cache")
    p.set_defaults(func=commands["analyze"])


def _add_reproduce(sub, commands: dict) -> None:
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
    _device_opts(p)
    p.set_defaults(func=commands["reproduce"])


def _add_sweep(sub, commands: dict) -> None:
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
    p.add_argument("--n", type=SEEDS, help="seeds of the final pairing metrics")
    p.add_argument("--k", type=K, help="Euler steps of the teacher target Φ_K")
    _device_opts(p)
    p.set_defaults(func=commands["sweep"])


def build_parser(commands: dict) -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m dmdviz", description="Noise-data pairings in DMD distillation.")
    ap.add_argument("--version", action="version", version=f"dmdviz {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_train_teacher, _add_distill, _add_analyze):
        add(sub, commands)
    sub.add_parser("list", help="list shipped checkpoints").set_defaults(func=commands["list"])
    _add_reproduce(sub, commands)
    _add_sweep(sub, commands)
    p = sub.add_parser("push", help="upload a checkpoint folder to a Hub repo ($HF_TOKEN)")
    p.add_argument("folder")
    p.add_argument("repo_id")
    p.set_defaults(func=commands["push"])
    p = sub.add_parser("convert", help="a pickled state dict (.bin / .pt) as safetensors, read with "
                       "torch.load(weights_only=True)")
    p.add_argument("src", help="IN.bin")
    p.add_argument("dst", help="OUT.safetensors")
    p.set_defaults(func=commands["convert"])
    p = sub.add_parser("embed", help="prompt embeddings of a diffusers pipeline, for a pair's conditioning.prompts")
    p.add_argument("pipeline", help="pipeline folder or Hub id (model_index.json)")
    p.add_argument("--prompts", required=True, help="text file, one prompt a line")
    p.add_argument("--out", required=True, help="OUT.safetensors")
    p.add_argument("--negative", help="the negative prompt for guidance (default: the pipeline's own convention)")
    p.add_argument("--no-negative", action="store_true", help="no negative embeddings (a guidance-free pair)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--device", help="cpu, cuda, cuda:N (default cpu)")
    p.set_defaults(func=commands["embed"])
    return ap
