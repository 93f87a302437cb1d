"""Speed measurements of dmdviz (not timed tests). One entry point: ``python -m benchmarks``.

It writes ``benchmarks/results.json`` and ``benchmarks/results.md`` from one run on one
machine; ``gpu_check.sh`` is the separate, optional check for a lent GPU machine.
"""
