"""dmdviz: noise-data pairings in Distribution Matching Distillation (arXiv 2606.02237)."""

__version__ = "0.1.0"
