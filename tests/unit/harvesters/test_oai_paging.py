"""Resumption-token paging with a scripted client (a unit test: the client is a stand-in)."""

from __future__ import annotations

import pytest

from harvesters.oai.errors import (
    BadResumptionToken,
    NoRecordsMatch,
    ResumptionTokenLoop,
    ResumptionTokensExpired,
)
from harvesters.oai.iterator import MAX_WINDOW_FALLBACKS, ListIterator, ListState
from harvesters.oai.models import Header, ListPage, OAIRecord, ResumptionToken


def page(ids, token=None, stamp="2020-01-01T00:00:00Z"):
    return ListPage(
        [OAIRecord(Header(i, stamp), b"<r/>") for i in ids],
        ResumptionToken(token=token) if token is not None else None,
    )


class ScriptedClient:
    endpoint = "http://x/oai"
    datasource = "ds"

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def list_page(self, params, *, page):
        self.calls.append(dict(params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(client, state=None, granularity="YYYY-MM-DDThh:mm:ssZ"):
    state = state or ListState()
    iterator = ListIterator(
        client, verb="ListRecords", metadata_prefix="oai_dc", state=state, granularity=granularity
    )
    return [(p, s) for p, s in iterator]


def test_pages_follow_tokens_and_states_count():
    client = ScriptedClient([page(["a", "b"], "t1"), page(["c"], "")])
    results = run(client)
    assert [s.as_dict() | {} for _, s in results][-1] == {
        "set": None,
        "from_": None,
        "until": None,
        "token": None,
        "pages": 2,
        "records": 3,
        "last_datestamp": "2020-01-01T00:00:00Z",
        "done": True,
        "fallbacks": 0,
        "expected_total": None,
        "windows": 0,
    }
    assert client.calls == [
        {"verb": "ListRecords", "metadataPrefix": "oai_dc"},
        {"verb": "ListRecords", "resumptionToken": "t1"},
    ]


def test_no_records_match_first_is_empty_and_after_a_token_is_the_end():
    assert run(ScriptedClient([NoRecordsMatch("none")]))[0][1].done
    results = run(ScriptedClient([page(["a"], "t1"), NoRecordsMatch("none")]))
    assert [s.records for _, s in results] == [1, 1]
    assert results[-1][1].done


def test_same_token_with_the_same_page_is_a_loop_but_a_constant_token_with_new_pages_is_not():
    with pytest.raises(ResumptionTokenLoop, match="the list loops"):
        run(ScriptedClient([page(["a"], "T"), page(["b"], "T"), page(["b"], "T")]))
    stateful = ScriptedClient([page(["a"], "T"), page(["b"], "T"), page(["c"], "T"), page(["d"], "")])
    assert run(stateful)[-1][1].records == 4


def test_bad_token_is_sent_once_more_after_a_pause_and_may_work():
    pauses = []
    client = ScriptedClient([page(["a"], "t1"), BadResumptionToken("expired"), page(["b"], "")])
    iterator = ListIterator(
        client,
        verb="ListRecords",
        metadata_prefix="oai_dc",
        state=ListState(),
        granularity="YYYY-MM-DDThh:mm:ssZ",
        pause=lambda: pauses.append(1),
    )
    results = list(iterator)
    assert client.calls[1:] == [{"verb": "ListRecords", "resumptionToken": "t1"}] * 2
    assert pauses == [1]
    assert (results[-1][1].records, results[-1][1].fallbacks, results[-1][1].done) == (2, 0, True)


def test_bad_token_refused_twice_falls_back_to_a_window_from_the_last_datestamp():
    refused = BadResumptionToken("expired")
    client = ScriptedClient(
        [page(["a"], "t1", stamp="2020-03-04T05:06:07Z"), refused, refused, page(["a", "b"], "")]
    )
    results = run(client, ListState(until="2021-01-01"))
    assert client.calls[-1] == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "from": "2020-03-04T05:06:07Z",
        "until": "2021-01-01",
    }
    assert (results[-1][1].fallbacks, results[-1][1].windows) == (1, 1)
    assert results[-1][1].done
    day = ScriptedClient([page(["a"], "t1", stamp="2020-03-04T05:06:07Z"), refused, refused, page([], "")])
    run(day, granularity="YYYY-MM-DD")
    assert day.calls[-1]["from"] == "2020-03-04"


def test_bad_token_on_the_first_request_is_raised_and_a_spent_budget_is_resumable():
    with pytest.raises(BadResumptionToken):
        run(ScriptedClient([BadResumptionToken("no")]))
    refused = BadResumptionToken("x")
    # every window gives a page whose token is refused twice: one stretch, the budget is spent
    answers = [page(["a"], "t")] + [refused, refused, page(["a"], "t")] * MAX_WINDOW_FALLBACKS
    client = ScriptedClient([*answers, refused, refused])
    with pytest.raises(ResumptionTokensExpired) as caught:
        run(client)
    assert caught.value.resumable
    assert str(caught.value) == (
        "ds: http://x/oai: all records, page 5: resumption token refused (x) after it was sent "
        "twice and after 3 date-window fallback(s) in a row; the 4 record(s) read so far are kept"
    )
    assert client.answers == []


def test_the_budget_counts_one_stretch_of_failures_not_the_list():
    """A window whose token works again and that moved past its start ends the stretch."""
    refused = BadResumptionToken("x")
    answers = [page(["a"], "t", stamp="2020-01-01T00:00:00Z")]
    for n in range(1, 2 * MAX_WINDOW_FALLBACKS + 1):
        stamp = f"2020-01-0{n}T00:00:00Z"
        later = f"2020-01-0{n}T12:00:00Z"
        answers += [refused, refused, page(["w"], "t", stamp=stamp), page(["v"], "t", stamp=later)]
    answers.append(page(["z"], "", stamp="2020-02-01T00:00:00Z"))
    results = run(ScriptedClient(answers))
    last = results[-1][1]
    assert (last.done, last.windows, last.fallbacks) == (True, 2 * MAX_WINDOW_FALLBACKS, 0)
    # no progress past the window's start (the same datestamp again) does not end the stretch
    stuck = [page(["a"], "t", stamp="2020-01-01T00:00:00Z")]
    stuck += [refused, refused, page(["a"], "t"), page(["a2"], "t")] * MAX_WINDOW_FALLBACKS
    with pytest.raises(ResumptionTokensExpired):
        run(ScriptedClient([*stuck, refused, refused]))


def test_resume_from_a_checkpointed_state_sends_its_token():
    client = ScriptedClient([page(["z"], "")])
    run(client, ListState.from_dict({"set": "s", "token": "t9", "pages": 9, "records": 90, "unknown": 1}))
    assert client.calls == [{"verb": "ListRecords", "resumptionToken": "t9"}]
