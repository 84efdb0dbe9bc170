"""``[core] hostname_callable`` for the CeleryExecutor test: the name of the worker a task ran on.

Airflow records on each task instance the ``hostname`` its task runner reports (the machine's FQDN
by default). The test's two Celery workers share one machine, so each is started with its own
``CONTENTCLOUD_TEST_WORKER`` and this callable reports that, as two machines would report theirs.
"""

from __future__ import annotations

import os


def from_environment() -> str:
    return os.environ["CONTENTCLOUD_TEST_WORKER"]
