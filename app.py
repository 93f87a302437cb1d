"""Serve the dmdviz app (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, default 7860)."""

from dmdviz.ui import build_demo, launch_kwargs

if __name__ == "__main__":
    build_demo().launch(**launch_kwargs())
