"""What every tab of the app shares: the queue groups, the per-session cap on waiting
requests, and ``wire``, which connects one event through ``ui_errors.guarded``.

Queue groups: ``COMPUTE`` (sampling, OT, training-set metrics: ``DMDVIZ_COMPUTE_SLOTS`` at
once), ``VIEWS`` (reads of shipped or finished results, e.g. a shipped sweep: milliseconds,
so never behind a computation) and ``POLL`` (timer ticks: no limit, no spinner).

Gradio's queue has one global ``max_size``, no per-visitor cap, so one visitor's flood could
fill it for everyone. ``Gate`` is that cap: an event's Gradio ``validator`` runs when the
request joins the queue and refuses it while its session already holds ``limit`` requests
waiting or running; the callback releases its place when it ends. Timer ticks are not counted
(they run at once, outside every limit).
"""

from __future__ import annotations

import threading
from collections import Counter

import gradio as gr

from dmdviz.ui_errors import guarded

COMPUTE = {"concurrency_id": "compute", "concurrency_limit": "default"}
VIEWS = {"concurrency_id": "views", "concurrency_limit": 4}
POLL = {"concurrency_id": "poll", "concurrency_limit": None, "show_progress": "hidden"}
OWN: dict = {}  # an event in its own group, one at a time (Gradio's default slot)


class Gate:
    """At most ``limit`` requests per session waiting in the queue or running."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held: Counter[str] = Counter()
        self.lock = threading.Lock()

    def admit(self, session: str | None) -> bool:
        with self.lock:
            if self.held[session or ""] >= self.limit:
                return False
            self.held[session or ""] += 1
            return True

    def release(self, session: str | None) -> None:
        with self.lock:
            if self.held[session or ""] > 0:
                self.held[session or ""] -= 1
            if not self.held[session or ""]:
                del self.held[session or ""]

    def forget(self, session: str | None) -> None:
        """The session's page closed: Gradio drops its waiting requests, so they hold no place."""
        with self.lock:
            self.held.pop(session or "", None)

    def validator(self, request: gr.Request, *args):
        """Gradio's validator contract: one verdict per input; a refusal is told on the first."""
        admitted = self.admit(request.session_hash)
        line = "" if admitted else (f"{self.limit} requests from this page are already waiting or running: "
                                    "wait for one to finish")
        return [gr.validate(admitted, line), *[gr.validate(True, "") for _ in args[1:]]] if args else None


def wire(gate: Gate, triggers, fn, inputs: list, outputs: list, msg, status=None, *, api_name: str,
         group: dict = COMPUTE, session: bool = False, progress: bool = False) -> None:
    """One event: ``fn`` guarded (``ui_errors.guarded``) on ``triggers`` (a listener or a list of
    them), in ``group`` and, unless it is a timer tick (``POLL``), behind the per-session ``gate``."""
    counted = group is not POLL
    callback, ins, outs = guarded(fn, inputs, outputs, msg, status, session=session, progress=progress,
                                  gate=gate if counted else None)
    triggers = triggers if isinstance(triggers, list) else [triggers]
    gr.on(triggers, callback, ins, outs, api_name=api_name, validator=gate.validator if counted else None,
          **group)
