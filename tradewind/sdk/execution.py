"""Running one try of one task: what the executor's task process calls.

``execute_task`` renders the task's templated fields (resolving XComArgs through the task
runtime), calls ``execute``, runs the right callback and reports the outcome as a value: it
never raises because of the task's code, and a failing callback never changes the outcome.
An instance of a mapped task first works out its mapped arguments for ``ti.map_index`` and
runs the operator they make; its ``map_index_template`` names it in the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.states import TryOutcome
from tradewind.sdk import serde
from tradewind.sdk.asset_events import OutletEventAccessors, OutletEventPayload
from tradewind.sdk.context import Context, RuntimeTaskInstance, use_context
from tradewind.sdk.exceptions import TaskDeferred, TaskFailedNoRetry, TaskRescheduled, TaskSkipped
from tradewind.sdk.map_index_name import render_map_index
from tradewind.sdk.mapped_operator import MappedOperator
from tradewind.sdk.templating import render_template_fields
from tradewind.sdk.triggers.base import serialized_trigger
from tradewind.sdk.xcom_arg import XCOM_RETURN_KEY

if TYPE_CHECKING:
    from tradewind.sdk.arguments import Callback
    from tradewind.sdk.baseoperator import BaseOperator

logger = logging.getLogger("tradewind.task")


#: How one try ended (the state machine's outcomes; a try reports four of them).
TaskOutcome = TryOutcome


@dataclass(frozen=True)
class TaskError:
    """An exception, as data."""

    #: The exception's class, module-qualified unless built in ("ValueError", "mod.MyError").
    type: str
    message: str
    #: The traceback as Python prints it.
    traceback: str

    @classmethod
    def from_exception(cls, error: BaseException) -> TaskError:
        """Describe ``error``.

        Args:
            error: the exception caught.

        Returns:
            Its description.

        """
        kind = type(error)
        name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        return cls(
            type=name,
            message=str(error),
            traceback="".join(traceback.format_exception(error)),
        )


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one try of a task instance."""

    outcome: TaskOutcome
    #: The XComs to push on success, by key: "return_value" (unless None) and, with
    #: multiple_outputs, one per key of the returned dict.
    xcoms: Mapping[str, Any] = field(default_factory=dict)
    #: The downstream tasks to mark skipped (a branch not taken, a short circuit).
    skip_task_ids: frozenset[str] = frozenset()
    #: What the task raised, for FAILED and FAILED_NO_RETRY (and SKIPPED: the skip reason).
    error: TaskError | None = None
    #: Whether the failure will be retried (as the caller said); False unless FAILED.
    will_retry: bool = False
    #: Exceptions raised by callbacks; they are logged and never change the outcome.
    callback_errors: tuple[TaskError, ...] = ()
    #: A mapped instance's name, its task's ``map_index_template`` rendered after the try;
    #: None without a template and for a task that is not mapped.
    rendered_map_index: str | None = None
    #: For DEFERRED: the trigger and where the task resumes.
    deferral: Deferral | None = None
    #: For RESCHEDULED: when a reschedule-mode sensor pokes next.
    reschedule_date: datetime | None = None
    #: For SUCCESS: the extras of the outlets' events and the assets attached to aliases.
    outlet_events: tuple[OutletEventPayload, ...] = ()


@dataclass(frozen=True)
class Deferral:
    """A task's deferral, ready to store: its trigger and where it resumes, as JSON."""

    trigger_classpath: str
    trigger_kwargs_json: str
    next_method: str
    next_kwargs_json: str
    timeout: timedelta | None

    @classmethod
    def of(cls, deferred: TaskDeferred) -> Deferral:
        """The storable form of a ``TaskDeferred``.

        Raises:
            TypeError: the trigger or the kwargs hold what cannot be stored.

        """
        classpath, kwargs_json = serialized_trigger(deferred.trigger)
        return cls(
            trigger_classpath=classpath,
            trigger_kwargs_json=kwargs_json,
            next_method=deferred.method_name,
            next_kwargs_json=serde.dumps(dict(deferred.kwargs or {})),
            timeout=deferred.timeout,
        )


@dataclass(frozen=True)
class Resumption:
    """Where a deferred try resumes: the method and its keyword arguments (event included)."""

    next_method: str
    next_kwargs: Mapping[str, Any]


def execute_task(
    task: BaseOperator,
    context: Mapping[str, Any],
    *,
    will_retry: bool | None = None,
    resume: Resumption | None = None,
) -> TaskResult:
    """Run one try of ``task`` and report how it ended.

    The task is copied before its fields are rendered, so ``task`` itself is unchanged.
    The task runtime (see ``tradewind.sdk.runtime.use_runtime``) must be installed by the
    caller: XComArgs, ``ti.xcom_pull``, Variables and Connections go through it. For a
    mapped task, ``context["ti"].map_index`` says which instance runs: its mapped arguments
    are worked out (a failure of the try if they cannot be) and the operator they make runs.

    Args:
        task: the task, in its DAG.
        context: its context, from ``build_context``.
        will_retry: whether a failure of this try will be retried; by default, whether
            ``ti.try_number`` is at most ``ti.max_tries``.
        resume: for a try that deferred: call ``resume_execution`` instead of ``execute``.

    Returns:
        The outcome; on failure ``on_retry_callback`` ran when the failure will be retried,
        ``on_failure_callback`` otherwise.

    """
    prepared = task.prepare_for_execution()
    run_context: Context = {**context}
    _use_task(run_context, prepared)
    if isinstance(prepared, MappedOperator):
        # As in Airflow, the template is in the context: the task may change the values it
        # reads (``get_current_context()["name"] = ...``) before it is rendered.
        run_context["map_index_template"] = prepared.map_index_template
    if will_retry is None:
        ti = run_context["ti"]
        will_retry = ti.try_number <= ti.max_tries
    callback_errors: list[TaskError] = []
    with use_context(run_context):
        _run_callbacks(prepared.on_execute_callback, run_context, callback_errors)
        try:
            if isinstance(prepared, MappedOperator):
                prepared = prepared.resolve_instance(run_context)
                _use_task(run_context, prepared)
            render_template_fields(prepared, run_context)
            with _executing(prepared):
                if resume is not None:
                    result = prepared.resume_execution(
                        resume.next_method, dict(resume.next_kwargs), run_context
                    )
                else:
                    result = prepared.execute(run_context)
            name = render_map_index(task, run_context)
            xcoms = xcoms_to_push(prepared, result)
            skip = prepared.downstream_task_ids_to_skip(result)
        except TaskDeferred as deferred:
            try:
                deferral = Deferral.of(deferred)
            except (TypeError, ValueError) as error:
                return _failed_to_suspend(task, run_context, error, callback_errors)
            logger.info("task %s deferred: %s", task.task_id, deferred)
            return TaskResult(
                TaskOutcome.DEFERRED,
                deferral=deferral,
                callback_errors=tuple(callback_errors),
                rendered_map_index=render_map_index(task, run_context, quiet=True),
            )
        except TaskRescheduled as rescheduled:
            logger.info("task %s rescheduled to %s", task.task_id, rescheduled.reschedule_date)
            return TaskResult(
                TaskOutcome.RESCHEDULED,
                reschedule_date=rescheduled.reschedule_date,
                callback_errors=tuple(callback_errors),
                rendered_map_index=render_map_index(task, run_context, quiet=True),
            )
        except TaskSkipped as error:
            logger.info("task %s skipped: %s", task.task_id, error)
            name = render_map_index(task, run_context, quiet=True)
            _run_callbacks(prepared.on_skipped_callback, run_context, callback_errors)
            return TaskResult(
                TaskOutcome.SKIPPED,
                error=TaskError.from_exception(error),
                callback_errors=tuple(callback_errors),
                rendered_map_index=name,
            )
        except Exception as error:
            no_retry = isinstance(error, TaskFailedNoRetry)
            retrying = will_retry and not no_retry
            logger.exception("task %s failed%s", task.task_id, ", will retry" if retrying else "")
            # A failed try is still named, but a template that cannot be rendered must not
            # hide why it failed.
            name = render_map_index(task, run_context, quiet=True)
            failure_context = {**run_context, "exception": error}
            callbacks = prepared.on_retry_callback if retrying else prepared.on_failure_callback
            _run_callbacks(callbacks, failure_context, callback_errors)
            return TaskResult(
                TaskOutcome.FAILED_NO_RETRY if no_retry else TaskOutcome.FAILED,
                error=TaskError.from_exception(error),
                will_retry=retrying,
                callback_errors=tuple(callback_errors),
                rendered_map_index=name,
            )
        _run_callbacks(prepared.on_success_callback, run_context, callback_errors)
    outlet_events = run_context.get("outlet_events")
    return TaskResult(
        TaskOutcome.SUCCESS,
        outlet_events=tuple(outlet_events.outlet_events_payload())
        if isinstance(outlet_events, OutletEventAccessors)
        else (),
        xcoms=xcoms,
        skip_task_ids=frozenset(skip),
        callback_errors=tuple(callback_errors),
        rendered_map_index=name,
    )


def _failed_to_suspend(
    task: BaseOperator, context: Context, error: Exception, callback_errors: list[TaskError]
) -> TaskResult:
    """A deferral that cannot be stored fails the try without retrying: a retry would too."""
    logger.error("task %s cannot defer: %s", task.task_id, error)
    _run_callbacks(task.on_failure_callback, {**context, "exception": error}, callback_errors)
    return TaskResult(
        TaskOutcome.FAILED_NO_RETRY,
        error=TaskError.from_exception(error),
        callback_errors=tuple(callback_errors),
    )


def _use_task(context: Context, task: BaseOperator) -> None:
    """Make ``task`` the context's task (and its ti's), on copies the caller does not see."""
    context["task"] = task
    if isinstance(context.get("ti"), RuntimeTaskInstance):
        ti = dataclasses.replace(context["ti"], task=task)
        context.update(ti=ti, task_instance=ti)


#: The operator whose ``execute`` runs in this process now (the copy with rendered fields).
_running: BaseOperator | None = None


@contextlib.contextmanager
def _executing(task: BaseOperator) -> Iterator[None]:
    global _running
    _running = task
    try:
        yield
    finally:
        _running = None


def kill_running_task() -> None:
    """Call ``on_kill`` of the task running in this process, if any (Airflow does on SIGTERM).

    Its errors are logged: stopping goes on whatever the operator's clean-up does.
    """
    task = _running
    if task is None:
        return
    try:
        task.on_kill()
    except Exception:
        logger.exception("on_kill of %s failed", task.task_id)


def xcoms_to_push(task: BaseOperator, result: Any) -> dict[str, Any]:
    """The XComs a successful ``execute`` returning ``result`` pushes, as in Airflow.

    Args:
        task: the task.
        result: what ``execute`` returned.

    Returns:
        The XComs by key: none without ``do_xcom_push`` or when ``result`` is None.

    Raises:
        TypeError: when ``multiple_outputs`` is set and ``result`` is not a dict with str keys.

    """
    if not task.do_xcom_push or result is None:
        return {}
    xcoms: dict[str, Any] = {}
    if task.multiple_outputs:
        if not isinstance(result, Mapping):
            raise TypeError(
                f"Returned output was type {type(result).__name__},"
                " expected a dict for multiple_outputs"
            )
        for key, value in result.items():
            if not isinstance(key, str):
                raise TypeError(
                    "Returned dictionary keys must be strings when using multiple_outputs,"
                    f" found {key!r} ({type(key).__name__}) instead"
                )
            xcoms[key] = value
    xcoms[XCOM_RETURN_KEY] = result
    return xcoms


def _run_callbacks(
    callbacks: tuple[Callback, ...], context: Context, errors: list[TaskError]
) -> None:
    for callback in callbacks:
        try:
            callback(context)
        except Exception as error:
            logger.exception("callback %r failed", callback)
            errors.append(TaskError.from_exception(error))
