"""Checkpoint folders: the only code that reads or writes them, locally or on the Hub.

    format  -- config.json + model.safetensors (+ README.md): validate, load, save
    build   -- the network a config describes, sized on the meta device before allocation
    card    -- the model card
    refs    -- what a reference string names (a folder, a shipped name, a Hub id)
    hub     -- Hub download (bounded) and push

Rule: below models/, analysis/ and everything that takes a loaded ``Checkpoint``; imports
core/, the base modules and nothing above.
"""

from dmdviz.checkpoint.build import build_model, check_size
from dmdviz.checkpoint.card import card
from dmdviz.checkpoint.format import (
    FORMAT,
    PICKLE_SUFFIXES,
    Checkpoint,
    load_folder,
    make_config,
    max_bytes,
    read_config,
    read_safetensors_header,
    save_checkpoint,
    validate_weights,
)
from dmdviz.checkpoint.hub import download, fetch_dataset, fetch_files, push
from dmdviz.checkpoint.names import MAX_REF, REPO_ID, is_repo_id, split_revision
from dmdviz.checkpoint.refs import is_shipped, load_checkpoint, resolve, shipped_names

__all__ = [
    "FORMAT",
    "MAX_REF",
    "PICKLE_SUFFIXES",
    "REPO_ID",
    "Checkpoint",
    "build_model",
    "card",
    "check_size",
    "download",
    "fetch_dataset",
    "fetch_files",
    "is_repo_id",
    "max_bytes",
    "is_shipped",
    "load_checkpoint",
    "load_folder",
    "make_config",
    "push",
    "read_config",
    "read_safetensors_header",
    "resolve",
    "save_checkpoint",
    "shipped_names",
    "split_revision",
    "validate_weights",
]
