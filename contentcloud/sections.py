"""The typed sections of a datasource profile that the pipeline steps read.

Built once per :class:`contentcloud.datasources.Datasource` from the validated profile; the field
defaults are the schema's (``schemas/datasource.schema.json``), which
``tests/unit/contentcloud/test_profile_sections.py`` checks field by field. The ``api`` sections belong to the
harvesters that read them (:class:`harvesters.oai.harvester.OaiApi`, …) and the ``download`` section
to the download service (:class:`harvesters.download.DownloadConfig`): a lower layer cannot import
this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mdstore.sections import Section

#: the formats the publisher disseminates when the profile names none (the schema's default)
ALL_PUBLISH_FORMATS = ("native", "transformed", "oai_dc")


@dataclass(frozen=True, kw_only=True)
class TransformSection(Section):
    """``transform``: the step chain and what it stores (``$defs/transform``).

    ``max_error_rate`` here is deprecated (``limits.max_error_rate`` is the profile's one error
    rate); when an older profile still sets it, it goes on ruling the transform step alone.
    """

    steps: tuple[Mapping[str, Any], ...] = ()
    target_format: str = "PE"
    output: str = "ntriples"
    max_error_rate: float | None = None
    records_per_part: int = 50000


@dataclass(frozen=True, kw_only=True)
class IndexSection(Section):
    """``index``: which index profile feeds which index (``$defs/index``)."""

    enabled: bool = True
    profile: str = "pe"
    name: str | None = None
    workers: int = 1
    records_per_part: int = 50000


@dataclass(frozen=True, kw_only=True)
class RdfSection(Section):
    """``rdf``: the datasource's named graph in the RDF store (``$defs/rdf``)."""

    enabled: bool = True
    records_per_part: int = 50000


@dataclass(frozen=True, kw_only=True)
class PublishSection(Section):
    """``publish``: the OAI-PMH publication (``$defs/publish``).

    ``oai_dc_xslt`` is not here: its absence (the default stylesheet when it exists) and its
    ``null`` (none) differ, which the profile mapping keeps and a field could not.
    """

    enabled: bool = True
    formats: tuple[str, ...] = ALL_PUBLISH_FORMATS
    native_prefix: str | None = None
    transformed_prefix: str | None = None
    base_url: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    namespaces: Mapping[str, str] = field(default_factory=dict)
    sets: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Limits(Section):
    """``limits``: when a run is not committed. ``max_error_rate`` None: the ``error_rate``
    setting (the operator's default for every profile)."""

    max_error_rate: float | None = None
    min_records: int | None = None
    max_drop_ratio: float | None = None
    #: Airflow: a task's execution_timeout (seconds) and its retries
    task_timeout: int = 21600
    task_retries: int = 3


def error_rate(limits: Limits, default: float, *, transform: TransformSection | None = None) -> float:
    """The largest tolerated share of failed records of a step: ``limits.max_error_rate``, else the
    settings' ``error_rate``. For the transform step, an older profile's ``transform.max_error_rate``
    comes first (deprecated; the profile loader warns)."""
    if transform is not None and transform.max_error_rate is not None:
        return float(transform.max_error_rate)
    return float(limits.max_error_rate if limits.max_error_rate is not None else default)
