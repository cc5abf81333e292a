"""Probability calibration of a pair score: a logistic fit, reliability table and ECE (NumPy)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """p(same) = sigmoid(a + b * x) for a pair score x, and the F1-optimal decision threshold.

    `higher_is_same` says which side of the threshold means "same person": False for a distance.
    """

    a: float
    b: float
    threshold: float
    higher_is_same: bool = False
    score: str = "distance"
    fitted_on: str = ""

    def probability(self, x: np.ndarray | float) -> np.ndarray | float:
        """Calibrated probability that a pair with score x is the same person."""
        z = self.a + self.b * np.asarray(x, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def same(self, x: np.ndarray | float) -> np.ndarray | bool:
        """The thresholded verdict for score x."""
        x = np.asarray(x, dtype=np.float64)
        return x >= self.threshold if self.higher_is_same else x <= self.threshold

    def to_dict(self) -> dict:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Inverse of to_dict (unknown keys are ignored)."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-6, iters: int = 50) -> tuple[float, float]:
    """(a, b) maximizing the likelihood of y ~ sigmoid(a + b x), by Newton's method."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    mu, sd = x.mean(), x.std() or 1.0
    xs = (x - mu) / sd  # standardize for a well-conditioned Hessian
    X = np.stack([np.ones_like(xs), xs], axis=1)
    w = np.zeros(2)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -50, 50)))
        grad = X.T @ (p - y) + l2 * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    b = w[1] / sd
    return float(w[0] - b * mu), float(b)


def reliability_table(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict]:
    """Per probability bin: count, mean predicted probability and observed same-person rate."""
    prob = np.asarray(prob, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    table = []
    for k in range(bins):
        m = idx == k
        n = int(m.sum())
        table.append({"bin": f"{edges[k]:.1f}-{edges[k + 1]:.1f}", "count": n,
                      "predicted": float(prob[m].mean()) if n else None,
                      "observed": float(y[m].mean()) if n else None})
    return table


def expected_calibration_error(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE: count-weighted mean |observed rate - mean predicted probability| over the bins."""
    table = reliability_table(prob, y, bins)
    total = sum(row["count"] for row in table)
    return float(sum(row["count"] * abs(row["observed"] - row["predicted"])
                     for row in table if row["count"]) / max(total, 1))
