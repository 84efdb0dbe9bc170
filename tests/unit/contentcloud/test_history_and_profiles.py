"""The run history (rows, outcomes, replacement, order), its SVG plots, and the profile writer."""

from __future__ import annotations

import pytest

from contentcloud.datasources import WRITTEN_HEADER, DatasourceRegistry, remove_profile, write_profile
from contentcloud.history import RunHistory, history_row, run_outcome
from contentcloud.sources.plots import history_plots, line_plot
from mdstore.errors import ConfigError


def report(run_id: str, finished: str, *, collect_outcome: str = "finished", errors: int = 0) -> dict:
    return {
        "datasource": "ds",
        "run_id": run_id,
        "finished_at": finished,
        "seconds": 3.5,
        "errors": errors,
        "steps": [
            {"step": "collect", "outcome": collect_outcome, "read": 10, "written": 10, "added": 8,
             "updated": 2, "deleted": 1, "errors": 0, "seconds": 1.25, "message": "ignored"},
            {"step": "transform", "outcome": "finished", "read": 10, "written": 9, "added": 9,
             "updated": 0, "deleted": 1, "errors": errors, "seconds": 2.25},
        ],
    }  # fmt: skip


def test_a_history_row_counts_harvested_transformed_deleted_and_keeps_the_steps():
    assert history_row(report("r1", "2026-01-01T00:00:00+00:00")) == {
        "datasource": "ds",
        "run_id": "r1",
        "finished_at": "2026-01-01T00:00:00+00:00",
        "outcome": "finished",
        "records_in": 10,
        "records_out": 9,
        "errors": 0,
        "deleted": 1,
        "seconds": 3.5,
        "steps": [
            {"step": "collect", "outcome": "finished", "read": 10, "written": 10, "added": 8, "updated": 2,
             "deleted": 1, "errors": 0, "seconds": 1.25},
            {"step": "transform", "outcome": "finished", "read": 10, "written": 9, "added": 9, "updated": 0,
             "deleted": 1, "errors": 0, "seconds": 2.25},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("outcomes", "errors", "expected"),
    [
        ([], 0, "nothing_to_do"),
        (["finished", "failed"], 0, "failed"),
        (["failed_resumable"], 0, "failed"),
        (["finished", "finished"], 3, "finished_with_record_errors"),
        (["nothing_to_do", "nothing_to_do"], 0, "nothing_to_do"),
        (["finished", "nothing_to_do"], 0, "finished"),
    ],
)
def test_the_outcome_of_a_run_is_its_worst_step(outcomes, errors, expected):
    steps = [{"outcome": o, "errors": errors if i == 0 else 0} for i, o in enumerate(outcomes)]
    assert run_outcome(steps) == expected


def test_the_history_keeps_runs_oldest_first_and_a_reported_run_once(tmp_path):
    history = RunHistory(tmp_path / "var" / "run-history.sqlite")
    assert history.runs("ds") == []
    history.record(report("r2", "2026-01-02T00:00:00+00:00"))
    history.record(report("r1", "2026-01-01T00:00:00+00:00"))
    history.record(report("r2", "2026-01-02T00:00:00+00:00", errors=4))  # the report task ran again
    history.record({**report("x", "2026-01-03T00:00:00+00:00"), "datasource": "other"})
    runs = history.runs("ds")
    assert [(r["run_id"], r["errors"], r["outcome"]) for r in runs] == [
        ("r1", 0, "finished"),
        ("r2", 4, "finished_with_record_errors"),
    ]
    assert [r["run_id"] for r in history.runs("ds", limit=1)] == ["r2"]
    assert [r["run_id"] for r in history.runs("other")] == ["x"]


def test_runs_finishing_in_the_same_second_keep_the_order_they_were_recorded_in(tmp_path):
    history = RunHistory(tmp_path / "run-history.sqlite")
    same_second = "2026-01-01T00:00:00+00:00"
    for run_id in ("run-z", "run-a", "run-m"):  # random ids: their sort order means nothing
        history.record(report(run_id, same_second))
    assert [r["run_id"] for r in history.runs("ds")] == ["run-z", "run-a", "run-m"]
    assert [r["run_id"] for r in history.runs("ds", limit=2)] == ["run-a", "run-m"]


def test_plots_carry_every_value_and_escape_labels():
    svg = line_plot("p", "<title>", ["a&b", "c"], {"in <x>": [1.0, 250.0]}, "records")
    assert svg.startswith('<svg id="p" class="plot"')
    assert "<title>&lt;title&gt;</title>" in svg
    assert svg.count("<circle") == 2
    assert 'data-value="250"' in svg and 'data-value="1"' in svg
    assert "a&amp;b: in &lt;x&gt; 1" in svg
    assert ">500<" in svg  # the axis is rounded up: 250 -> 500
    rows = [history_row(report("r1", "2026-01-01T00:00:00+00:00"))]
    both = history_plots(rows)
    assert both.count("<svg") == 2 and 'id="plot-durations"' in both
    durations = both[both.index('id="plot-durations"') :]
    assert durations.count("<rect") == 2 + 2  # one bar of two steps stacked, and their legend
    assert "2026-01-01 00:00: transform 2.25 seconds" in durations
    assert history_plots([]) == ""


def profile(datasource_id: str = "src", **extra) -> dict:
    return {
        "id": datasource_id,
        "name": "Source",
        "nsprefix": "src",
        "api": {"protocol": "oai", "baseurl": "http://127.0.0.1:9/oai", "metadata_prefix": "oai_dc"},
        **extra,
    }


def test_the_writer_validates_writes_one_file_and_refuses_a_second_id(tmp_path):
    path = write_profile(tmp_path, profile())
    assert path == tmp_path / "src.yaml"
    assert path.read_text() == WRITTEN_HEADER + (
        "id: src\nname: Source\nnsprefix: src\napi:\n  protocol: oai\n  baseurl: http://127.0.0.1:9/oai\n"
        "  metadata_prefix: oai_dc\n"
    )
    assert DatasourceRegistry(tmp_path).get("src").name == "Source"
    with pytest.raises(ConfigError) as raised:
        write_profile(tmp_path, profile())
    assert str(raised.value) == f"{path}: id: a datasource 'src' is already registered (src.yaml)"
    (tmp_path / "hand-written.yaml").write_text(path.read_text().replace("id: src", "id: other"))
    with pytest.raises(ConfigError, match="already registered \\(hand-written.yaml\\)"):
        write_profile(tmp_path, profile("other"))
    replaced = write_profile(tmp_path, profile("other", enabled=False), replace=True)
    assert replaced == tmp_path / "hand-written.yaml"  # an edit keeps the file name
    assert DatasourceRegistry(tmp_path).get("other").enabled is False
    with pytest.raises(ConfigError) as raised:
        write_profile(tmp_path, profile("bad", api={"protocol": "oai", "baseurl": "http://u:p@h/oai"}))
    assert raised.value.rule == "required"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hand-written.yaml", "src.yaml"]
    assert remove_profile(tmp_path, "other") == tmp_path / "hand-written.yaml"
    with pytest.raises(ConfigError, match="unknown datasource 'other'"):
        remove_profile(tmp_path, "other")
