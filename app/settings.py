"""Where each setting's value comes from: one resolver for every process that reads settings.

The Flask app (load_config), gunicorn's master (gunicorn.conf.py), its worker
(app/http/buffering.py) and access log (app/http/serving.py) and the CLI all resolve a key the
same way, later layers winning:

1. app/config.py DEFAULTS, with the serving defaults gunicorn.conf.py derives from the host
   (serve_defaults: CPU_SLOTS = the worker's share of the CPUs);
2. <instance folder>/config.py, executed as Flask's ``from_pyfile`` does (uppercase names only);
3. ``LOOKSLIKE_*`` environment variables, parsed as Flask's ``from_prefixed_env`` does (JSON where
   it parses, else the text; ``LOOKSLIKE_KEY__item`` sets one item of a dict);
4. the overrides passed to create_app (uppercase names, as Flask's ``from_mapping``).

The workers of a gallery build get the app's resolved settings from the command that starts them.
Names in 2 and 3 that are no setting are reported (report), each with the nearest real name. A
process resolves once: gunicorn's side reads `current()`, which is the configuration of the app
this process created, or (before any app, as in gunicorn's master) the layers without overrides.
Flask is imported only to list its own keys, never to create an app.
"""

from __future__ import annotations

import copy
import difflib
import errno
import json
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.config import DEFAULTS, EXTENSION_PREFIXES, NOT_SETTINGS

if TYPE_CHECKING:
    from flask import Flask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "LOOKSLIKE_"
TRUE = {"1", "true", "yes", "on"}
# Defaults that depend on the serving process, set by gunicorn.conf.py in the master before it
# forks its workers (which thus inherit them); empty in every other process.
SERVING_DEFAULTS: dict[str, Any] = {}
_CURRENT: dict[str, Any] = {}  # {"pid": the process that resolved, "config": what it resolved}


@dataclass
class Resolved:
    """A resolution: the settings, the instance folder they were read from, and the names to report."""

    values: dict[str, Any]
    instance_path: str
    report: list[str] = field(default_factory=list)


def parse_env_value(text: str) -> Any:
    """A LOOKSLIKE_* value as Flask's from_prefixed_env reads it: JSON where it parses, else the text."""
    try:
        return json.loads(text)
    except Exception:
        return text


def instance_folder(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The instance folder: INSTANCE_PATH from the overrides, else LOOKSLIKE_INSTANCE_PATH, else
    <repository>/instance (where Flask puts it for this uncompiled package)."""
    environ = os.environ if environ is None else environ
    chosen = (overrides or {}).get("INSTANCE_PATH")
    if not chosen and environ.get(f"{PREFIX}INSTANCE_PATH"):
        chosen = str(parse_env_value(environ[f"{PREFIX}INSTANCE_PATH"]))
    return os.path.abspath(chosen or os.path.join(ROOT, "instance"))


def read_instance_file(folder: str) -> tuple[str, dict[str, Any]]:
    """<folder>/config.py's uppercase names, executed as Flask's from_pyfile does; none when it is absent."""
    path = os.path.join(folder, "config.py")
    module = types.ModuleType("config")
    module.__file__ = path
    try:
        with open(path, "rb") as f:
            exec(compile(f.read(), path, "exec"), module.__dict__)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR):
            return path, {}
        exc.strerror = f"Unable to load configuration file ({exc.strerror})"
        raise
    return path, {key: getattr(module, key) for key in dir(module) if key.isupper()}


def apply_environment(values: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Set the LOOKSLIKE_* variables into `values` exactly as Flask's from_prefixed_env does."""
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in NOT_SETTINGS:
            continue
        key, value = name.removeprefix(PREFIX), parse_env_value(environ[name])
        if "__" not in key:
            values[key] = value
            continue
        current = values
        *parts, tail = key.split("__")
        for part in parts:
            if part not in current:
                current[part] = {}
            current = current[part]
        current[tail] = value


def known_keys() -> set[str]:
    """Every declared setting and Flask's own configuration keys."""
    from flask import Flask

    return set(DEFAULTS) | set(Flask.default_config)


def unknown(key: str, known: set[str]) -> bool:
    """True when nothing reads the key: not declared, not Flask's, not an extension's."""
    return key not in known and not key.startswith(EXTENSION_PREFIXES)


def suggestion(key: str, known: set[str], prefix: str = "") -> str:
    """ ": did you mean X?" with the nearest real name, or nothing when none is near."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f": did you mean {prefix}{close[0]}?" if close else ""


def report(file_path: str, file_values: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """One line per name in instance/config.py or the LOOKSLIKE_* environment that is no setting."""
    known, lines = known_keys(), []
    tail = " (nothing reads it; every setting is declared in app/config.py)"
    for key in sorted(file_values):
        if key == "INSTANCE_PATH":
            lines.append(f"INSTANCE_PATH in {file_path} has no effect: the instance folder is chosen before "
                         "that file is read. Set LOOKSLIKE_INSTANCE_PATH instead.")
        elif unknown(key, known):
            lines.append(f"unknown setting {key} in {file_path}{suggestion(key, known)}{tail}")
    for name in sorted(environ):
        key = name.removeprefix(PREFIX).split("__")[0]
        if name.startswith(PREFIX) and name not in NOT_SETTINGS and unknown(key, known):
            lines.append(f"unknown setting {name} in the environment{suggestion(key, known, PREFIX)}{tail}")
    return lines


def resolve(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
            instance_path: str | None = None) -> Resolved:
    """Every setting through the four layers (the module docstring), and what to report about them."""
    environ = os.environ if environ is None else environ
    folder = instance_path or instance_folder(overrides, environ)
    values = copy.deepcopy(DEFAULTS)  # environment items of a dict (KEY__item) must not change DEFAULTS
    values.update(copy.deepcopy(SERVING_DEFAULTS))
    file_path, file_values = read_instance_file(folder)
    values.update(file_values)
    apply_environment(values, environ)
    values.update({key: value for key, value in (overrides or {}).items() if key.isupper()})
    values["INSTANCE_PATH"] = folder
    return Resolved(values, folder, report(file_path, file_values, environ))


def serve_defaults(**values: Any) -> None:
    """Defaults for this serving process and the workers it forks (gunicorn.conf.py), below every layer."""
    SERVING_DEFAULTS.clear()
    SERVING_DEFAULTS.update(values)
    _CURRENT.clear()


def load_config(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill app.config through the resolver; report unknown names on the app's logger."""
    resolved = resolve(overrides, instance_path=app.instance_path)
    app.config.update(resolved.values)
    for line in resolved.report:
        app.logger.warning(line)
    _CURRENT.update(pid=os.getpid(), config=app.config)


def current() -> Mapping[str, Any]:
    """This process's settings: its app's configuration, else resolved once without overrides."""
    if _CURRENT.get("pid") != os.getpid():
        _CURRENT.update(pid=os.getpid(), config=resolve().values)
    return _CURRENT["config"]


def flag(value: Any) -> bool:
    """A setting read as a switch: text is true only as 1, true, yes or on."""
    return value.strip().lower() in TRUE if isinstance(value, str) else bool(value)


def number(value: Any) -> float:
    """A setting read as a number; None or empty (no limit, as Flask reads MAX_CONTENT_LENGTH) is infinite."""
    return float("inf") if value in (None, "") else float(value)


def thread_count(value: Any, name: str) -> int | str:
    """A setting read as a number of threads: "auto", or a whole number (0 and 1 both mean one thread)."""
    text = str(value).strip().lower() if not isinstance(value, bool) else ""
    if text == "auto":
        return "auto"
    if text.isdigit():
        return max(int(text), 1)
    raise ValueError(f'{name} must be a whole number or "auto", not {value!r}')
