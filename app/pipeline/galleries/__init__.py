"""Galleries on disk: reading a version, writing and flipping versions, rows, the vector index, quality."""
