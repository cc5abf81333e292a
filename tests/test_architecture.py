"""The layering rules of docs/architecture.md, checked on the source's imports (ast)."""

from __future__ import annotations

import ast
import os

from conftest import ROOT

PACKAGES = ("app", "models")


def module_files() -> dict[str, str]:
    """Dotted module name -> file path, for every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
                    found[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = os.path.join(folder, name)
    return found


def imports_of(path: str, modules: dict[str, str]) -> set[str]:
    """Every module a file imports, anywhere in it (module level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from app import api` imports the module app.api
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
    return out


def graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    modules = module_files()
    return {name: {m for m in imports_of(path, modules) if m in modules and m != name}
            for name, path in modules.items()}


def external_imports() -> dict[str, set[str]]:
    """Project module -> top-level names of the outside packages it imports."""
    modules = module_files()
    return {name: {m.split(".")[0] for m in imports_of(path, modules) if m.split(".")[0] not in PACKAGES}
            for name, path in modules.items()}


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def in_layer(module: str, *layers: str) -> bool:
    """True when module is one of the layers or inside one."""
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


def test_pipeline_evaluation_and_models_know_no_web_framework():
    offenders = {m: sorted(ext & {"flask", "click", "werkzeug"}) for m, ext in external_imports().items()
                 if in_layer(m, "app.pipeline", "app.evaluation", "app.datasets", "models")}
    assert not {m: e for m, e in offenders.items() if e}


def test_pages_api_and_cli_never_reach_the_networks_directly():
    offenders = {m: sorted(i for i in imported if in_layer(i, "models")) for m, imported in graph().items()
                 if in_layer(m, "app.web", "app.api", "app.cli", "app.http")}
    assert not {m: i for m, i in offenders.items() if i}


def test_the_rules_see_real_imports():
    """Guard against a vacuous pass: the graph has the arrows the architecture document draws."""
    edges = graph()
    assert "app.pipeline.engine" in edges["app.api"] or "app.extensions" in edges["app.api"]
    assert "models.facenet" in edges["app.pipeline.embed"]
    assert "flask" in external_imports()["app.web"]


def test_modules_stay_small():
    """No module under app/ over about 250 lines unless its docstring says why."""
    long = []
    for name, path in module_files().items():
        lines = open(path, encoding="utf-8").read().splitlines()
        if name.startswith("app") and len(lines) > 260 and "longer than" not in "\n".join(lines[:12]):
            long.append(f"{name} ({len(lines)} lines)")
    assert not long
