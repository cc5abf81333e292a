"""Several photos of one visitor: are they one person? (several_photos.py makes their one query.)

A second or third photo steadies the answer, but only if it shows the same person: each pair of
photos is checked with the verification calibration, and a pair is "different people" only when
the calibrated probability of the same person is below `min_probability` (MATCH_SAME_PERSON_MIN_P,
1%): one person's photos years apart often fall short of the "Same person?" page's F1 threshold
(4% of the demo's same-person pairs do), while different people almost never reach 1% (1.2% of
the demo's pairs). With three photos the one that differs from the two others is named; with two,
or when no two agree, the set is refused as a whole.
"""

from __future__ import annotations

import numpy as np

from app.pipeline.errors import DifferentPeople
from app.pipeline.scoring.scorers import Scorer
from app.pipeline.scoring.verification import Calibration, verdict


def check_one_person(embeddings: np.ndarray, fields: list[str], scorer: Scorer, calibration: Calibration,
                     min_probability: float) -> None:
    """DifferentPeople unless no pair of photos is judged different people; names the odd photo out."""
    n = len(embeddings)
    i, j = np.triu_indices(n, k=1)
    distances = scorer.pair_distances(embeddings[i], embeddings[j])
    same = {(int(a), int(b)): verdict(float(d), calibration).probability >= min_probability
            for a, b, d in zip(i, j, distances)}
    if all(same.values()):
        return
    if n == 3:
        for odd in range(3):
            a, b = (k for k in range(3) if k != odd)
            if same[(a, b)] and not same[tuple(sorted((odd, a)))] and not same[tuple(sorted((odd, b)))]:
                raise DifferentPeople(f"{fields[odd]} shows someone else than the other two photos: send photos "
                                      "of one person only.", field=fields[odd], odd=odd, photos=n)
    raise DifferentPeople(f"These {n} photos show different people: send photos of one person only.",
                          field=fields[-1], photos=n)

