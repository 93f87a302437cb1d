"""``python -m dmdviz``: the command line, an edge of the library.

    parser -- every option, bounded where it enters
    main   -- the subcommands; references are resolved here (any folder or Hub id)
    outputs -- what analyze writes: the JSON summary, samples, figure files

Rule: imports anything below it; nothing imports it.
"""

from dmdviz.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
