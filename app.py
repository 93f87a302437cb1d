"""Serve the dmdviz app (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, default 7860)."""

from dmdviz.ui import build_demo, launch_kwargs


def main() -> None:
    demo = build_demo(warm=True)  # the default pair drawn before the port opens: the first page load is a cache hit
    try:
        demo.launch(**launch_kwargs())
    except KeyboardInterrupt:  # SIGINT is the container's stop signal: stop cleanly, exit 0
        demo.close()


if __name__ == "__main__":
    main()
