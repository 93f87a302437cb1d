"""The Space build, read from the files (nothing is installed): torch's CPU build comes first
from pre-requirements.txt, and one Python version holds across the Space's front matter, the
Dockerfile and CI."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lines(name: str) -> list[str]:
    return [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines() if line.split("#")[0].strip()]


def _front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("---\n")[1]
    return dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)


def test_a_cpu_space_gets_torch_from_the_cpu_index_before_requirements_txt():
    pre, req = _lines("pre-requirements.txt"), _lines("requirements.txt")
    assert pre[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    torch_pins = [line for line in pre if line.startswith("torch")]
    assert torch_pins == ["torch==2.13.0"] and torch_pins[0] in req  # the same pin: requirements.txt is then met
    assert not any(line.startswith("-") for line in req)  # make test installs requirements.txt from local disk


def test_one_python_version_everywhere():
    version = _front_matter()["python_version"].strip('"')
    assert version == "3.11"
    base = re.search(r"^FROM python:(\d+\.\d+)\.\d+-slim", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and base.group(1) == version
    assert f'PY="${{PY:-python{version}}}"' in (ROOT / ".ci" / "run").read_text()
