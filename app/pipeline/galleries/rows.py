"""Rows of a memory-mapped gallery matrix read with pread, so a worker's RSS does not grow with queries.

Reading a shortlist through the memory map maps every touched page (and the kernel maps up to 64 KB
around each fault) into the process: over a few hundred queries a 1M-row matrix becomes 500 MB
of the worker's RSS. ``RowFile`` reads the same rows with ``os.pread`` instead: the kernel's page
cache still keeps the hot rows (shared by all workers and reclaimable), but none of it counts as
the worker's memory. About 1.7 µs a row against 0.5 through the map, so ``row_source`` keeps the
map for matrices up to MAPPED_MAX_BYTES (whose pages can cost at most that much RSS).
"""

from __future__ import annotations

import os

import numpy as np

MAPPED_MAX_BYTES = 128 << 20  # 262,144 rows of 128 floats: above this, shortlisted rows are read with pread


class RowFile:
    """Read-only rows of a float .npy matrix by index (`file[rows]`), read from the file, never mapped."""

    def __init__(self, matrix: np.memmap):
        if not whole_file(matrix):
            raise TypeError("RowFile needs a whole 2-D matrix opened with np.load(..., mmap_mode='r')")
        self.path, self.offset = str(matrix.filename), int(matrix.offset)
        self.shape, self.dtype, self.ndim = matrix.shape, matrix.dtype, 2
        self._row_bytes = int(matrix.shape[1] * matrix.dtype.itemsize)
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __getitem__(self, rows) -> np.ndarray:
        """One row (an int) as [D]; rows (an int array, or a slice) as [len(rows), D]."""
        if isinstance(rows, slice):
            start, stop, step = rows.indices(len(self))
            if step != 1:
                return self.read(np.arange(start, stop, step))
            return self._range(start, max(start, stop))
        if np.isscalar(rows):
            return self.read(np.array([rows]))[0]
        return self.read(np.asarray(rows))

    def _range(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 in one read."""
        want = (stop - start) * self._row_bytes
        data = os.pread(self._fd, want, self.offset + start * self._row_bytes)
        if len(data) != want:
            raise OSError(f"{self.path} is shorter than its header says (truncated?)")
        return np.frombuffer(data, dtype=self.dtype).reshape(stop - start, self.shape[1])

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (any order, repeats allowed) as a float array [len(rows), D]."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        n, size, base = len(self), self._row_bytes, self.offset
        if len(rows) and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"row out of range for a matrix of {n} rows")
        fd, offsets = self._fd, (np.where(rows < 0, rows + n, rows) * size + base).tolist()
        data = b"".join([os.pread(fd, size, at) for at in offsets])
        if len(data) != len(rows) * size:
            raise OSError(f"{self.path} is shorter than its header says (truncated?)")
        return np.frombuffer(data, dtype=self.dtype).reshape(len(rows), self.shape[1])


def whole_file(matrix: np.ndarray) -> bool:
    """True for a C-ordered 2-D matrix memory-mapped from the whole of its .npy file (not a slice of one)."""
    if not isinstance(matrix, np.memmap) or matrix.ndim != 2 or not matrix.flags.c_contiguous or \
            not getattr(matrix, "filename", None):
        return False
    try:
        return os.path.getsize(matrix.filename) == int(matrix.offset) + matrix.nbytes
    except OSError:
        return False


def read_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """matrix[rows] as a new array; from a memory-mapped file, read without mapping the pages."""
    if whole_file(matrix):
        return RowFile(matrix).read(rows)
    return np.asarray(matrix[np.asarray(rows)])


def row_source(matrix: np.ndarray) -> np.ndarray | RowFile:
    """What a scorer reads shortlisted rows from: the map itself when small, else a RowFile."""
    return RowFile(matrix) if whole_file(matrix) and matrix.nbytes > MAPPED_MAX_BYTES else matrix
