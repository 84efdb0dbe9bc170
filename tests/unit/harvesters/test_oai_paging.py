"""Resumption-token paging with a scripted client (a unit test: the client is a stand-in)."""

from __future__ import annotations

import pytest

from harvesters.oai.errors import BadResumptionToken, NoRecordsMatch, ResumptionTokenLoop
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


def test_bad_token_falls_back_to_a_window_from_the_last_datestamp():
    client = ScriptedClient(
        [page(["a"], "t1", stamp="2020-03-04T05:06:07Z"), BadResumptionToken("expired"), page(["a", "b"], "")]
    )
    results = run(client, ListState(until="2021-01-01"))
    assert client.calls[-1] == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "from": "2020-03-04T05:06:07Z",
        "until": "2021-01-01",
    }
    assert results[-1][1].fallbacks == 1
    assert results[-1][1].done
    day = ScriptedClient(
        [page(["a"], "t1", stamp="2020-03-04T05:06:07Z"), BadResumptionToken("x"), page([], "")]
    )
    run(day, granularity="YYYY-MM-DD")
    assert day.calls[-1]["from"] == "2020-03-04"


def test_bad_token_on_the_first_request_or_too_often_is_raised():
    with pytest.raises(BadResumptionToken):
        run(ScriptedClient([BadResumptionToken("no")]))
    answers = (
        [page(["a"], "t")]
        + [BadResumptionToken("x"), page(["a"], "t")] * MAX_WINDOW_FALLBACKS
        + [BadResumptionToken("x")]
    )
    with pytest.raises(BadResumptionToken):
        run(ScriptedClient(answers))


def test_resume_from_a_checkpointed_state_sends_its_token():
    client = ScriptedClient([page(["z"], "")])
    run(client, ListState.from_dict({"set": "s", "token": "t9", "pages": 9, "records": 90, "unknown": 1}))
    assert client.calls == [{"verb": "ListRecords", "resumptionToken": "t9"}]
