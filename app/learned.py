"""The learned encoder + similarity networks in the app (fast scorer) and their held-out evaluation."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from app.gallery import Gallery, display_name

ENCODED_PREFIX = "encoded-"


def encoded_gallery(model_dir: str, gallery: Gallery, encoder) -> np.ndarray:
    """Encoder outputs of every gallery row, cached beside the gallery (recomputed when the model changes)."""
    from models.encoder import encode
    from models.training import ENCODER_FILE

    cache = os.path.join(gallery.path, f"{ENCODED_PREFIX}{os.path.basename(os.path.normpath(model_dir))}.npy")
    weights = os.path.join(model_dir, ENCODER_FILE)
    if os.path.isfile(cache) and os.path.getmtime(cache) >= os.path.getmtime(weights):
        encoded = np.load(cache, mmap_mode="r")
        if encoded.shape[0] == len(gallery):
            return encoded
    encoded = encode(encoder, np.asarray(gallery.embeddings))
    try:  # a unique temporary name: several gunicorn workers may write it at once
        fd, tmp = tempfile.mkstemp(dir=gallery.path, prefix=".encoded-", suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, encoded)
        os.replace(tmp, cache)
    except OSError:  # read-only gallery: keep the encodings in memory only
        pass
    return encoded


class LearnedScorer:
    """Scores a query against the gallery with the trained networks, never naively over all pairs.

    concat combiner: the first dense layer is split and its gallery half precomputed (exact);
    absprod / chi2: a cosine shortlist of LEARNED_SHORTLIST rows is reranked by the network.
    """

    def __init__(self, model_dir: str, gallery: Gallery, shortlist: int):
        from models.similarity import SimilarityScorer
        from models.training import load_model

        self.encoder, self.similarity, self.meta = load_model(model_dir)
        config = self.meta["config"]
        self.combiner = config["combiner"]
        self.name = f"learned:{os.path.basename(os.path.normpath(model_dir))} ({config['loss']}, {self.combiner})"
        self.shortlist = int(shortlist)
        self.scorer = SimilarityScorer(self.similarity, np.asarray(encoded_gallery(model_dir, gallery, self.encoder)),
                                       shortlist=self.shortlist)
        self.row_scores(np.asarray(gallery.embeddings[0]))  # warm up off the request path

    def row_scores(self, query: np.ndarray) -> np.ndarray:
        """Similarity-network probability per gallery row (-inf outside the shortlist)."""
        from models.encoder import encode

        q = encode(self.encoder, query)[0]
        if self.combiner == "concat":
            return self.scorer.score_all(q).astype(np.float64)
        rows, scores = self.scorer.top_k(q, self.shortlist)
        out = np.full(self.scorer.size, -np.inf)
        out[rows] = scores
        return out

    @staticmethod
    def display(value: float) -> float:
        """The network's output is already a score in [0, 1]."""
        return float(value)

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """1 - similarity-network probability for rows of FaceNet embeddings a and b."""
        return network_distances(self.encoder, self.similarity, a, b)

    def calibration(self):
        """The calibration fitted on the model's validation pairs by `flask train`."""
        from models.calibration import Calibration

        return Calibration.from_dict(self.meta["calibration"])


def network_distances(encoder, similarity, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - similarity-network probability for rows of FaceNet embeddings a and b."""
    from models.encoder import encode

    prob = np.asarray(similarity([encode(encoder, a), encode(encoder, b)], training=False), np.float64)
    return 1.0 - prob.reshape(-1)


# --- evaluation on held-out identities ------------------------------------------------------------

def held_out_split(names: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train+validation identities, test identities): identity-disjoint, seeded."""
    from models.training import split_identities

    return split_identities(names, fraction, seed + 7919)  # its own stream, apart from the val split


def _splits(names: np.ndarray, model_meta: dict | None, seed: int, test_fraction: float):
    """(test identities, validation identities): the model's own, else re-derived by seed."""
    from models.training import TrainConfig, split_identities

    if model_meta is not None:
        return np.array(model_meta["test_identities"]), np.array(model_meta["val_identities"])
    trainval, test = held_out_split(names, test_fraction, seed)
    _, val = split_identities(names[np.isin(names, trainval)], TrainConfig().val_fraction, seed)
    return test, val


def _probes(names: np.ndarray, test_ids: np.ndarray, per_identity: int, seed: int) -> np.ndarray:
    """Rows of held-out identities with >= 2 photos, at most per_identity of each (seeded)."""
    rng = np.random.default_rng(seed)
    rows = []
    for identity in np.unique(test_ids):
        mine = np.flatnonzero(names == identity)
        if len(mine) >= 2:
            rows.extend(rng.permutation(mine)[:per_identity])
    return np.array(sorted(rows), dtype=np.int64)


def _verification(pair_score, names, val_rows, test_rows, n_pairs, seed):
    """AUC on test pairs, accuracy/F1 at the F1-optimal threshold chosen on validation pairs."""
    from models.evaluation import accuracy_f1_at, best_f1_threshold, make_pairs, roc_auc, roc_curve

    vi, vj, vsame = make_pairs(names[val_rows], n_pairs, seed)
    ti, tj, tsame = make_pairs(names[test_rows], n_pairs, seed + 1)
    val_scores = pair_score(val_rows[vi], val_rows[vj])
    test_scores = pair_score(test_rows[ti], test_rows[tj])
    threshold, _ = best_f1_threshold(val_scores, vsame)
    acc, f1 = accuracy_f1_at(test_scores, tsame, threshold)
    fpr, tpr, _ = roc_curve(test_scores, tsame)
    auc = roc_auc(test_scores, tsame)
    return {"auc": auc, "accuracy": acc, "f1": f1, "threshold": threshold}, (fpr, tpr, auc)


def _top_matches(score_row, probe_rows, names, k=3):
    """Per probe row: the k best identities (best row of each), excluding the probe's own photo."""
    out = []
    for row in probe_rows:
        s = np.asarray(score_row(row), dtype=np.float64).copy()
        s[row] = -np.inf
        order = np.argsort(-s)
        seen, best = set(), []
        for r in order:
            if names[r] not in seen:
                seen.add(names[r])
                best.append(int(r))
                if len(best) == k:
                    break
        out.append(best)
    return out


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


def evaluate_gallery(gallery: Gallery, model_dir: str | None, seed: int, test_fraction: float,
                     n_pairs: int, max_probes: int, out_dir: str) -> dict:
    """Cosine and (optionally) the learned model, side by side, on the held-out identities."""
    from models.encoder import encode
    from models.evaluation import identification_topk, plot_roc
    from models.training import load_model

    X = np.asarray(gallery.embeddings, dtype=np.float32)
    names = gallery.row_names
    meta = None
    scorers = {"cosine (FaceNet)": (X, lambda q, G: G @ q, lambda i, j: np.sum(X[i] * X[j], axis=1))}
    if model_dir:
        encoder, similarity, meta = load_model(model_dir)
        from models.similarity import SimilarityScorer

        Z = encode(encoder, X)
        fast = SimilarityScorer(similarity, Z)
        pair_fn = lambda i, j: np.asarray(similarity([Z[i], Z[j]], training=False)).reshape(-1)  # noqa: E731
        scorers["learned encoder, cosine"] = (Z, lambda q, G: G @ q, lambda i, j: np.sum(Z[i] * Z[j], axis=1))
        scorers[f"learned ({meta['config']['loss']}, {meta['config']['combiner']})"] = (
            Z, lambda q, G: fast.score_all(q), pair_fn)
        seed = meta["split_seed"]
    test_ids, val_ids = _splits(names, meta, seed, test_fraction)
    test_rows = np.flatnonzero(np.isin(names, test_ids))
    val_rows = np.flatnonzero(np.isin(names, val_ids))
    probes = _probes(names, test_ids, max_probes, seed)
    os.makedirs(out_dir, exist_ok=True)
    report = {"gallery": gallery.name, "model": model_dir, "split_seed": seed,
              "test_identities": int(len(test_ids)), "probes": int(len(probes)),
              "gallery_rows": int(len(X)), "test_pairs": n_pairs, "scorers": {}}
    curves = {}
    for name, (E, score_fn, pair_fn) in scorers.items():
        ident = identification_topk(E[probes], names[probes], E, names, score_fn, ks=(1, 5), exclude=probes)
        verif, curve = _verification(pair_fn, names, val_rows, test_rows, n_pairs, seed)
        report["scorers"][name] = {"top1": ident["top1"], "top5": ident["top5"], **verif}
        curves[name] = curve
    plot_roc(curves, os.path.join(out_dir, "roc.png"))
    name, (E, score_fn, _) = list(scorers.items())[-1]
    sample = probes[np.random.default_rng(seed).permutation(len(probes))[:200]]
    matches = _top_matches(lambda r: score_fn(E[r], E), sample, names)
    right = [(p, m) for p, m in zip(sample, matches) if names[m[0]] == names[p]][:4]
    wrong = [(p, m) for p, m in zip(sample, matches) if names[m[0]] != names[p]][:4]
    chosen = right + wrong
    if chosen:
        plot_samples(gallery, names, [p for p, _ in chosen], [m for _, m in chosen],
                     os.path.join(out_dir, "samples.png"), f"{name}: correct (green) and wrong (red) top-1")
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report
