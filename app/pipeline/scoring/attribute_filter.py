"""Restricting a search to celebrities by gender and birth year, saying who was left out for lack of data.

A celebrity whose gallery entry does not record the attribute a filter asks about cannot be said to
pass it, so they are left out, and counted: an answer says how many were left out that way, never
silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.pipeline.errors import BadRequest, NoCelebrityPasses
from app.pipeline.galleries.reader import Gallery

GENDERS = ("female", "male")
CACHED = 256  # filter combinations remembered per process (a visitor's choices repeat; a table scan does not)
_ALLOWED: dict[tuple, tuple[np.ndarray, int]] = {}
YEARS = (1800, 2100)  # accepted birth years: anything else is a typo


@dataclass(frozen=True)
class AttributeFilter:
    """gender ("female"/"male"), born_after and born_before (years, exclusive); None: no restriction."""

    gender: str | None = None
    born_after: int | None = None
    born_before: int | None = None

    def __post_init__(self) -> None:
        if self.gender is not None and self.gender not in GENDERS:
            raise BadRequest(f'"gender" must be one of {", ".join(GENDERS)}; got "{self.gender}".', field="gender")
        for name in ("born_after", "born_before"):
            year = getattr(self, name)
            if year is not None and not YEARS[0] <= year <= YEARS[1]:
                raise BadRequest(f'"{name}" must be a year between {YEARS[0]} and {YEARS[1]}; got {year}.',
                                 field=name)
        if self.born_after is not None and self.born_before is not None and self.born_after + 1 >= self.born_before:
            raise BadRequest(f'No year is after {self.born_after} and before {self.born_before}.', field="born_before")

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.gender, self.born_after, self.born_before))

    def allowed(self, table: list[dict]) -> tuple[np.ndarray, int]:
        """(bool per identity: passes, identities left out because the attribute asked about is unknown)."""
        gender = np.array([entry.get("gender") for entry in table], dtype=object)
        year = np.array([entry.get("birth_year") or 0 for entry in table], dtype=np.int64)
        ok = np.ones(len(table), bool)
        unknown = np.zeros(len(table), bool)
        if self.gender is not None:
            unknown |= np.array([g not in GENDERS for g in gender], bool)
            ok &= gender == self.gender
        if self.born_after is not None or self.born_before is not None:
            unknown |= year == 0
            ok &= (year > (self.born_after or 0)) & (year < (self.born_before or YEARS[1] + 1)) & (year > 0)
        return ok, int(unknown.sum())

    def to_dict(self) -> dict:
        """The filters in force, as the answer echoes them."""
        return {k: v for k, v in (("gender", self.gender), ("born_after", self.born_after),
                                  ("born_before", self.born_before)) if v is not None}


def allowed_identities(version: str, table: list[dict], filters: AttributeFilter) -> tuple[np.ndarray, int]:
    """filters.allowed(table), remembered per gallery version (versions never change once written)."""
    key = (version, filters)
    found = _ALLOWED.get(key)
    if found is None:
        if len(_ALLOWED) >= CACHED:
            _ALLOWED.clear()
        found = _ALLOWED[key] = filters.allowed(table)
    return found


def allowed_in(gallery: Gallery, filters: AttributeFilter) -> tuple[np.ndarray | None, dict]:
    """(bool per identity of the gallery, or None: no filter; what the answer says of the filters)."""
    if not filters:
        return None, {}
    allowed, unknown = allowed_identities(gallery.path, gallery.identity_table, filters)
    if not allowed.any():
        raise NoCelebrityPasses(f"No celebrity of gallery '{gallery.name}' passes these filters ({unknown} have "
                                "no recorded value for them); widen the search.")
    return allowed, {**filters.to_dict(), "celebrities": int(allowed.sum()), "left_out_unknown": unknown}
