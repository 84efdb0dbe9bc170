"""The File Download Service (D-NET's, beside the harvesters): the files records point to.

It takes file URLs from records already in the MDStore (:mod:`~harvesters.download.extract`),
downloads them politely (:mod:`~harvesters.download.service`, through the shared transport and
the address policy of :mod:`~harvesters.download.policy`) into a content-addressed store
(:mod:`~harvesters.download.filestore`), and keeps a per-datasource ledger
(:mod:`~harvesters.download.ledger`). Like every harvester it imports only :mod:`mdstore` and
third-party libraries; the ``contentcloud download`` step drives it.
"""

from harvesters.download.config import DownloadConfig, Filters
from harvesters.download.errors import (
    AddressRefused,
    ContentTypeRejected,
    DownloadError,
    FileRejected,
    FileTooLarge,
    Refused,
    TooSlow,
)
from harvesters.download.extract import (
    EXTRACTORS,
    RdfPathExtractor,
    UrlExtractor,
    XPathExtractor,
    build_extractor,
)
from harvesters.download.filestore import FILE_STORES, FileStore, LocalFileStore, StoredFile, open_file_store
from harvesters.download.ledger import Entry, Ledger, RunInfo
from harvesters.download.policy import AddressPolicy
from harvesters.download.service import DownloadCounts, FileDownloadService

__all__ = [
    "EXTRACTORS",
    "FILE_STORES",
    "AddressPolicy",
    "AddressRefused",
    "ContentTypeRejected",
    "DownloadConfig",
    "DownloadCounts",
    "DownloadError",
    "Entry",
    "FileDownloadService",
    "FileRejected",
    "FileStore",
    "FileTooLarge",
    "Filters",
    "Ledger",
    "LocalFileStore",
    "RdfPathExtractor",
    "Refused",
    "RunInfo",
    "StoredFile",
    "TooSlow",
    "UrlExtractor",
    "XPathExtractor",
    "build_extractor",
    "open_file_store",
]
