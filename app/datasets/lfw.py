"""The published LFW (Labeled Faces in the Wild) files, and one call to fetch and unpack them.

Source of the URLs and sha256 sums below: scikit-learn's LFW fetcher, sklearn/datasets/_lfw.py
(`ARCHIVE`, `FUNNELED_ARCHIVE` and `TARGETS`, all `RemoteFileMetadata(filename, url, checksum)`),
read in repository scikit-learn/scikit-learn at commits 00de9a12521ea0d4c773dec7804ed17b0eaeb7e8
and 08111715d5701e491011af6f8790a1fc394424c4 (the same values in both). scikit-learn notes the
originals as http://vis-www.cs.umass.edu/lfw/lfw.tgz, .../lfw-funneled.tgz, .../pairs*.txt;
the URLs are its figshare mirrors.

LFW: 5,749 identities, 13,233 photos, laid out as `lfw/<Person_Name>/<Person_Name>_NNNN.jpg`
(`lfw_funneled/...` in the funneled archive).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .archive import safe_extract
from .download import FROM_HINT, ChecksumError, DownloadError, download, sha256_file

LFW_IDENTITIES = 5749
LFW_PHOTOS = 13233


@dataclass(frozen=True)
class RemoteFile:
    """A published file: where to get it, its sha256, and the folder its archive unpacks to."""

    filename: str
    url: str
    sha256: str
    folder: str = ""


LFW = RemoteFile(
    filename="lfw.tgz",
    url="https://ndownloader.figshare.com/files/5976018",
    sha256="055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0",
    folder="lfw",
)
LFW_FUNNELED = RemoteFile(
    filename="lfw-funneled.tgz",
    url="https://ndownloader.figshare.com/files/5976015",
    sha256="b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
    folder="lfw_funneled",
)
LFW_PAIRS = (
    RemoteFile(
        filename="pairsDevTrain.txt",
        url="https://ndownloader.figshare.com/files/5976012",
        sha256="1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",
    ),
    RemoteFile(
        filename="pairsDevTest.txt",
        url="https://ndownloader.figshare.com/files/5976009",
        sha256="7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
    ),
    RemoteFile(
        filename="pairs.txt",
        url="https://ndownloader.figshare.com/files/5976006",
        sha256="ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
    ),
)


def check_file(path: str, source: RemoteFile) -> str:
    """`path` if it has the published sha256 of `source`; ChecksumError otherwise."""
    got = sha256_file(path)
    if got != source.sha256:
        raise ChecksumError(f"{path} has sha256 {got}, but {source.filename} published at "
                            f"{source.url} has {source.sha256}")
    return path


def fetch_lfw(root: str, source: RemoteFile = LFW, from_file: str | None = None,
              progress: bool = True, timeout: float = 60.0) -> str:
    """Download (or take `from_file`), verify and unpack LFW under `root`; its photo folder."""
    photos = os.path.join(root, source.folder)
    if os.path.isdir(photos):
        if os.listdir(photos):
            return photos
        os.rmdir(photos)  # an empty leftover would block the extraction
    if from_file is not None:
        archive = check_file(from_file, source)
    else:
        archive = download(source.url, os.path.join(root, source.filename), source.sha256,
                           progress=progress, timeout=timeout)
    safe_extract(archive, root, progress=progress)
    if not os.path.isdir(photos):
        raise DownloadError(f"{archive} has no {source.folder}/ folder; {FROM_HINT} "
                            f"holding the {source.filename} published at {source.url}")
    return photos
