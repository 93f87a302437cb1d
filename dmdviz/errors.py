"""The one exception type for bad user input: the CLI and the UI print its message alone."""


class DmdvizError(Exception):
    """A user-facing error with a one-line message (bad reference, shape, preset, ...)."""
