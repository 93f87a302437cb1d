"""Training: the flow-matching teacher and the DMD student, resumable, on one or many GPUs.

    teacher  -- train_teacher: the flow-matching loop, EMA, snapshots
    student  -- distill: DMD's critic and generator updates, probes, GAN / regression terms
    steps    -- what both loops share (schedule, EMA, an agreed stop)
    state    -- the resumable state of a run (optimisers, RNG, step) in safetensors
    runtime  -- device, bf16 autocast and torchrun data parallelism
    classifier -- the class predictor of the quality measures (python -m dmdviz.training.classifier)

Rule: imports core/, data/, checkpoint/ and the base modules; never analysis/,
experiments/, cli/ or web/. Progress leaves through callbacks, never through a UI.
"""

from dmdviz.training.state import STATE
from dmdviz.training.student import distill, make_student, probe_metrics, probe_set
from dmdviz.training.teacher import train_teacher

__all__ = ["STATE", "distill", "make_student", "probe_metrics", "probe_set", "train_teacher"]
