"""Comparing embeddings: the Scorer interface (cosine, learned), resemblance percentiles, same-person verdicts."""
