"""``@setup`` and ``@teardown``: TaskFlow tasks that make and remove what the work uses.

As in Airflow, either decorates a plain function (it becomes a ``@task``) or a ``@task``
(``@setup`` above ``@task.bash``, say). A teardown's trigger rule is
``all_done_setup_success`` and cannot be changed; its failure fails the run only with
``on_failure_fail_dagrun=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from tradewind.sdk.exceptions import TradewindException
from tradewind.sdk.taskflow import _TaskDecorator, task


def _as_task(function: Any) -> _TaskDecorator[Any, Any]:
    if isinstance(function, _TaskDecorator):
        return function
    if callable(function):
        decorated: _TaskDecorator[Any, Any] = task(function)
        return decorated
    raise TradewindException(f"@setup and @teardown need a function or a @task, got {function!r}")


def setup(function: Callable[..., Any]) -> _TaskDecorator[Any, Any]:
    """Make the tasks of ``function`` setups."""
    decorated = _as_task(function)
    decorated.is_setup = True
    return decorated


@overload
def teardown(
    function: Callable[..., Any], *, on_failure_fail_dagrun: bool = False
) -> _TaskDecorator[Any, Any]: ...


@overload
def teardown(
    function: None = None, *, on_failure_fail_dagrun: bool = False
) -> Callable[[Callable[..., Any]], _TaskDecorator[Any, Any]]: ...


def teardown(
    function: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False
) -> Any:
    """Make the tasks of ``function`` teardowns (``@teardown`` or ``@teardown(...)``)."""

    def decorate(inner: Callable[..., Any]) -> _TaskDecorator[Any, Any]:
        decorated = _as_task(inner)
        decorated.is_teardown = True
        decorated.on_failure_fail_dagrun = on_failure_fail_dagrun
        decorated._check_teardown_rule()
        return decorated

    return decorate if function is None else decorate(function)
