"""Cleaning wrong labels: per identity, keep the photos that agree with each other, drop the others.

A scraped photo filed under a name often shows someone else (a co-star, a namesake). Within one
identity the true person's photos agree with each other (FaceNet distance under the verification
threshold) while wrong photos come from many different people and agree with nobody. So each
identity's consensus is its largest group of photos that agree:

1. seed: the photo that agrees with the most others (ties: the smallest median distance), and the
   photos that agree with it (pair distance < pair_threshold);
2. core: repeatedly, every photo of the identity whose median distance to the core's other photos
   is under core_threshold, until the core stops changing. The median makes one look-alike
   intruder in the seed's neighbourhood harmless, and brings back a true photo that missed the
   seed but agrees with the core as a whole;
3. the rest of the identity is searched for a rival group the same way: when the rival is as large
   as the core (two people of two photos each under one name), nobody can tell which one the name
   belongs to and the whole identity is dropped, as is one whose photos agree with nobody.

Identities with fewer than min_photos photos are kept as they are (nothing to compare) and counted.
Distances are Euclidean between unit embeddings, the measure of the verification calibration.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

FAR = "far_from_identity"  # the identity has a consistent core and this photo is not part of it
NO_CORE = "no_consistent_core"  # the identity was dropped: its photos agree on no one person
REASONS = (FAR, NO_CORE)
CHECKED, TOO_FEW, DROPPED = "checked", "too_few_to_check", "dropped"
MAX_ROUNDS = 20


@dataclass(frozen=True)
class CleaningSettings:
    """Thresholds of a cleaning (distances between unit embeddings)."""

    pair_threshold: float  # two photos agree below this: the verification calibration's threshold
    core_threshold: float  # a photo joins the core when its median distance to the core is below this
    min_photos: int = 3  # identities with fewer photos are kept unchecked

    @classmethod
    def from_config(cls, config) -> CleaningSettings:
        """Thresholds of the app's calibrations: pairs (VERIFY_CALIBRATION) and medians to several
        photos of one person (CHECK_CALIBRATION)."""
        return cls(pair_threshold=float(config["VERIFY_CALIBRATION"]["threshold"]),
                   core_threshold=float(config["CHECK_CALIBRATION"]["threshold"]))

    def as_dict(self) -> dict:
        """The settings as recorded in a gallery manifest."""
        return {"method": "largest agreeing group (seed + median distance to the core)",
                "pair_threshold": self.pair_threshold, "core_threshold": self.core_threshold,
                "min_photos": self.min_photos}


def pair_distances(embeddings: np.ndarray) -> np.ndarray:
    """Euclidean distances between every two rows, after scaling each row to unit length."""
    e = np.asarray(embeddings, np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.sqrt(np.maximum(2.0 - 2.0 * (e @ e.T), 0.0))


def median_to(distances: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Per row, the median distance to the members other than itself (inf when there are none)."""
    cols = np.flatnonzero(members)
    sub = distances[:, cols].copy()
    sub[cols, np.arange(len(cols))] = np.nan  # a member does not vote for itself
    counts = np.sum(~np.isnan(sub), axis=1)
    out = np.full(len(distances), np.inf)
    some = counts > 0
    if some.any():
        out[some] = np.nanmedian(sub[some], axis=1)
    return out


def agreeing_group(distances: np.ndarray, settings: CleaningSettings) -> np.ndarray:
    """Mask of the largest group of rows that agree with each other (empty when no two rows agree)."""
    n = len(distances)
    agree = distances < settings.pair_threshold
    np.fill_diagonal(agree, False)
    degree = agree.sum(axis=1)
    if n < 2 or degree.max() == 0:
        return np.zeros(n, bool)
    median_all = median_to(distances, np.ones(n, bool))
    seed = int(np.lexsort((median_all, -degree))[0])
    core = agree[seed].copy()
    core[seed] = True
    seen = []
    for _ in range(MAX_ROUNDS):
        seen.append(core)
        nxt = median_to(distances, core) < settings.core_threshold
        if nxt.sum() < 2:
            return np.zeros(n, bool)
        if any(np.array_equal(nxt, old) for old in seen):  # settled (or cycling: keep the latest)
            return nxt
        core = nxt
    return core


def clean_identity(distances: np.ndarray, settings: CleaningSettings) -> tuple[np.ndarray, str]:
    """(kept rows mask, status) of one identity with at least min_photos photos."""
    core = agreeing_group(distances, settings)
    rest = np.flatnonzero(~core)
    if core.sum() >= 2 and len(rest) >= 2:
        rival = agreeing_group(distances[np.ix_(rest, rest)], settings)
        if rival.sum() >= core.sum():
            return np.zeros(len(distances), bool), DROPPED
    if core.sum() < 2:
        return np.zeros(len(distances), bool), DROPPED
    return core, CHECKED


def clean_identities(embeddings: np.ndarray, labels: np.ndarray, settings: CleaningSettings
                     ) -> tuple[np.ndarray, np.ndarray, dict[int, dict]]:
    """(keep mask, reason per row: "" when kept, per label: photos, kept and status) of every identity."""
    labels = np.asarray(labels)
    keep = np.ones(len(labels), bool)
    reasons = np.full(len(labels), "", dtype="U32")
    report: dict[int, dict] = {}
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if len(rows) < settings.min_photos:
            report[int(label)] = {"photos": len(rows), "kept": len(rows), "status": TOO_FEW}
            continue
        kept, status = clean_identity(pair_distances(embeddings[rows]), settings)
        keep[rows] = kept
        reasons[rows[~kept]] = NO_CORE if status == DROPPED else FAR
        report[int(label)] = {"photos": len(rows), "kept": int(kept.sum()), "status": status}
    return keep, reasons, report


@dataclass
class CleaningOutcome:
    """What cleaning did to a build: the rows kept and everything a report or manifest names."""

    settings: CleaningSettings
    rows: np.ndarray  # indices of the kept rows
    dropped_files: list[tuple[str, str]]  # (photo, reason) of every dropped row
    identities: dict[str, dict]  # per identity id: photos, kept, status

    def counts(self) -> dict:
        """Photos dropped per reason, identities dropped and identities left unchecked."""
        status = Counter(entry["status"] for entry in self.identities.values())
        return {"photos_dropped": dict(Counter(reason for _, reason in self.dropped_files)),
                "identities_checked": status[CHECKED], "identities_dropped": status[DROPPED],
                "identities_too_few_to_check": status[TOO_FEW]}

    def summary(self) -> str:
        """A clause of the build's summary line."""
        c = self.counts()
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(c["photos_dropped"].items())) or "none"
        return (f"cleaning dropped {len(self.dropped_files)} photos ({why}) and {c['identities_dropped']} "
                f"identities; {c['identities_too_few_to_check']} identities with 1-{self.settings.min_photos - 1} "
                f"photos kept unchecked")

    def manifest(self, listed: int) -> dict:
        """The manifest's section: settings, counts, the first `listed` dropped photos, dropped identities."""
        return {**self.settings.as_dict(), **self.counts(),
                "dropped_identities": sorted(k for k, v in self.identities.items() if v["status"] == DROPPED),
                "dropped_files": [{"file": p, "reason": r} for p, r in self.dropped_files[:listed]]}


def clean_build(embeddings: np.ndarray, labels: np.ndarray, sources: np.ndarray, table: list[dict],
                settings: CleaningSettings) -> CleaningOutcome:
    """Clean the gathered rows of a build (labels index into the identity table)."""
    keep, reasons, report = clean_identities(embeddings, labels, settings)
    dropped = [(str(sources[i]), str(reasons[i])) for i in np.flatnonzero(~keep)]
    return CleaningOutcome(settings, np.flatnonzero(keep), dropped,
                           {table[k]["id"]: v for k, v in report.items()})

