"""Serve the dmdviz app (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, default 7860)."""

import signal

try:  # on a ZeroGPU Space, `spaces` must be imported before torch touches CUDA (dmdviz.web.gpu)
    import spaces  # noqa: F401
except ImportError:
    pass

from dmdviz.web.app import build_demo
from dmdviz.web.page import launch_kwargs


def main() -> None:
    # SIGINT stops the app even where the parent left it ignored (a job started with `&`)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    demo = build_demo(warm=True)  # the default pair drawn before the port opens: the first page load is a cache hit
    try:
        demo.launch(**launch_kwargs())
    except KeyboardInterrupt:  # SIGINT is the container's stop signal: stop cleanly, exit 0
        demo.close()


if __name__ == "__main__":
    main()
