"""The package as pip sees it: pyproject.toml's metadata built by setuptools, the ``dmdviz``
command, ranges that admit requirements.txt's exact pins, and the licence and citation files."""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
import tomllib
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

import dmdviz

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> Path:
    """The dist-info folder setuptools writes for a wheel of this tree (what ``pip install`` reads)."""
    out = tmp_path_factory.mktemp("meta")
    code = "import sys; from setuptools import build_meta as b; print(b.prepare_metadata_for_build_wheel(sys.argv[1]))"
    r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / r.stdout.strip().splitlines()[-1]


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower().replace("_", "-")] = spec.version
    return pins


def test_built_metadata_names_the_version_and_the_command(metadata):
    meta = Parser().parsestr((metadata / "METADATA").read_text())
    assert meta["Name"] == "dmdviz" and meta["Version"] == dmdviz.__version__
    assert meta["License-Expression"] == "MIT"
    assert set(meta.get_all("Provides-Extra")) >= {"app", "diffusers", "dev"}
    entry = configparser.ConfigParser()
    entry.read(metadata / "entry_points.txt")
    assert dict(entry["console_scripts"]) == {"dmdviz": "dmdviz.cli:main"}
    module, attr = entry["console_scripts"]["dmdviz"].split(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert "from dmdviz.cli import main\n" in (ROOT / "dmdviz" / "__main__.py").read_text()  # what python -m runs


def test_the_command_answers_its_version(capsys):
    from dmdviz.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"dmdviz {dmdviz.__version__}"


def test_ranges_admit_every_exact_pin():
    """pyproject's ranges admit the pins the Space and the image install, and nothing the pins
    name is missing from pyproject (a dependency added to one file only fails here)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges = {}
    for line in project["dependencies"] + [d for ds in project["optional-dependencies"].values() for d in ds]:
        req = Requirement(line)
        if req.name != "dmdviz":
            ranges[req.name.lower().replace("_", "-")] = req.specifier
    pins = {**_pins("requirements.txt"), **_pins("requirements-dev.txt")}
    pins.pop("setuptools")  # builds the package; not one of its dependencies
    assert set(pins) <= set(ranges), set(pins) - set(ranges)
    for name, version in pins.items():
        assert ranges[name].contains(version), (name, version, str(ranges[name]))
    assert not ranges["torch"].contains("3.0.0") and not ranges["gradio"].contains("7.0.0")


def test_licence_and_citation():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 dmdviz contributors")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == dmdviz.__version__ and cff["license"] == "MIT"
    (paper,) = cff["references"]
    assert paper["title"].startswith("Why Are DMD Students Lazy?")
    assert {"type": "other", "value": "arXiv:2606.02237", "description": "arXiv identifier"} in paper["identifiers"]
