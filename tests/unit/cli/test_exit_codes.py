"""Exit codes come from the error's class, and only the CLI names the flags that act on it."""

from __future__ import annotations

import pickle

import pytest

from contentcloud.cli.exit_codes import ExitCode, error_line, exit_code_for_error, remedy
from harvesters.oai.errors import ResumptionTokenLoop, ResumptionTokensExpired
from harvesters.transport import ConnectFailed
from mdstore.errors import (
    ConfigError,
    InterruptedTransaction,
    OAIProtocolError,
    PageTooLarge,
    StoreError,
    StoreFull,
    TransactionError,
    TransportError,
    WriterLockError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad", field="mdstore"), ExitCode.USAGE),
        (StoreError("damaged"), ExitCode.FAILED),
        (TransactionError("no open transaction to resume"), ExitCode.FAILED),
        (WriterLockError("held by a live writer"), ExitCode.FAILED),
        (WriterLockError("presumed dead", takeover=True), ExitCode.FAILED),
        (InterruptedTransaction("open"), ExitCode.RESUMABLE),
        (StoreFull("the disk is full"), ExitCode.RESUMABLE),
        (PageTooLarge("too large"), ExitCode.RESUMABLE),
        (ResumptionTokensExpired("refused"), ExitCode.RESUMABLE),
        (ResumptionTokenLoop("loop"), ExitCode.FAILED),
        (OAIProtocolError("badArgument"), ExitCode.FAILED),
        (TransportError("refused", status=503), ExitCode.RESUMABLE),
        (TransportError("gone", status=404), ExitCode.FAILED),
        (ConnectFailed("unreachable"), ExitCode.RESUMABLE),
        (ValueError("a bug"), ExitCode.FAILED),
    ],
)
def test_exit_code_by_class(error, code):
    assert exit_code_for_error(error) is code


def test_the_cli_adds_the_flags_to_the_message():
    where = {"unit": "ds/oai_dc/store/native", "version": "v00000007"}
    assert error_line(InterruptedTransaction("an interrupted harvest (v00000007) is open", **where)) == (
        "error: ds/oai_dc/store/native: v00000007: an interrupted harvest (v00000007) is open; "
        "continue it with --resume or drop it with --abort"
    )
    assert error_line(InterruptedTransaction("its writer stopped beating", takeover=True, **where)) == (
        "error: ds/oai_dc/store/native: v00000007: its writer stopped beating; if that process is gone, "
        "continue it with --resume --force or drop it with --abort --force"
    )
    assert error_line(WriterLockError("this host cannot check", takeover=True, **where)) == (
        "error: ds/oai_dc/store/native: v00000007: this host cannot check; "
        "take it over with --force if that process is gone"
    )
    assert error_line(StoreFull("the disk is full (/x): what was written is kept")) == (
        "error: the disk is full (/x): what was written is kept; free space, then continue with --resume"
    )
    assert remedy(WriterLockError("held by a live writer", **where)) == ""
    assert error_line(StoreError("damaged", **where)) == "error: ds/oai_dc/store/native: v00000007: damaged"


def test_the_outcome_survives_pickling():
    """Errors cross process boundaries (Airflow, worker pools) with their outcome intact."""
    for error in (
        InterruptedTransaction("open", takeover=True, unit="u", version="v"),
        WriterLockError("stale", takeover=True, unit="u"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (str(copy), copy.takeover, copy.resumable) == (str(error), True, error.resumable)
