"""What the executor and a task process tell each other, as JSON."""

from __future__ import annotations

from executor.spec import TryResult, TrySpec


def test_a_spec_round_trips_and_names_no_database() -> None:
    spec = TrySpec(
        dags_folder="/dags",
        relative_fileloc="team/etl.py",
        dag_id="etl",
        task_id="load",
        run_id="manual__1",
        try_number=2,
        max_tries=3,
        lease_id="secret-lease",
        run_type="manual",
        logical_date="2026-01-01T00:00:00+00:00",
        data_interval_start="",
        data_interval_end="",
        conf_json='{"x": 1}',
        state_targets=["127.0.0.1:50051"],
    )
    assert TrySpec.from_json(spec.to_json()) == spec
    assert "database" not in spec.to_json().decode().lower()
    assert "token" not in spec.to_json().decode().lower()


def test_a_result_round_trips_with_xcom_pairs_as_tuples() -> None:
    result = TryResult(
        outcome="success",
        process_started_at="2026-01-01T00:00:00+00:00",
        skip_task_ids=["b"],
        xcoms=[("return_value", "42"), ("n", '"x"')],
    )
    assert TryResult.from_json(result.to_json()) == result


def test_a_failure_keeps_its_error() -> None:
    result = TryResult(
        outcome="failed", error_type="ValueError", error_message="bad", error_traceback="tb"
    )
    again = TryResult.from_json(result.to_json())
    assert (again.error_type, again.error_message, again.error_traceback) == (
        "ValueError",
        "bad",
        "tb",
    )
