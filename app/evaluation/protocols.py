"""The three offline protocols as seeded splits of one gallery: what is trained, searched and probed.

- closed (the seed's own setting): identities with >= min_photos photos; a share of each one's
  photos are probes, the rest stay in the gallery with every other identity; the networks learn
  from the gallery rows (so they know the probed people from other photos).
- lookalike: visitors (identities with 2+ photos, at most max_photos each) leave the gallery; their
  photos are probes, scored by stability (app/evaluation/stability.py).
- open: today's held-out identities (app/evaluation/identification.py), probes searched against
  every other gallery photo; the networks never see the held-out people.

Each split also carries validation material carved out of its training rows (never probes): a
monitor gallery and monitor probes scored like the protocol, for early stopping on the metric
that matters, and validation identities for the training's loss and pair threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.evaluation.identification import _probes, _splits
from models.train_config import TrainConfig, split_identities

PROTOCOLS = ("closed", "lookalike", "open")
MIN_PHOTOS = 5  # closed: identities with at least this many photos are probed
PROBE_FRACTION = 0.3  # closed: share of an identity's photos that are probes (the seed: 4 of 14)
VISITORS = 330  # lookalike: visitors taken out of the gallery
MAX_VISITOR_PHOTOS = 10  # lookalike: photos per visitor at most
MAX_OPEN_PROBES = 10  # open: probes per held-out identity at most
TEST_FRACTION = 0.2  # open: identities held out


@dataclass
class Split:
    """Rows of one protocol: fit (train + validation identities), gallery, probes, monitor material."""

    protocol: str
    kind: str  # "identify" (top-1/top-5) or "stability" (agreement between a visitor's photos)
    fit_rows: np.ndarray  # rows the training sees: learned from, or validation identities
    val_identities: np.ndarray  # identities of fit_rows never learned from (validation loss, threshold)
    gallery_rows: np.ndarray
    probe_rows: np.ndarray
    monitor_gallery: np.ndarray
    monitor_probes: np.ndarray
    exclude_self: bool = False  # probes are gallery rows, hidden from themselves (open)

    def describe(self, names: np.ndarray) -> dict:
        """Counts for the report."""
        return {"protocol": self.protocol, "gallery_rows": int(len(self.gallery_rows)),
                "gallery_identities": int(len(np.unique(names[self.gallery_rows]))),
                "probes": int(len(self.probe_rows)), "probe_identities": int(len(np.unique(names[self.probe_rows]))),
                "fit_rows": int(len(self.fit_rows)), "validation_identities": int(len(self.val_identities)),
                "monitor_probes": int(len(self.monitor_probes))}


def _by_identity(names: np.ndarray, rng: np.random.Generator) -> dict:
    """Rows of each identity, shuffled (seeded)."""
    ids, inv = np.unique(names, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(inv))[:-1])
    return {ids[k]: rng.permutation(g) for k, g in enumerate(groups)}


def _rows_of(names: np.ndarray, identities) -> np.ndarray:
    """Rows whose identity is in identities."""
    return np.flatnonzero(np.isin(names, np.asarray(list(identities))))


def _val_identities(names: np.ndarray, rows: np.ndarray, seed: int, keep=()) -> np.ndarray:
    """Seeded validation identities among rows' identities, never those in keep."""
    candidates = rows[~np.isin(names[rows], np.asarray(list(keep)))]
    _, val = split_identities(names[candidates], TrainConfig().val_fraction, seed)
    return val


def closed_split(names: np.ndarray, seed: int, min_photos: int = MIN_PHOTOS,
                 probe_fraction: float = PROBE_FRACTION) -> Split:
    """Seeded per-identity photo split of identities with >= min_photos photos; the rest is gallery."""
    groups = _by_identity(names, np.random.default_rng(seed))
    probed = {k: g for k, g in groups.items() if len(g) >= min_photos}
    probes = np.concatenate([g[:max(1, int(round(len(g) * probe_fraction)))] for g in probed.values()])
    gallery = np.setdiff1d(np.arange(len(names)), probes)
    # monitor: one more photo of each probed identity, against the gallery without it
    monitor = np.array([g[n] for g in probed.values()
                        if len(g) - (n := max(1, int(round(len(g) * probe_fraction)))) >= 3], dtype=np.int64)
    fit = np.setdiff1d(gallery, monitor)
    val_ids = _val_identities(names, fit, seed, keep=probed)
    return Split("closed", "identify", fit, val_ids, gallery, np.sort(probes),
                 np.setdiff1d(gallery, monitor), np.sort(monitor))


def _visitors(groups: dict, rng: np.random.Generator, count: int, max_photos: int,
              exclude=()) -> tuple[list, np.ndarray]:
    """(visitor identities, their photo rows, at most max_photos each) among identities with 2+ photos."""
    excluded = set(exclude)
    multi = sorted(k for k, g in groups.items() if len(g) >= 2 and k not in excluded)
    count = min(count, max(2, len(multi) // 3))  # a small gallery keeps most of its people
    chosen = [multi[i] for i in np.sort(rng.choice(len(multi), size=min(count, len(multi)), replace=False))]
    return chosen, np.sort(np.concatenate([groups[k][:max_photos] for k in chosen]))


def lookalike_split(names: np.ndarray, seed: int, visitors: int = VISITORS,
                    max_photos: int = MAX_VISITOR_PHOTOS) -> Split:
    """Visitors out of the gallery (probes); pseudo-visitors carved from the gallery for the monitor."""
    rng = np.random.default_rng(seed)
    groups = _by_identity(names, rng)
    chosen, probes = _visitors(groups, rng, visitors, max_photos)
    gallery = np.setdiff1d(np.arange(len(names)), _rows_of(names, chosen))
    pseudo, monitor = _visitors(groups, rng, visitors, max_photos, exclude=chosen)
    monitor_gallery = np.setdiff1d(gallery, _rows_of(names, pseudo))
    return Split("lookalike", "stability", gallery, np.array(pseudo), gallery, probes, monitor_gallery, monitor)


def open_split(names: np.ndarray, seed: int, test_fraction: float = TEST_FRACTION,
               max_probes: int = MAX_OPEN_PROBES) -> Split:
    """Today's held-out identities (as `flask evaluate` re-derives them by seed); the monitor: validation ones."""
    test, val = _splits(names, None, seed, test_fraction)
    probes = _probes(names, test, max_probes, seed)
    fit = np.flatnonzero(~np.isin(names, test))
    return Split("open", "identify", fit, val, np.arange(len(names)), probes, fit,
                 _probes(names, val, max_probes, seed), exclude_self=True)


def served_splits(names: np.ndarray, seed: int, visitors: int = VISITORS) -> dict[str, list[Split]]:
    """Validation of the served model (trained on the gallery's own identities), in two disjoint halves.

    Pseudo-visitors (identities with 2+ photos) are left out of training; one photo of every other
    identity with >= MIN_PHOTOS photos is left out too. "monitor" (early stopping) and "verdict"
    (cosine vs learned, after training) each get half of both, so the verdict is not the data the
    best epoch was picked on: [closed (top-1), lookalike (stability)] and, for the verdict, open
    (top-1 of the pseudo-visitors' photos against every other photo).
    """
    rng = np.random.default_rng(seed + 104729)
    groups = _by_identity(names, rng)
    pseudo, _ = _visitors(groups, rng, visitors, MAX_VISITOR_PHOTOS)
    held = np.array([g[0] for k, g in groups.items() if len(g) >= MIN_PHOTOS and k not in set(pseudo)], np.int64)
    held = rng.permutation(held)
    fit = np.setdiff1d(np.arange(len(names)), held)
    val = np.array(pseudo)
    out = {}
    for half, (people, probes) in (("monitor", (pseudo[0::2], held[0::2])), ("verdict", (pseudo[1::2], held[1::2]))):
        visitor_rows = np.sort(np.concatenate([groups[k][:MAX_VISITOR_PHOTOS] for k in people]))
        gallery = np.setdiff1d(fit, _rows_of(names, pseudo))
        out[half] = [Split("closed", "identify", fit, val, gallery, np.sort(probes), gallery, np.sort(probes)),
                     Split("lookalike", "stability", fit, val, gallery, visitor_rows, gallery, visitor_rows)]
    seen = np.union1d(out["verdict"][0].gallery_rows, _rows_of(names, pseudo[1::2]))
    out["verdict"].append(Split("open", "identify", fit, val, seen, out["verdict"][1].probe_rows, seen,
                                out["verdict"][1].probe_rows, exclude_self=True))
    return out


def make_split(protocol: str, names: np.ndarray, seed: int) -> Split:
    """The named protocol's split of a gallery's row names."""
    if protocol == "closed":
        return closed_split(names, seed)
    if protocol == "lookalike":
        return lookalike_split(names, seed)
    if protocol == "open":
        return open_split(names, seed)
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
