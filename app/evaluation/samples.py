"""Picture of sample identifications: probes and their top matches, framed right or wrong."""

from __future__ import annotations

import numpy as np

from app.pipeline.galleries.reader import Gallery, display_name


def plot_samples(gallery: Gallery, names: np.ndarray, probe_rows, matches, path: str, title: str) -> None:
    """Grid of probes (left) and their top matches, correct first then wrong, framed green/red."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    rows = len(probe_rows)
    fig = Figure(figsize=(2.0 * (1 + len(matches[0]) if matches else 4), 2.2 * max(rows, 1)))
    FigureCanvasAgg(fig)
    for r, (probe, best) in enumerate(zip(probe_rows, matches)):
        for c, row in enumerate([probe] + best):
            ax = fig.add_subplot(rows, 1 + len(best), r * (1 + len(best)) + c + 1)
            ax.imshow(Image.open(gallery.thumb_path(row)))
            ax.set_xticks([]), ax.set_yticks([])
            label = display_name(str(names[row]))[:22]
            if c == 0:
                ax.set_title("probe: " + label, fontsize=8)
            else:
                ok = names[row] == names[probe]
                ax.set_title(f"#{c} {label}", fontsize=8, color="green" if ok else "red")
                for side in ax.spines.values():
                    side.set_edgecolor("green" if ok else "red")
                    side.set_linewidth(3)
    fig.suptitle(title, y=1 - 0.1 / max(rows, 1))
    fig.subplots_adjust(top=1 - 0.35 / max(rows, 1))
    fig.savefig(path, dpi=80, bbox_inches="tight")
