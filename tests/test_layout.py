"""The shape of the library: one package per layer, imports go one way, modules and
functions stay small, and only the edges resolve a reference string.

Read from the source (no imports executed): every ``import`` of a dmdviz module, at module
level or inside a function, is an edge. Each layer's rule is written in its ``__init__``
docstring; this file enforces it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dmdviz"
MAX_LINES, MAX_FUNCTION = 400, 60
BASE = {"errors", "limits", "config", "settings", "files"}  # top-level modules under every layer
# layer -> the layers it may import (besides itself and the base modules)
ALLOWED = {
    "base": set(),
    "core": set(),
    "data": {"core"},
    "checkpoint": {"core"},
    "models": {"core", "checkpoint"},
    "analysis": {"core", "data", "checkpoint", "models"},
    "training": {"core", "data", "checkpoint"},
    "plots": set(),
    "experiments": {"core", "data", "checkpoint", "models", "analysis", "training", "plots"},
    "cli": {"core", "data", "checkpoint", "models", "analysis", "training", "plots", "experiments"},
    "web": {"core", "data", "checkpoint", "models", "analysis", "training", "plots", "experiments"},
    "main": {"cli"},
}
# third-party packages a layer must not import
FORBIDDEN = {
    "base": {"torch", "gradio", "plotly", "diffusers", "huggingface_hub", "numpy"},
    "core": {"gradio", "plotly", "diffusers", "huggingface_hub", "safetensors"},
    "plots": {"torch", "gradio", "diffusers", "huggingface_hub", "safetensors"},
    "analysis": {"gradio", "plotly", "diffusers"},
    "training": {"gradio", "plotly", "diffusers"},
    "checkpoint": {"gradio", "plotly", "diffusers"},
    "data": {"gradio", "plotly", "diffusers"},
    "experiments": {"gradio", "diffusers"},
    "cli": {"gradio", "diffusers"},
    "models": {"gradio", "plotly"},
}
# calls that turn a reference string into a folder or a model: the edges' business alone
RESOLVERS = {"resolve", "load_checkpoint", "download", "fetch", "is_shipped", "locate", "snapshot_download",
             "hf_hub_download"}
OWNERS = {"checkpoint", "refs", "hub", "pairfile", "huggingface_hub", "registry"}  # modules that hold resolvers


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def layer(name: str) -> str:
    """The layer of a dotted module name: its package under dmdviz, or base / main."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in BASE:
        return "base"
    if parts[1] == "__main__":
        return "main"
    return parts[1]


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


def _third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    return names | {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}


def test_every_module_belongs_to_a_known_layer_and_each_layer_states_its_rule():
    assert {layer(name) for name in MODULES} <= set(ALLOWED)
    for package in set(ALLOWED) - {"base", "main"}:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""
        assert "Rule:" in doc, f"dmdviz/{package}/__init__.py states no rule"


def test_no_import_cycle():
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


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_the_layers_below_it(name):
    mine = layer(name)
    wrong = {m for m in _imports(MODULES[name]) if layer(m) not in ALLOWED[mine] | {mine, "base"}}
    assert not wrong, f"{name} ({mine}) imports {sorted(wrong)}"
    banned = _third_party(MODULES[name]) & FORBIDDEN.get(mine, set())
    assert not banned, f"{name} ({mine}) imports {sorted(banned)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_the_web_imports_gradio_and_only_models_diffusers(name):
    third = _third_party(MODULES[name])
    assert "gradio" not in third or layer(name) == "web", name
    assert "diffusers" not in third or layer(name) == "models", name


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) in ("analysis", "experiments", "training",
                                                                          "plots", "core")))
def test_no_analysis_or_experiment_module_resolves_a_reference(name):
    """References are resolved at the edges (cli/, web/) by their policies; below, models come loaded."""
    calls = {node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
             for node in ast.walk(ast.parse(MODULES[name].read_text())) if isinstance(node, ast.Call)
             and (isinstance(node.func, ast.Name) or isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in OWNERS)}
    assert not calls & RESOLVERS, f"{name} calls {sorted(calls & RESOLVERS)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_stay_small(name):
    text = MODULES[name].read_text()
    assert text.count("\n") <= MAX_LINES, f"{name}: {text.count(chr(10))} lines"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= MAX_FUNCTION]
    assert not long, f"{name}: {long}"


def test_no_setting_is_read_at_import():
    """``os.environ`` is read inside functions only, so a changed setting reaches every reader."""
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            text = ast.unparse(node)
            assert "os.environ" not in text and "getenv" not in text, f"{name}: {text[:80]}"
