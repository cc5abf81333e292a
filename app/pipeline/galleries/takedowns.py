"""The takedown list: people who asked not to be shown, honoured by every build, download and import.

``galleries/takedowns.json`` (beside the galleries, so it outlives every version) holds one entry a
person: the identity id and display name removed, the gallery it was removed from, the reason and
the date. A person is matched by identity id or by display name, case- and space-insensitively, so a
rebuild from another source (an IMDb id, a Wikipedia name) still leaves them out. Operators may keep
lists of their own in the same format (``--exclude FILE``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

TAKEDOWNS_FILE = "takedowns.json"


def normalized(text: str) -> str:
    """'Ben_Affleck' and ' ben affleck ' compare equal."""
    return " ".join(str(text).replace("_", " ").lower().split())


@dataclass
class Takedowns:
    """The entries of one or more takedown lists, and a quick test of whether a person is on them."""

    entries: list[dict] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.keys = {normalized(value) for entry in self.entries for value in (entry.get("id"), entry.get("name"))
                     if value}

    def __len__(self) -> int:
        return len(self.entries)

    def covers(self, identity: str, name: str | None = None) -> bool:
        """True when this identity id or display name was taken down."""
        return normalized(identity) in self.keys or (name is not None and normalized(name) in self.keys)

    def merged(self, other: Takedowns) -> Takedowns:
        """Both lists as one."""
        return Takedowns(self.entries + other.entries)


def read_list(path: str) -> Takedowns:
    """A takedown list file (a JSON list of entries, or a text file of one id or name a line)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError:
        data = [{"id": line.strip()} for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not isinstance(data, list) or not all(isinstance(e, dict) and (e.get("id") or e.get("name")) for e in data):
        raise ValueError(f"{path} is not a takedown list: expected a JSON list of {{\"id\": ..., \"name\": ...}} "
                         "entries, or one identity id or name a line")
    return Takedowns(data)


def load_takedowns(galleries: str, extra: Iterable[str] = ()) -> Takedowns:
    """The galleries' own takedown list (empty when none) plus the operator's `--exclude` files."""
    own = os.path.join(galleries, TAKEDOWNS_FILE)
    found = read_list(own) if os.path.isfile(own) else Takedowns()
    for path in extra:
        found = found.merged(read_list(path))
    return found


def _write_list(galleries: str, entries: list[dict]) -> Takedowns:
    """Write the galleries' takedown list atomically."""
    path = os.path.join(galleries, TAKEDOWNS_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    os.replace(tmp, path)
    return Takedowns(entries)


def record_takedowns(galleries: str, gallery: str, removed: list[dict], reason: str) -> Takedowns:
    """Add the removed identities ({"id", "name"}) to the galleries' list, written atomically."""
    current = load_takedowns(galleries)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    new = [{"id": e["id"], "name": e.get("name", ""), "gallery": gallery, "reason": reason, "date": date}
           for e in removed if not current.covers(e["id"], e.get("name"))]
    return _write_list(galleries, current.entries + new)


def merge_takedowns(galleries: str, other: Takedowns) -> Takedowns:
    """Add the entries of another list (an imported artifact's) that the galleries' list does not cover yet."""
    current = load_takedowns(galleries)
    new = [e for e in other.entries if not current.covers(e.get("id") or e.get("name"), e.get("name"))]
    return _write_list(galleries, current.entries + new) if new else current
