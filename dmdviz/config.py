"""Frozen configuration dataclasses and the named presets.

A checkpoint carries its whole config (``Config.to_dict``) so it can be rebuilt from the
folder alone. Presets are plain Python values: no config files are executed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace

from dmdviz.errors import DmdvizError


@dataclass(frozen=True)
class DataConfig:
    """Which data set and how it is shaped (spec §6).

    ``dim`` is the ambient dimension of vector data sets (chessboard, moons, mlp-manifold);
    image sets ignore it. ``embed`` is ``first`` (the 2-D set in the first two coordinates)
    or ``random`` (a seeded random orthonormal 2-frame). ``cells`` is the chessboard's
    number of cells per axis. ``n_classes`` > 0 makes the set class-conditional.
    ``imagefolder`` reads ``size`` x ``size`` images with ``channels`` channels (0: the
    files' own size), at most ``max_images`` of them (0: all).
    """

    name: str = "chessboard"
    dim: int = 2
    embed: str = "first"
    cells: int = 4
    n_classes: int = 0
    latent_dim: int = 2
    seed: int = 0
    size: int = 0
    channels: int = 3
    max_images: int = 0


@dataclass(frozen=True)
class NetConfig:
    """Network shape. ``kind`` is ``mlp`` or ``unet``; ``shape`` is the sample shape.

    ``fourier`` > 0 (MLP only) feeds the MLP sin/cos of each input coordinate at that many
    octaves besides the coordinates themselves (``nets.fourier_features``): a small MLP of
    raw coordinates draws a blurred edge where the data has a sharp one (the chessboard).
    """

    kind: str = "mlp"
    shape: tuple[int, ...] = (2,)
    hidden: int = 256
    depth: int = 3
    channels: tuple[int, ...] = (16, 32, 32)
    n_classes: int = 0
    time_dim: int = 64
    fourier: int = 0


@dataclass(frozen=True)
class TeacherConfig:
    """Flow-matching teacher training (spec §1).

    ``time_sampling``: ``uniform`` is spec §1's t ~ U(0, 1); ``logit-normal`` draws
    t = sigmoid(n), n ~ N(0, 1), for four samples in five and t ~ U(0, 1) for the fifth
    (``flow.sample_time``), which spends more of the budget on mid-path times, where the
    velocity field is hardest, while still covering both ends. ``ema`` is the decay of the
    weight average saved as the checkpoint; a short run wants a shorter average (its early
    weights are far from its last).
    """

    steps: int = 8192
    batch: int = 512
    lr: float = 2e-3
    warmup: int = 200
    snapshots: tuple[int, ...] = ()
    seed: int = 0
    log_every: int = 50
    time_sampling: str = "uniform"
    ema: float = 0.999


# DMD2's GAN weights (its ImageNet recipe): 3e-3 on the generator's term, 1e-2 on the discriminator's
GAN_WEIGHT_G, GAN_WEIGHT_D = 3e-3, 1e-2


@dataclass(frozen=True)
class DistillConfig:
    """DMD distillation (spec §3) and its copying meter (spec §4).

    The GAN term (spec §3.3) weighs the generator's loss by ``gan_weight_g`` and the
    discriminator's by ``gan_weight_d``. ``gan_weight`` is the single λ of configs written
    before the split: it applies to both when neither separate weight is set.
    """

    steps: int = 2000
    batch: int = 256
    lr: float = 1e-4
    critic_lr: float = 2e-4
    ratio: int = 5
    t_min: float = 0.02
    t_max: float = 0.98
    gan_weight: float = 0.0
    gan_weight_g: float = 0.0
    gan_weight_d: float = 0.0
    regression_weight: float = 0.0
    regression_pairs: int = 256
    init: str = "teacher"
    probe_n: int = 256
    probe_every: int = 200
    probe_seed: int = 12345
    k: int = 8
    seed: int = 0
    student_hidden: int = 0
    student_depth: int = 0
    noise_rotation: bool = False
    shuffled_control: bool = False  # with noise_rotation: score against Φ_K(z), not Φ_K(R z) (dmd.StudentNet)
    extra_noise: bool = False  # a second noise input z' the teacher never sees (dmd.ExtraNoise; MLP only)
    extra_noise_scale: float = 0.0  # W' at the start, in units of the teacher's first-layer weight std

    @property
    def gan_weights(self) -> tuple[float, float]:
        """(λ on G, λ on D) of the GAN term; (0, 0) when it is off."""
        if self.gan_weight_g or self.gan_weight_d:
            return self.gan_weight_g, self.gan_weight_d
        return self.gan_weight, self.gan_weight


@dataclass(frozen=True)
class Preset:
    name: str
    data: DataConfig
    net: NetConfig
    teacher: TeacherConfig
    distill: DistillConfig
    description: str = ""


def _tuple_fields(cls, d: dict) -> dict:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise DmdvizError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def from_dict(cls, d: dict):
    """Rebuild a config dataclass from its JSON dict, refusing unknown fields."""
    if not isinstance(d, dict):
        raise DmdvizError(f"{cls.__name__} must be a JSON object")
    return cls(**_tuple_fields(cls, d))


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


_MLP_4D = NetConfig(kind="mlp", shape=(4,), hidden=256, depth=3)


def _plane(name: str, description: str) -> Preset:
    """A 2-D set of the paper's fig. 7 in R^2, with the moons recipe (about a minute each on 2 cores)."""
    return Preset(name, DataConfig(name, dim=2), replace(_MLP_4D, shape=(2,)),
                  TeacherConfig(steps=6000, batch=512, lr=3e-3),
                  DistillConfig(steps=2000, batch=512, ratio=2, lr=1e-3, critic_lr=1e-3, probe_every=250), description)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        # Fourier features of x give the board its sharp edges; uniform t measured better than
        # the logit-normal mix at equal steps (README, "Benchmarks"); 2,000 steps at lr 1e-2
        # put >= 0.90 of Φ_8 on the black squares (tests/test_shipped.py checks the shipped one),
        # at width 192 as at 256 (0.905 vs 0.907; 128: 0.891) for 0.7x the time a step. The
        # student's samples on the board: 0.72 after 500 DMD iterations, 0.77-0.81 after 1,000,
        # 0.70 after 2,000 (measured), so 1,000 it is
        Preset(
            "chessboard4d",
            DataConfig("chessboard", dim=4, cells=4),
            replace(_MLP_4D, hidden=192, fourier=4),
            TeacherConfig(steps=2000, batch=512, lr=1e-2, warmup=100),
            DistillConfig(steps=1000, batch=512, ratio=2, lr=1e-3, critic_lr=1e-3, probe_every=250),
            "2-D chessboard in the first two coordinates of R^4 (paper Fig. 2).",
        ),
        _plane("moons", "Double moon in R^2 (paper Fig. 7)."),
        _plane("gaussians8", "Eight Gaussians on a circle in R^2 (paper Fig. 7)."),
        _plane("swissroll", "Swiss roll in R^2 (paper Fig. 7)."),
        _plane("rings", "Three concentric rings in R^2 (paper Fig. 7)."),
        Preset(
            "digits",
            DataConfig("digits"),
            NetConfig(kind="mlp", shape=(1, 8, 8), hidden=256, depth=3),
            TeacherConfig(steps=12000, batch=256, lr=1e-3, snapshots=(3000, 6000)),
            DistillConfig(steps=3000, batch=256, probe_every=300),
            "scikit-learn's 8x8 digits (64-D, 1,797 real images, offline).",
        ),
        Preset(
            "mlp-manifold",
            DataConfig("mlp-manifold", dim=64, n_classes=10, latent_dim=2),
            NetConfig(kind="mlp", shape=(64,), hidden=256, depth=3, n_classes=10),
            TeacherConfig(steps=12000, batch=256, lr=1e-3),
            DistillConfig(steps=3000, batch=256, probe_every=300),
            "Conditional synthetic set: 2-D latent + class offset through a random MLP to R^64.",
        ),
        Preset(
            "mnist-mlp",
            DataConfig("mnist"),
            NetConfig(kind="mlp", shape=(1, 28, 28), hidden=256, depth=3),
            TeacherConfig(steps=8192, batch=128, lr=1e-3, snapshots=(1024, 2048, 4096)),
            DistillConfig(steps=2000, batch=64, probe_every=200),
            "Unconditional MNIST with a 3x256 MLP (the CPU stand-in for the UNet; 2.5 MB a checkpoint).",
        ),
        Preset(
            "mnist",
            DataConfig("mnist"),
            NetConfig(kind="unet", shape=(1, 28, 28), channels=(16, 32, 32)),
            TeacherConfig(steps=8192, batch=64, lr=1e-3, snapshots=(1024, 2048, 4096)),
            DistillConfig(steps=1500, batch=64, probe_every=150, probe_n=128),
            "Unconditional MNIST with a small UNet (paper Fig. 1, 4, 5, 11, 12).",
        ),
        Preset(
            "mnist-cond",
            DataConfig("mnist", n_classes=10),
            NetConfig(kind="mlp", shape=(1, 28, 28), hidden=256, depth=3, n_classes=10),
            TeacherConfig(steps=8192, batch=128, lr=1e-3),
            DistillConfig(steps=2000, batch=64, probe_every=200),
            "Class-conditional MNIST with a 3x256 MLP (paper Fig. 8-10).",
        ),
        Preset(
            "imagenet64",
            DataConfig("imagefolder", size=64, channels=3, n_classes=1000),
            NetConfig(kind="unet", shape=(3, 64, 64), channels=(64, 128, 256), n_classes=1000, time_dim=128),
            TeacherConfig(steps=100_000, batch=128, lr=2e-4, snapshots=(12_500, 25_000, 50_000)),
            DistillConfig(steps=10_000, batch=64, probe_every=500, probe_n=256),
            "Class-conditional ImageNet 64x64 (GPU scale, not trained here): --data-dir holds class "
            "folders of images or the downsampled-ImageNet .npz batches.",
        ),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise DmdvizError(
            f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}"
        ) from None


def customize(preset: Preset, *, dim: int = 0, data: dict | None = None, teacher: dict | None = None,
              distill: dict | None = None) -> Preset:
    """The preset with overrides: the one place the CLI, jobs and sweeps derive configs from one.

    ``dim`` > 0 re-embeds a vector set in R^dim (the data's ``dim`` and the network's shape);
    ``data`` / ``teacher`` / ``distill`` replace fields of those configs. A teacher given
    fewer ``steps`` keeps only the preset's snapshots before its last step, unless it is
    given its own ``snapshots``.
    """
    d, net = replace(preset.data, **(data or {})), preset.net
    if dim:
        if len(net.shape) != 1:
            raise DmdvizError(f"preset {preset.name} has a fixed image shape: --dim applies to vector presets only")
        d, net = replace(d, dim=dim), replace(net, shape=(dim,))
    t = dict(teacher or {})
    if "steps" in t and "snapshots" not in t:
        t["snapshots"] = tuple(s for s in preset.teacher.snapshots if s < t["steps"])
    return replace(preset, data=d, net=net, teacher=replace(preset.teacher, **t),
                   distill=replace(preset.distill, **(distill or {})))


@dataclass(frozen=True)
class TeacherRef:
    """The teacher a student was distilled from: a reference and, from the Hub, its revision."""

    ref: str = ""
    revision: str = ""

    @property
    def reference(self) -> str:
        """``ref@revision`` when a revision is recorded (and the ref names none), else ``ref``."""
        return f"{self.ref}@{self.revision}" if self.ref and self.revision and "@" not in self.ref else self.ref


@dataclass(frozen=True)
class StudentInfo:
    """How a student's network relates to its teacher's (config.json ``student``)."""

    init: str = "teacher"
    noise_rotation: bool = False
    shuffled_control: bool = False
    extra_noise: bool = False


@dataclass(frozen=True)
class CheckpointConfig:
    """A checkpoint's config.json, typed: parsed once when the checkpoint is loaded.

    ``train`` and ``metrics`` stay plain dicts: they are records (what happened), read by
    people and the model card, never used to rebuild anything. ``teacher`` and ``student``
    are None for a teacher.
    """

    role: str
    data: DataConfig
    net: NetConfig
    train: dict = field(default_factory=dict)
    teacher: TeacherRef | None = None
    student: StudentInfo | None = None
    metrics: dict = field(default_factory=dict)

    @property
    def teacher_ref(self) -> str:
        """The reference of the teacher a student records ("" for a teacher, or none recorded)."""
        return self.teacher.reference if self.teacher else ""

    @classmethod
    def parse(cls, config: dict) -> "CheckpointConfig":
        student = config["role"] == "student"
        return cls(config["role"], from_dict(DataConfig, config["data"]), from_dict(NetConfig, config["net"]),
                   dict(config.get("train") or {}),
                   from_dict(TeacherRef, config.get("teacher") or {}) if student else None,
                   from_dict(StudentInfo, config.get("student") or {}) if student else None,
                   dict(config.get("metrics") or {}))


def recorded_teacher(config: dict) -> str:
    """The teacher reference a student's config.json records (``TeacherRef.reference``)."""
    t = config.get("teacher") or {}
    return TeacherRef(t.get("ref", ""), t.get("revision", "")).reference
