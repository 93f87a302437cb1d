"""How the app reports a failed event: one line beside the control that caused it and in the
tab's status line, while every plot and table keeps its last good value.

``guarded(fn, inputs, outputs, message, status)`` gives the (callback, inputs, outputs) of an
event. The callback computes everything before it returns, so a failure touches no output:
each gets ``gr.update()`` (no change) instead of Gradio's red "Error" badge, ``message`` (an
``error_box()`` placed next to the control) shows the line, and ``status`` (a Markdown line)
shows it above its last good text (kept in a session State). Success hides the message and
clears the warning from the status line.
"""

from __future__ import annotations

import html
import logging

import gradio as gr

from dmdviz.errors import DmdvizError

log = logging.getLogger(__name__)
WARN = "⚠ "


def error_box(elem_id: str) -> gr.HTML:
    """The hidden slot for an event's message, to be placed next to its control."""
    return gr.HTML("", visible=False, elem_id=elem_id, elem_classes="dmdviz-error", padding=False)


def message(e: Exception) -> str:
    """One line: a DmdvizError as it is, anything else as its type and first line."""
    if isinstance(e, DmdvizError):
        return str(e).replace("\n", " ")
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return f"unexpected {type(e).__name__}: {first}"


def _shown(text: str) -> dict:
    return gr.update(value=f'<p role="alert" style="color:#b91c1c;margin:0.25em 0;font-weight:600">'
                           f"{html.escape(WARN + text)}</p>", visible=True)


def _last_good(status: gr.Markdown) -> gr.State:
    """The status line's last good text, kept per session (a State: not part of the API)."""
    if not hasattr(status, "dmdviz_last_good"):
        status.dmdviz_last_good = gr.State("")
    return status.dmdviz_last_good


def guarded(fn, inputs: list, outputs: list, msg: gr.HTML, status: gr.Markdown | None = None):
    """(callback, inputs, outputs) for ``gr.on`` / ``x.click``: ``fn``'s outputs, then ``msg``,
    then ``status`` when it is not one of ``fn``'s outputs already. Wire it inside the Blocks."""
    outputs = list(outputs)
    at = next((i for i, o in enumerate(outputs) if o is status), None)
    memory = [_last_good(status)] if status is not None else []
    extra = [status] if status is not None and at is None else []

    def callback(*args):
        args, last = (args[:-1], args[-1]) if memory else (args, "")
        try:
            result = fn(*args)
        except Exception as e:
            if not isinstance(e, DmdvizError):
                log.exception("%s failed", fn.__name__)
            line = message(e)
            warned = f"**{WARN}{line}** (everything below keeps its last good value)" + (f"\n\n{last}" if last else "")
            kept = [warned if i == at else gr.update() for i in range(len(outputs))]
            return (*kept, _shown(line), *([last] if memory else []), *([warned] if extra else []))
        result = result if len(outputs) != 1 else (result,)
        if at is not None and isinstance(result[at], str):
            last = result[at]
        return (*result, gr.update(value="", visible=False), *([last] if memory else []), *([last] if extra else []))

    return callback, [*inputs, *memory], [*outputs, msg, *memory, *extra]
