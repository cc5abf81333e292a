"""One BLAS thread per process, set before NumPy loads OpenBLAS (it reads the variables once, at load).

An idle OpenBLAS worker thread busy-waits after every call: with a second one, each served match's
scoring woke it and it burned the other core for the whole match (211 ms of CPU per 100 ms match),
taking that core from the other CPU slot. Matches parallelize over CPU_SLOTS and processes instead.
This module imports nothing heavy, so a process can call it first.
"""

import os

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread_unless_set() -> None:
    """One BLAS thread for this process and the processes it starts, unless the caller chose a number."""
    for var in BLAS_VARS:
        os.environ.setdefault(var, "1")
