"""What every tab of the app shares: the queue groups, the per-session cap on waiting
requests, and ``wire``, which connects one event through ``messages.guarded``.

Queue groups: ``COMPUTE`` (sampling, OT, training-set metrics: ``DMDVIZ_COMPUTE_SLOTS`` at
once), ``VIEWS`` (reads of shipped or finished results, e.g. a shipped sweep: milliseconds,
so never behind a computation) and ``POLL`` (timer ticks: no limit, no spinner).

Gradio's queue has one global ``max_size``, no per-visitor cap, so one visitor's flood could
fill it for everyone. ``Gate`` is that cap: an event's Gradio ``validator`` runs when the
request joins the queue and refuses it while its session already holds ``limit`` requests
waiting or running, or its client address ``per_address`` (session ids are the client's to
choose; its address is not); the callback releases its place when it ends. Timer ticks are not counted
(they run at once, outside every limit).

A computation (``COMPUTE``) has a wall-clock limit (``DMDVIZ_REQUEST_S``, ``timed``): past it the
visitor gets one line and the slot goes to the next request. The computation itself runs in a
worker thread that stops at its next network call (a global ``nn.Module`` forward pre-hook: a
sampler's every step and every block of a UNet); work between network calls (the metrics, a
POT or SciPy solve, a download) cannot be interrupted there, so it runs on, detached, to its
next network call or its end, and its result is discarded. (A torch function mode, stopping
at every torch call, made a 500-seed analysis about 1.7 times slower on a loaded machine.)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import threading
import time

import gradio as gr
import torch
from gradio.components.plot import PlotData

from dmdviz.errors import DmdvizError
from dmdviz.web.messages import guarded

COMPUTE = {"concurrency_id": "compute", "concurrency_limit": "default"}
VIEWS = {"concurrency_id": "views", "concurrency_limit": 4}
POLL = {"concurrency_id": "poll", "concurrency_limit": None, "show_progress": "hidden"}
OWN: dict = {}  # an event in its own group, one at a time (Gradio's default slot)


def serialised(fig):
    """A Plotly figure as the JSON a ``gr.Plot`` sends (``PlotData``), or None for None. A cached
    view holds its figures in this form, so a repeat answer re-sends the text instead of
    serialising the figure again (``Figure.to_json`` was the largest server cost of a warm view)."""
    return None if fig is None else PlotData(type="plotly", plot=fig.to_json())


class Gate:
    """At most ``limit`` requests per visitor waiting in the queue or running, and at most
    ``per_address`` from one client address, whatever session ids it makes up.

    A visitor is its Gradio session, or, for a caller without one (a bare REST call), its
    address (``client_address``): session-less callers are capped one address at a time and
    never lock each other out. A session id is the client's to choose, so the address cap is
    what bounds a client that opens twenty sessions.

    A place is taken when a request joins (``admit``) and given back when its callback ends
    (``release``). A request Gradio drops before it runs (its page closed, a cancelled event)
    never reaches its callback, so its place would stay taken: ``admit`` first gives back the
    places older than ``GRACE_S`` beyond what Gradio's queue still holds for the session
    (``bind`` tells the gate which Blocks to ask)."""

    GRACE_S = 30.0  # a request admitted this recently may not be in Gradio's queue yet (a loaded machine: seconds)

    def __init__(self, limit: int, per_address: int | None = None, request_s: float = 0):
        self.limit, self.per_address = limit, per_address or 2 * limit
        self.request_s = request_s  # a computation's wall-clock limit (``timed``), read when it starts
        self.held: dict[str, list[float]] = {}
        self.address: dict[str, str] = {}  # visitor key -> the client address its places came from
        self.lock = threading.Lock()
        self.blocks = None

    def bind(self, blocks) -> None:
        self.blocks = blocks

    def _pending(self, session: str) -> int | None:
        """Requests of ``session`` Gradio's queue holds (waiting or running); None if unknown."""
        queue = getattr(self.blocks, "_queue", None)
        pending = getattr(queue, "pending_event_ids_session", None)
        return None if pending is None else len(pending.get(session, ()))

    @staticmethod
    def key(session: str | None, address: str = "") -> str:
        return session or f"@{address}"

    def admit(self, session: str | None, address: str = "") -> bool:
        key = self.key(session, address)
        with self.lock:
            places = self.held.setdefault(key, [])
            pending = self._pending(key)
            now = time.monotonic()
            while pending is not None and len(places) > pending and places and now - places[0] > self.GRACE_S:
                places.pop(0)  # a request that never ran
            from_address = sum(len(self.held.get(k, ())) for k, a in self.address.items() if a == address)
            if len(places) >= self.limit or from_address >= self.per_address:
                if not places:
                    self.held.pop(key, None)
                return False
            places.append(now)
            self.address[key] = address
            return True

    def release(self, session: str | None, address: str = "") -> None:
        key = self.key(session, address)
        with self.lock:
            places = self.held.get(key, [])
            if places:
                places.pop(0)
            if not places:
                self.held.pop(key, None)
                self.address.pop(key, None)

    def release_for(self, request: gr.Request) -> None:
        """``release`` the place of the request's visitor (its callback ended)."""
        self.release(request.session_hash, client_address(request))

    def forget(self, session: str | None) -> None:
        """The session's page closed: Gradio drops its waiting requests, so they hold no place."""
        with self.lock:
            self.held.pop(session or "", None)
            self.address.pop(session or "", None)

    def validator(self, request: gr.Request, *args):
        """Gradio's validator contract: one verdict per input; a refusal is told on the first."""
        admitted = self.admit(request.session_hash, client_address(request))
        line = "" if admitted else (f"{self.limit} requests from this page (or {self.per_address} from this "
                                    "address) are already waiting or running: wait for one to finish")
        return [gr.validate(admitted, line), *[gr.validate(True, "") for _ in args[1:]]] if args else None


class Stopped(BaseException):
    """Raised in a stopped computation at its next network call: it unwinds through every ``except Exception``."""


_local = threading.local()  # the stop event of the computation this thread runs, if any
_hooked: list = []
_hook_lock = threading.Lock()


def _check_stop(module, args) -> None:
    """A global forward pre-hook of every ``nn.Module``: a stopped computation's next call raises."""
    stop = getattr(_local, "stop", None)
    if stop is not None and stop.is_set():
        raise Stopped


@contextlib.contextmanager
def _stoppable(stop: threading.Event):
    """Make this thread's network calls check ``stop`` (one hook for the process, added once;
    a thread without a stop event pays one attribute read per module call)."""
    with _hook_lock:
        if not _hooked:
            _hooked.append(torch.nn.modules.module.register_module_forward_pre_hook(_check_stop))
    _local.stop = stop
    try:
        yield
    finally:
        _local.stop = None


def timed(fn, seconds):
    """``fn`` with a wall-clock limit of ``seconds()`` (read at each call; 0: none): run in a
    worker thread (the caller's context variables copied, so Gradio's progress reaches the
    page); past the limit the caller gets a ``DmdvizError`` at once and the worker is told to
    stop at its next network (``nn.Module``) call, its result discarded."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        limit = seconds() or 0
        if limit <= 0:
            return fn(*args, **kwargs)
        stop, done, box = threading.Event(), threading.Event(), {}

        def work():
            try:
                with _stoppable(stop):
                    box["value"] = fn(*args, **kwargs)
            except BaseException as e:  # Stopped included: nobody waits for it any more
                box["error"] = e
            finally:
                done.set()

        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(work,), name="dmdviz-request", daemon=True).start()
        if not done.wait(limit):
            stop.set()
            raise DmdvizError(f"this computation ran past its {limit:g} s limit (DMDVIZ_REQUEST_S) and was stopped: "
                              "ask for fewer seeds, a smaller K or a smaller model")
        if "error" in box:
            raise box["error"]
        return box["value"]

    return run


def client_address(request) -> str:
    """The client's address as far as the client cannot choose it: the connection's peer, or,
    when that peer is a proxy on a private network (a Space's), the address that proxy appended
    last to ``X-Forwarded-For`` (the entries before it are the client's to write)."""
    peer = str(getattr(getattr(request, "client", None), "host", "") or "")
    try:
        proxied = ipaddress.ip_address(peer).is_private
    except ValueError:
        proxied = False
    headers = getattr(request, "headers", None) or {}
    forwarded = [part.strip() for part in str(headers.get("x-forwarded-for", "")).split(",")]
    return forwarded[-1] if proxied and forwarded[-1] else peer


def wire(gate: Gate, triggers, fn, inputs: list, outputs: list, msg, status=None, *, api_name: str,
         group: dict = COMPUTE, session: bool = False, progress: bool = False, trigger_mode: str | None = None,
         reset: tuple = (), oauth: bool = False) -> None:
    """One event: ``fn`` guarded (``messages.guarded``) on ``triggers`` (a listener or a list of
    them), in ``group`` and, unless it is a timer tick (``POLL``), behind the per-session ``gate``.
    ``trigger_mode``: Gradio's (None: its default, "once", which drops a trigger while the event
    runs); ``reset``: outputs cleared when ``fn`` fails."""
    counted = group is not POLL
    if group is COMPUTE:
        fn = timed(fn, lambda: gate.request_s)
    callback, ins, outs = guarded(fn, inputs, outputs, msg, status, session=session, progress=progress,
                                  gate=gate if counted else None, reset=reset, oauth=oauth)
    triggers = triggers if isinstance(triggers, list) else [triggers]
    # the page's events: callable by name, but not documented nor MCP tools (their inputs and
    # outputs are the page's components); programs call ``web.api``'s endpoints
    gr.on(triggers, callback, ins, outs, api_name=api_name, validator=gate.validator if counted else None,
          trigger_mode=trigger_mode, api_visibility="undocumented", **group)
