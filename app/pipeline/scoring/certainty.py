"""How sure a look-alike answer is: the margin of the first celebrity over the second.

A margin is the difference of the two best identities' ranking scores (Match.raw: the aggregated
cosine, normalised per identity when HUB_CORRECTION is on). An answer is "clear" when its margin
is at least the clear margin for its number of photos: on LFW visitors not in the gallery, a first
celebrity with such a margin was still first with other photos of the same person (as many) at
least CLEAR_SURVIVAL of the time. Otherwise it is a "close_call", and another photo would steady
it. The margins per number of photos are config CERTAINTY_CLEAR_MARGIN, fitted by `flask evaluate
--protocol lookalike --gallery lfw --folds 5`; null for a number of photos whose first answers
never survived that often at any margin (their answers are always close calls).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.pipeline.scoring.scorers import Match

LEVELS = ("clear", "close_call")
CLEAR_SURVIVAL = 0.8  # a clear first celebrity stays first with a second photo this often at least
MIN_CLEAR_SHARE = 0.02  # the fitted margin leaves at least this share of answers clear


@dataclass(frozen=True)
class Certainty:
    """{"level": "clear" | "close_call", "margin": ...} of one answer."""

    level: str
    margin: float | None  # None when the answer has a single identity (nothing to be confused with)

    def as_dict(self) -> dict:
        """The API's form."""
        return {"level": self.level, "margin": None if self.margin is None else round(self.margin, 4)}


def margin(matches: list[Match]) -> float | None:
    """Ranking score of the first match minus the second's (None with fewer than two)."""
    if len(matches) < 2:
        return None
    return float(matches[0].raw - matches[1].raw)


def clear_margin(setting: dict | float | None, photos: int = 1) -> float | None:
    """The clear margin for answers from `photos` photos: CERTAINTY_CLEAR_MARGIN (a mapping of the
    number of photos to a margin or None, or one margin for any number); None: never clear."""
    if isinstance(setting, dict):
        value = setting.get(str(photos), setting.get(photos))
        return None if value is None else float(value)
    return None if setting is None else float(setting)


def certainty(matches: list[Match], clear_at: float | None) -> Certainty | None:
    """Clear or close call for a ranked answer (None without any match); clear_at: clear_margin()'s."""
    if not matches:
        return None
    m = margin(matches)
    clear = m is None or (clear_at is not None and m >= clear_at)
    return Certainty("clear" if clear else "close_call", m)


def fit_clear_margin(margins: np.ndarray, survived: np.ndarray, survival: float = CLEAR_SURVIVAL,
                     min_share: float = MIN_CLEAR_SHARE) -> dict:
    """The smallest margin above which first answers survive a second photo at least `survival` of
    the time, among margins that leave at least `min_share` of answers clear.

    margins: [n] margin of each answer; survived: [n] whether its first celebrity was first again
    with another photo. Returns the margin (NaN when no margin reaches the survival), the share of
    answers it calls clear, and the survival of clear and of close-call answers.
    """
    margins, survived = np.asarray(margins, np.float64), np.asarray(survived, bool)
    order = np.argsort(-margins, kind="stable")
    held = np.cumsum(survived[order]) / np.arange(1, len(order) + 1)  # survival of the answers above each margin
    enough = np.arange(1, len(order) + 1) >= max(1, int(np.ceil(min_share * len(order))))
    ok = np.flatnonzero((held >= survival) & enough)
    if not len(ok):
        return {"clear_margin": float("nan"), "clear_share": 0.0, "clear_survival": float("nan"),
                "close_call_survival": float(survived.mean()) if len(survived) else float("nan"),
                "answers": int(len(margins))}
    cut = ok[-1]  # the most answers still surviving often enough
    threshold = float(margins[order[cut]])
    clear = margins >= threshold
    return {"clear_margin": threshold, "clear_share": float(clear.mean()),
            "clear_survival": float(survived[clear].mean()),
            "close_call_survival": float(survived[~clear].mean()) if (~clear).any() else float("nan"),
            "answers": int(len(margins))}
