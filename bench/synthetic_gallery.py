"""Write a synthetic gallery in the real format: perturbations of a real gallery's embeddings.

Usage: python bench/synthetic_gallery.py --from demo --rows 1000000 --name synth1m [--seed 0] [--index]
                                         [--markdown FILE]
(the index is built when the gallery reaches INDEX_MIN_ROWS, or with --index).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from report import Report, add_option  # noqa: E402  (bench/, beside this script)


def main() -> None:
    """Parse the arguments, write the gallery, print one summary line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="source", default="demo", help="a real gallery to perturb")
    ap.add_argument("--rows", type=int, required=True, help="synthetic rows to add")
    ap.add_argument("--name", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--index", action="store_true", help="build the vector index whatever the size")
    add_option(ap)
    args = ap.parse_args()
    report = Report(args.markdown)
    from app import create_app
    from app.evaluation.synthetic import write_synthetic
    from app.instance_paths import galleries_dir
    from app.pipeline.galleries.reader import Gallery

    app = create_app()
    galleries = galleries_dir(app)
    start = time.perf_counter()
    gallery = write_synthetic(Gallery.load(os.path.join(galleries, args.source)), galleries, args.name, args.rows,
                              app.config, args.seed, True if args.index else None)
    seconds = time.perf_counter() - start
    indexed = os.path.isdir(os.path.join(gallery.path, "index"))
    print(f"gallery {args.name}: {len(gallery):,} rows, {len(gallery.identities):,} identities "
          f"({'with' if indexed else 'without'} index) in {seconds:.0f}s at {gallery.path}")
    report.table(["gallery", "from", "rows", "identities", "index", "written in s"],
                 [[args.name, args.source, f"{len(gallery):,}", f"{len(gallery.identities):,}",
                   "yes" if indexed else "no", f"{seconds:.0f}"]])
    report.write()


if __name__ == "__main__":
    main()
