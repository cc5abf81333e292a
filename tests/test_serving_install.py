"""A serving install (requirements/serving.txt, the slim Docker image: no TensorFlow) serves, and runs the
operator commands a server needs; the commands that need TensorFlow say what to install.

The build-only modules are made unimportable in a subprocess (None in sys.modules: importing one raises
ModuleNotFoundError, as where it is not installed); `make docker-check` checks the real slim image.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from app.cli.common import BUILD_ONLY_MODULES
from app.pipeline.networks.runtime import NETWORK_NAMES
from conftest import ROOT, require_setup, val_photos

WEIGHTS = os.path.join(ROOT, "instance", "weights")
REQUIREMENTS = os.path.join(ROOT, "requirements")
WITHOUT_BUILD_PACKAGES = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
"""
CLI = WITHOUT_BUILD_PACKAGES + """
from flask.cli import main
sys.argv = ["flask", "--app", "app", *sys.argv[2:]]
main()
"""
SERVER = WITHOUT_BUILD_PACKAGES + """
import json
import wsgi
client = wsgi.app.test_client()
statuses = [client.post("/api/v1/match", data={"photo": (open(p, "rb"), "p.jpg")}).status_code for p in sys.argv[2:]]
statuses += [client.get(path).status_code for path in ("/", "/readyz", "/metrics", "/api/v1/openapi.json")]
files = {name: getattr(module, "__file__", None) or "" for name, module in list(sys.modules.items()) if module}
print(json.dumps({"statuses": statuses, "site": sorted({name.split(".")[0] for name, path in files.items()
                                                        if "site-packages" in path})}))
"""


def run(probe: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The probe in a fresh interpreter at the repository root, the build-only modules unimportable."""
    return subprocess.run([sys.executable, "-c", probe, ",".join(sorted(BUILD_ONLY_MODULES)), *args], cwd=ROOT,
                          env={**os.environ, "LOOKSLIKE_RUNTIME": "onnx", **(env or {})}, capture_output=True,
                          text=True, timeout=300)


def flask(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`flask --app app ARGS` without the build-only modules."""
    return run(CLI, *args, env=env)


def pinned(name: str) -> list[str]:
    """The requirement lines of requirements/NAME (not comments, not -r includes)."""
    with open(os.path.join(REQUIREMENTS, name), encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if line and not line.startswith(("#", "-r "))]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements install, with their dependencies (from installed metadata)."""
    todo, seen = [Requirement(line).name for line in requirements], set()
    while todo:
        name = normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


@pytest.fixture()
def weights_copy(tmp_path):
    """The installed ONNX networks and their SHA256SUMS, copied into a tmp weights folder."""
    require_setup()
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in [f"{n}.onnx" for n in NETWORK_NAMES] + ["SHA256SUMS"]:
        shutil.copyfile(os.path.join(WEIGHTS, name), folder / name)
    return folder


def test_every_requirement_is_pinned_once():
    files = ("serving.txt", "build.txt", "dev.txt")
    lines = [line for name in files for line in pinned(name)]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.]*", line) for line in lines), lines
    names = [normalized(line.split("==")[0]) for line in lines]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as f:
        assert "-r requirements/dev.txt" in f.read().splitlines()


def test_serving_requirements_cover_what_a_serving_process_imports():
    require_setup()
    photos = [path for _, path in val_photos()[::8]]
    out = run(SERVER, *photos)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200] * (len(photos) + 4)
    installed = closure(pinned("serving.txt"))
    owners = metadata.packages_distributions()
    # _distutils_hack: setuptools' start-up hook in every venv, not an import of the app
    imported = {normalized(dist) for module in report["site"] if module != "_distutils_hack"
                for dist in owners.get(module, [module])}
    assert imported <= installed, f"imported when serving but not in requirements/serving.txt: {imported - installed}"
    assert not imported & {normalized(line.split("==")[0]) for line in pinned("build.txt")}


def test_help_lists_every_command_without_build_packages():
    out = flask("--help")
    assert out.returncode == 0, out.stderr[-3000:]
    commands = set(re.findall(r"^  ([a-z-]+) ", out.stdout, re.M))
    assert {"weights", "keys", "gallery", "match", "train", "evaluate", "evaluate-pairs"} <= commands


def test_training_commands_name_the_build_requirements():
    for args in (["train", "--gallery", "demo", "--epochs", "1"], ["evaluate-pairs"]):
        out = flask(*args)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
        assert f"`flask {args[0]}` needs the build requirements: pip install -r requirements/build.txt" in out.stderr


def test_keys_work_without_build_packages(tmp_path):
    env = {"LOOKSLIKE_API_KEYS_FILE": str(tmp_path / "api_keys.json")}
    created = flask("keys", "create", "partner", env=env)
    assert created.returncode == 0, created.stderr[-3000:]
    listed = flask("keys", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.startswith("partner\t"), listed.stderr[-3000:]


def test_weights_check_passes_on_intact_networks(weights_copy):
    out = flask("weights", "check", env={"LOOKSLIKE_WEIGHTS_PATH": str(weights_copy / "facenet_keras.weights.h5")})
    assert out.returncode == 0, out.stderr[-3000:]
    assert [line.split()[1] for line in out.stdout.splitlines() if line.startswith("ok ")] == [
        f"{name}.onnx" for name in NETWORK_NAMES]
    assert "4 networks of RUNTIME=onnx match" in out.stdout


def test_weights_check_names_a_corrupt_network_and_the_fix(weights_copy):
    path = weights_copy / "rnet.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    out = flask("weights", "check", env={"LOOKSLIKE_WEIGHTS_PATH": str(weights_copy / "facenet_keras.weights.h5")})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert f"{path} is corrupt" in out.stderr and "flask weights fetch --force" in out.stderr
    (weights_copy / "onet.onnx").unlink()
    out = flask("weights", "check", env={"LOOKSLIKE_WEIGHTS_PATH": str(weights_copy / "facenet_keras.weights.h5")})
    assert out.returncode == 1 and "RUNTIME=onnx but the converted networks are not in" in out.stderr


def test_weights_fetch_names_the_build_requirements(weights_copy):
    shutil.copyfile(os.path.join(WEIGHTS, "facenet_keras.weights.h5"), weights_copy / "facenet_keras.weights.h5")
    out = flask("weights", "fetch", env={"LOOKSLIKE_WEIGHTS_PATH": str(weights_copy / "facenet_keras.weights.h5")})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "`flask weights fetch` needs the build requirements: pip install -r requirements/build.txt" in out.stderr


def test_gallery_export_and_import_work_without_build_packages(tmp_path):
    """A fleet server (slim image) takes its gallery as an artifact: export and import need no TensorFlow."""
    require_setup()
    artifact = tmp_path / "demo.tar"
    exported = flask("gallery", "export", "demo", str(artifact))
    assert exported.returncode == 0 and artifact.is_file(), exported.stderr[-3000:]
    env = {"LOOKSLIKE_GALLERIES_DIR": str(tmp_path / "galleries")}
    imported = flask("gallery", "import", str(artifact), "--name", "copy", env=env)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert (tmp_path / "galleries" / "copy" / "manifest.json").is_file()
