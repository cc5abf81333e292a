"""Which crop gives the best FaceNet embeddings? LFW 10-fold verification accuracy per variant.

Detects every photo of the LFW pairs once, then embeds each crop variant (margin, eye alignment,
mirror-image averaging, which face when there are several) and prints the 10-fold accuracy and AUC of
each. Needs ../shared/data/lfw. Usage: python bench/crop_variants.py [--folds 10] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from report import Report, add_option

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
LFW = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "lfw"))

# (label, face choice, margin, align, flip)
VARIANTS = [
    ("largest, tight box", "largest", 0.0, False, False),
    ("largest, margin 0.1", "largest", 0.1, False, False),
    ("largest, margin 0.2", "largest", 0.2, False, False),
    ("largest, margin 0.3", "largest", 0.3, False, False),
    ("largest, 0.2 + align", "largest", 0.2, True, False),
    ("largest, 0.2 + flip", "largest", 0.2, False, True),
    ("largest, 0.2 + align + flip", "largest", 0.2, True, True),
    ("central, tight box", "central", 0.0, False, False),
    ("central, margin 0.1", "central", 0.1, False, False),
    ("central, margin 0.15", "central", 0.15, False, False),
    ("central, margin 0.2", "central", 0.2, False, False),
    ("central, 0.1 + flip", "central", 0.1, False, True),
    ("central, 0.1 + align", "central", 0.1, True, False),
]


def main() -> None:
    """Detect once, embed per variant, print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folds", type=int, default=10, help="use the first N folds of pairs.txt")
    ap.add_argument("--only", nargs="*", help="run only variants whose label contains one of these words")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    if not os.path.isdir(LFW):
        raise SystemExit(f"{LFW} not found: this benchmark needs ../shared/data/lfw")
    from tqdm import tqdm

    from app import create_app
    from app.evaluation.pairs import distances, kfold_report, read_pairs
    from app.pipeline.builders.photo_batches import read_file
    from app.pipeline.errors import LooksLikeError
    from app.pipeline.photos.analysis import decode

    app = create_app({"EAGER_LOAD": False})
    engine = app.extensions["lookslike"]
    config = app.config
    pairs = [p for p in read_pairs(os.path.join(LFW, "pairs.txt"), os.path.join(LFW, "images"))
             if p.fold < args.folds and os.path.isfile(p.path1) and os.path.isfile(p.path2)]
    paths = sorted({x for p in pairs for x in (p.path1, p.path2)})
    start = time.perf_counter()
    detected = {}
    batch = 32
    for i in tqdm(range(0, len(paths), batch), desc="detect", unit="batch"):
        chunk = paths[i:i + batch]
        photos = [decode(read_file(p), config) for p in chunk]
        for path, photo, faces in zip(chunk, photos, engine.detector.detect_batch(photos)):
            if faces:
                detected[path] = (photo, faces)
    print(f"detected faces in {len(detected)}/{len(paths)} photos in {time.perf_counter() - start:.0f}s")
    kept = [p for p in pairs if p.path1 in detected and p.path2 in detected]
    same = np.array([p.same for p in kept])
    folds = np.array([p.fold for p in kept])
    usable = sorted({x for p in kept for x in (p.path1, p.path2)})
    rows = []
    for label, choice, margin, align, flip in VARIANTS:
        if args.only and not any(word in label for word in args.only):
            continue
        t0 = time.perf_counter()
        engine.embedder.flip = flip
        emb = {}
        for i in tqdm(range(0, len(usable), 64), desc=label, unit="batch", leave=False):
            chunk = usable[i:i + 64]
            crops = []
            for path in chunk:
                photo, faces = detected[path]
                engine.detector.choice = choice
                try:
                    face = engine.detector.main_face(faces, photo)
                except LooksLikeError:  # the chosen face is under MIN_FACE_PX: fall back to the largest
                    face = faces[0]
                crops.append(engine.detector.crop(photo, face, margin=margin, align=align))
            for path, e in zip(chunk, engine.embedder.embed(np.stack(crops))):
                emb[path] = e
        dist = distances(np.stack([emb[p.path1] for p in kept]), np.stack([emb[p.path2] for p in kept]))
        r = kfold_report(dist, same, folds)
        rows.append((label, r["accuracy_mean"], r["accuracy_std"], r["auc"], time.perf_counter() - t0))
        print(f"{label:28s} acc {r['accuracy_mean']:.4f} +- {r['accuracy_std']:.4f}  AUC {r['auc']:.4f}",
              flush=True)
    caption = (f"LFW pairs.txt, {len(kept)} pairs in {len(set(folds))} folds (threshold from the other folds); "
               f"faces detected in {len(detected)}/{len(paths)} photos")
    print(f"\n{caption}")
    print(f"{'variant':28s} {'accuracy':>16s} {'AUC':>7s} {'embed s':>8s}")
    for label, acc, std, auc, secs in rows:
        print(f"{label:28s} {acc:.4f} +- {std:.4f} {auc:7.4f} {secs:8.0f}")
    report.table(["variant", "accuracy (mean +- std over folds)", "AUC", "embed s"],
                 [[label, f"{acc:.4f} +- {std:.4f}", f"{auc:.4f}", f"{secs:.0f}"]
                  for label, acc, std, auc, secs in rows], caption)
    report.write()


if __name__ == "__main__":
    main()
