"""The layering rules of docs/architecture.md, checked on the source's imports (ast)."""

from __future__ import annotations

import ast
import os

from conftest import ROOT

PACKAGES = ("app", "models")
MAX_LINES = 300
# Imported by every job: the error vocabulary, a request's time budget.
SHARED_PIPELINE_MODULES = ("errors.py", "deadline.py")
# Job package -> the job packages it may import (besides the shared modules): lower jobs never import higher ones.
PIPELINE_JOBS: dict[str, set[str]] = {
    "networks": set(),
    "photos": {"networks"},
    "galleries": set(),
    "scoring": {"galleries"},
    "builders": {"networks", "photos", "galleries", "scoring", "serving"},
    "serving": {"networks", "photos", "galleries", "scoring"},
}
# Installing the networks checks the converted files (and their browser copies) through the per-photo path.
JOB_EXCEPTIONS = {("app.pipeline.networks.install", "photos"), ("app.pipeline.networks.browser_copies", "photos")}


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


def pipeline_job(module: str) -> str | None:
    """The job package of a pipeline module (app.pipeline.photos.detect -> photos), else None."""
    parts = module.split(".")
    return parts[2] if len(parts) >= 3 and parts[:2] == ["app", "pipeline"] and parts[2] in PIPELINE_JOBS else None


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


def test_pages_api_and_http_reach_the_pipeline_through_the_serving_engine():
    """Pages, API and the HTTP layer use the engine, its answers and the shared modules, never a job's inner modules."""
    allowed = ("app.pipeline.serving", "app.pipeline.errors", "app.pipeline.deadline")
    offenders = {m: sorted(i for i in imported if in_layer(i, "app.pipeline") and not in_layer(i, *allowed))
                 for m, imported in graph().items() if in_layer(m, "app.web", "app.api", "app.http")}
    assert not {m: i for m, i in offenders.items() if i}


def test_the_rules_see_real_imports():
    """Guard against a vacuous pass: the graph has the arrows the architecture document draws."""
    edges = graph()
    assert "app.pipeline.serving.engine" in edges["app.api"] or "app.extensions" in edges["app.api"]
    assert "models.facenet" in edges["app.pipeline.photos.embed"]
    assert "flask" in external_imports()["app.web"]


def test_modules_stay_small():
    """No module under app/ or models/ over 300 lines: split it by job."""
    long = []
    for name, path in module_files().items():
        with open(path, encoding="utf-8") as f:
            count = len(f.read().splitlines())
        if count > MAX_LINES:
            long.append(f"{name} ({count} lines)")
    assert not long


def test_page_scripts_stay_small():
    """The same rule for the pages' scripts (static/js/): one module per job, none over 300 lines."""
    long = []
    for folder, _, files in os.walk(os.path.join(ROOT, "static", "js")):
        for name in files:
            if name.endswith(".js"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    count = len(f.read().splitlines())
                if count > MAX_LINES:
                    long.append(f"{os.path.relpath(os.path.join(folder, name), ROOT)} ({count} lines)")
    assert not long


def test_no_two_modules_share_a_file_name():
    """A name says which module it is: `errors.py` or `gallery.py` twice makes every traceback ambiguous."""
    by_name: dict[str, list[str]] = {}
    for name, path in module_files().items():
        if not path.endswith("__init__.py"):
            by_name.setdefault(os.path.basename(path), []).append(name)
    assert not {n: m for n, m in by_name.items() if len(m) > 1}


def test_the_pipeline_is_one_folder_per_job():
    """app/pipeline holds its job packages and the two shared modules, nothing else."""
    entries = {e for e in os.listdir(os.path.join(ROOT, "app", "pipeline")) if e != "__pycache__"}
    assert entries == {"__init__.py", *SHARED_PIPELINE_MODULES, *PIPELINE_JOBS}


def test_pipeline_jobs_import_only_the_jobs_below_them():
    """Each job package imports only the jobs its row allows (one-way, so no package cycles)."""
    offenders = []
    for module, imported in graph().items():
        job = pipeline_job(module)
        if job is None:
            continue
        for target in imported:
            other = pipeline_job(target)
            if other is None or other == job or other in PIPELINE_JOBS[job] or (module, other) in JOB_EXCEPTIONS:
                continue
            offenders.append(f"{module} -> {target}")
    assert not offenders
