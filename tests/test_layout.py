"""The shape of the library (STYLE.md): imports go one way, modules and functions stay small.

Read from the source (no imports executed): every ``import`` of a dmdviz module, at module
level or inside a function, is an edge. The UI modules (``ui*.py``) sit on top: the
library never imports them; the size bounds hold for every module, UI included.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dmdviz"
MAX_LINES, MAX_FUNCTION = 420, 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_ui(name: str) -> bool:
    return name.split(".")[1:2] != [] and name.split(".")[1].startswith("ui")


MODULES = _modules()
LIBRARY = {name: path for name, path in MODULES.items() if not _is_ui(name)}


def _imports(path: Path) -> set[str]:
    """The dmdviz modules ``path`` imports (a package's own parent is no edge: Python runs it first anyway)."""
    me = next(name for name, p in MODULES.items() if p == path)
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dmdviz"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(MODULES)
            out |= subs or {node.module}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("dmdviz")}
    return {m for m in out if m in MODULES and not me.startswith(m + ".")}


def test_no_import_cycle_in_the_library_or_the_ui():
    graph = {name: _imports(path) for name, path in MODULES.items()}
    done, cycles = set(), []

    def visit(node, stack):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for dep in sorted(graph[node]):
            visit(dep, stack + [node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert not cycles, cycles


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_the_library_imports_no_ui_and_analysis_no_training(name):
    imported = _imports(LIBRARY[name])
    assert not {m for m in imported if _is_ui(m)}, name
    third_party = {a.name.split(".")[0] for node in ast.walk(ast.parse(LIBRARY[name].read_text()))
                   if isinstance(node, ast.Import) for a in node.names}
    third_party |= {node.module.split(".")[0] for node in ast.walk(ast.parse(LIBRARY[name].read_text()))
                    if isinstance(node, ast.ImportFrom) and node.module}
    assert "gradio" not in third_party, name
    if name.startswith("dmdviz.analysis"):
        assert not imported & {"dmdviz.train", "dmdviz.train_state", "dmdviz.jobs", "dmdviz.sweep"}, name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_stay_small(name):
    text = MODULES[name].read_text()
    assert text.count("\n") <= MAX_LINES, f"{name}: {text.count(chr(10))} lines"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= MAX_FUNCTION]
    assert not long, f"{name}: {long}"
