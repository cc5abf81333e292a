"""Dataset plumbing for real celebrity galleries: resumable checksummed downloads, safe tar
extraction, the published LFW source and names CSVs.

Standalone on purpose: stdlib and tqdm only, no flask, no click, nothing else from `app`
(the modules import each other relatively, so the folder also works as a top-level package).
"""

from __future__ import annotations

from .archive import UnsafeArchive, safe_extract
from .download import ChecksumError, DownloadError, download, sha256_file
from .lfw import LFW, LFW_FUNNELED, LFW_PAIRS, RemoteFile, fetch_lfw
from .names import DEMO_NAMES, display_name, name_of, read_names

__all__ = [
    "ChecksumError", "DEMO_NAMES", "DownloadError", "LFW", "LFW_FUNNELED", "LFW_PAIRS",
    "RemoteFile", "UnsafeArchive", "display_name", "download", "fetch_lfw", "name_of",
    "read_names", "safe_extract", "sha256_file",
]
