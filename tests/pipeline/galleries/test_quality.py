"""The quality loop: K best photos per identity, relaxing thresholds only when needed."""

from __future__ import annotations

import numpy as np

from app.pipeline.galleries.quality import LEVELS, select_per_identity


def test_keeps_k_best_and_relaxes_only_for_identities_that_need_it():
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    photo_side = np.array([250, 250, 250, 250, 250, 120, 90])
    boxes = np.array([[0, 0, 110, 120]] * 4 + [[0, 0, 100, 100], [0, 0, 50, 50], [0, 0, 40, 40]])
    confidence = np.array([0.999, 0.995, 0.9995, 0.97, 0.999, 0.96, 0.9])
    order, report = select_per_identity(labels, photo_side, boxes, confidence, k=2)
    assert order[:2].tolist() == [2, 0]  # identity 0: the two most confident strict passes, best first
    assert report[0] == {"kept": 2, "photos": 4, "level": 0}
    # identity 1 has one strict photo; level 2 (100 px photos, 48 px faces) admits the 120 px photo
    assert order[2:].tolist() == [4, 5] and report[1] == {"kept": 2, "photos": 3, "level": 2}


def test_keeps_what_there_is_when_photos_run_out():
    order, report = select_per_identity(np.array([0]), np.array([60]), np.array([[0, 0, 30, 30]]),
                                        np.array([0.85]), k=5)
    assert order.tolist() == [0] and report[0] == {"kept": 1, "photos": 1, "level": len(LEVELS) - 1}
