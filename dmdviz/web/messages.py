"""How the app reports a failed event: one line beside the control that caused it and in the
tab's status line, while every plot and table keeps its last good value.

``guarded(fn, inputs, outputs, message, status)`` gives the (callback, inputs, outputs) of an
event. The callback computes everything before it returns, so a failure touches no output:
each gets ``gr.update()`` (no change) instead of Gradio's red "Error" badge, ``message`` (an
``error_box()`` placed next to the control) shows the line, and ``status`` (a Markdown line)
shows it above its last good text (kept in a session State). Success hides the message and
clears the warning from the status line.

A message never shows a folder of the server: ``hide(path, name)`` registers a root shown by
name ("runs", "your upload", ...), and any other absolute path reads ``<server path>``.
``guarded(..., session=True)`` passes the visitor's session id to ``fn`` (``session=``),
``progress=True`` a ``gr.Progress`` (``progress=``), and ``gate`` (``common.Gate``) is told
when the request ends.
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

import gradio as gr

from dmdviz.errors import DmdvizError

log = logging.getLogger(__name__)
WARN = "⚠ "
_HIDDEN: dict[str, str] = {}
_PATH = re.compile(r"(?<![^\s'\"`(=:\[,])/[\w.~+@-]+(?:/[\w.~+@-]*)*")  # a path that starts a word


def hide(path, name: str) -> None:
    """Show ``path`` (and anything under it) as ``name`` in every message."""
    _HIDDEN[str(Path(path).resolve())] = name
    _HIDDEN[str(path)] = name


def redact(text: str) -> str:
    """``text`` with the registered roots by name and every other absolute path as ``<server path>``."""
    for root in sorted(_HIDDEN, key=len, reverse=True):
        text = text.replace(root, _HIDDEN[root])
    return _PATH.sub("<server path>", text)


def error_box(elem_id: str) -> gr.HTML:
    """The hidden slot for an event's message, to be placed next to its control."""
    return gr.HTML("", visible=False, elem_id=elem_id, elem_classes="dmdviz-error", padding=False)


def message(e: Exception) -> str:
    """One line: a DmdvizError as it is, anything else as its type and first line."""
    if isinstance(e, DmdvizError):
        return redact(str(e).replace("\n", " "))
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return redact(f"unexpected {type(e).__name__}: {first}")


def _shown(text: str) -> dict:
    return gr.update(value=f'<p role="alert" style="color:#b91c1c;margin:0.25em 0;font-weight:600">'
                           f"{html.escape(WARN + text)}</p>", visible=True)


def _last_good(status: gr.Markdown) -> gr.State:
    """The status line's last good text, kept per session (a State: not part of the API)."""
    if not hasattr(status, "dmdviz_last_good"):
        status.dmdviz_last_good = gr.State("")
    return status.dmdviz_last_good


def guarded(fn, inputs: list, outputs: list, msg: gr.HTML, status: gr.Markdown | None = None, *,
            session: bool = False, progress: bool = False, gate=None, reset: tuple = (), oauth: bool = False):
    """(callback, inputs, outputs) for ``gr.on`` / ``x.click``: ``fn``'s outputs, then ``msg``,
    then ``status`` when it is not one of ``fn``'s outputs already. Wire it inside the Blocks.
    A failure leaves every output as it was but those in ``reset``, which are emptied (an
    upload box must not keep the file it refused). ``oauth``: ``fn`` also gets ``token=``, the
    visitor's Hugging Face login (a ``gr.OAuthToken``, None when logged out)."""
    outputs = list(outputs)
    at = next((i for i, o in enumerate(outputs) if o is status), None)
    memory = [_last_good(status)] if status is not None else []
    extra = [status] if status is not None and at is None else []

    def run(request, tracker, args, token=None):
        args, last = (args[:-1], args[-1]) if memory else (args, "")
        kwargs = {**({"session": request.session_hash or ""} if session else {}),
                  **({"progress": tracker} if progress else {}), **({"token": token} if oauth else {})}
        try:
            result = fn(*args, **kwargs)
        except Exception as e:
            if not isinstance(e, DmdvizError):
                log.exception("%s failed", fn.__name__)
            line = message(e)
            warned = f"**{WARN}{line}** (everything below keeps its last good value)" + (f"\n\n{last}" if last else "")
            kept = [warned if i == at else gr.update(value=None) if any(o is r for r in reset) else gr.update()
                    for i, o in enumerate(outputs)]
            return (*kept, _shown(line), *([last] if memory else []), *([warned] if extra else []))
        finally:
            if gate is not None:
                gate.release_for(request)
        result = result if len(outputs) != 1 else (result,)
        if at is not None and isinstance(result[at], str):
            last = result[at]
        return (*result, gr.update(value="", visible=False), *([last] if memory else []), *([last] if extra else []))

    # Gradio finds the request and the progress tracker by position, before the inputs
    if progress:
        def callback(request: gr.Request, tracker=gr.Progress(), *args):
            return run(request, tracker, args)
    elif oauth:  # Gradio fills a parameter typed gr.OAuthToken from the session's login
        def callback(request: gr.Request, token: gr.OAuthToken | None, *args):
            return run(request, None, args, token)
    else:
        def callback(request: gr.Request, *args):
            return run(request, None, args)
    callback.__name__ = getattr(fn, "__name__", "callback")

    return callback, [*inputs, *memory], [*outputs, msg, *memory, *extra]
