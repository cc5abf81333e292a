"""Plots of evaluations and training runs, saved as PNG with matplotlib's headless Agg canvas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg canvas: headless, no pyplot state
from matplotlib.figure import Figure


def _save(fig: Figure, path: str | Path) -> None:
    """Render a Figure with the Agg canvas and write it to path."""
    FigureCanvasAgg(fig)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], path: str | Path) -> None:
    """Plot named ROC curves {name: (fpr, tpr, auc)} on one chart and save it as an image."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC={auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    _save(fig, path)


def plot_loss_curve(history: Mapping[str, Sequence[float]], path: str | Path) -> None:
    """Plot per-epoch train/val loss, val AUC and (when monitored) the validation metric, and save it."""
    metric = list(history.get("val_metric", []))
    fig = Figure(figsize=(13.5 if metric else 9, 3.5))
    axes = fig.subplots(1, 3 if metric else 2)
    ax_loss, ax_auc = axes[0], axes[1]
    epochs = np.arange(1, len(history.get("train_loss", [])) + 1)
    ax_loss.plot(epochs, history.get("train_loss", []), label="train")
    ax_loss.plot(epochs, history.get("val_loss", []), label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    ax_auc.plot(epochs, history.get("val_auc", []), color="tab:green")
    ax_auc.set(xlabel="epoch", ylabel="AUC", title="validation AUC (similarity net)")
    if metric:  # epoch 0: the untrained encoder (cosine, for a residual one)
        axes[2].plot(np.arange(len(metric) + 1), list(history.get("initial_val_metric", [np.nan])) + metric,
                     marker="o", color="tab:purple")
        axes[2].set(xlabel="epoch", ylabel="metric", title="validation metric (early stopping)")
    _save(fig, path)
