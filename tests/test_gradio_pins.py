"""What the app takes from Gradio's private side, pinned so an upgrade that moves it fails here,
loudly, instead of silently switching a safeguard off.

``web.common.Gate`` reads ``blocks._queue.pending_event_ids_session`` (session -> the ids of
its events waiting or running) to give back the places of requests Gradio dropped before they
ran; Gradio has no public API for it. If it is missing, ``Gate._pending`` returns None and the
gate stops reclaiming places: a visitor whose page dropped requests stays locked out."""

from __future__ import annotations

import inspect

import gradio as gr
from gradio import queueing

from dmdviz.web.common import Gate

CHECKED = "6.31.0"  # the Gradio whose queue this was read against


def test_the_gate_reads_gradios_pending_events_of_a_session():
    with gr.Blocks() as demo:
        gr.Markdown("x")
    demo.queue()
    gate = Gate(2)
    gate.bind(demo)
    pending = getattr(demo._queue, "pending_event_ids_session", None)
    assert isinstance(pending, dict), (
        f"Gradio {gr.__version__} has no Blocks._queue.pending_event_ids_session (checked on {CHECKED}): "
        "web.common.Gate can no longer see dropped requests; move it to what this Gradio offers")
    assert gate._pending("s") == 0
    pending["s"] = {"e1", "e2"}
    assert gate._pending("s") == 2
    # Gradio itself adds an event on joining the queue and removes it when it ends
    assert "pending_event_ids_session[body.session_hash].add(event._id)" in inspect.getsource(queueing.Queue.push)
    assert "pending_event_ids_session[session_hash] -= removed_ids" in inspect.getsource(queueing.Queue)
