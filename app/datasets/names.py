"""Display names and attributes (gender, birth year) of gallery folders, from a names CSV or the folder name."""

from __future__ import annotations

import csv
import io
import os

DEMO_NAMES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_names.csv")

_GENDERS = {"m": "male", "male": "male", "man": "male",
            "f": "female", "female": "female", "woman": "female"}


def display_name(folder: str) -> str:
    """Human name of a folder: 'Aaron_Guiel' -> 'Aaron Guiel', 'ben_afflek' -> 'Ben Afflek'."""
    words = folder.replace("_", " ").split()
    return " ".join(w if any(c.isupper() for c in w) else w.capitalize() for w in words)


def _gender(value: str) -> str:
    """'m'/'male'/... -> 'male', 'f'/'female'/... -> 'female', anything else lowercased."""
    value = value.strip().lower()
    return _GENDERS.get(value, value)


def _read_text(path: str) -> str:
    """The file's text: UTF-8 (with or without BOM), else Latin-1."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _columns(first: list[str]) -> tuple[list[str], bool]:
    """Column keys, and whether the first row is a header (else: folder, name, gender)."""
    keys = [c.strip().lower() for c in first]
    if "name" in keys[1:]:
        return keys, True
    return ["folder", "name", "gender"], False


def _entry(keys: list[str], row: list[str]) -> dict:
    """One row as {'name': ..., 'gender': ..., 'birth_year': int, other columns...}, empty cells left out."""
    entry: dict = {}
    for key, value in zip(keys[1:], row[1:]):
        value = value.strip()
        if key == "sex":
            key = "gender"
        if not value or not key:
            continue
        if key == "name":
            value = " ".join(value.replace("_", " ").split())
        elif key == "gender":
            value = _gender(value)
        elif key == "birth_year":
            if not value.isdigit():
                raise ValueError(f"birth_year {value!r} is not a year")
            value = int(value)
        entry[key] = value
    if "name" not in entry:
        entry["name"] = display_name(row[0].strip())
    return entry


def read_names(path: str) -> dict[str, dict[str, str]]:
    """{folder: {"name", "gender"?, ...}} from identity_meta.csv or folder,name[,gender]."""
    reader = csv.reader(io.StringIO(_read_text(path)), skipinitialspace=True)
    rows = [(reader.line_num, r) for r in reader
            if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        return {}
    keys, header = _columns(rows[0][1])
    names: dict[str, dict[str, str]] = {}
    for line, row in rows[1:] if header else rows:
        folder = row[0].strip()
        if len(row) < 2 or not folder:
            raise ValueError(f"{path}: line {line} needs a folder and a name: {row!r}")
        if folder in names:
            raise ValueError(f"{path}: line {line} lists folder {folder!r} a second time")
        try:
            names[folder] = _entry(keys, row)
        except ValueError as exc:
            raise ValueError(f"{path}: line {line}: {exc}") from exc
    return names


def name_of(names: dict[str, dict[str, str]], folder: str) -> str:
    """The CSV's name for a folder, else its display_name."""
    return names.get(folder, {}).get("name") or display_name(folder)
