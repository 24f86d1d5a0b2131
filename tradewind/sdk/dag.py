"""The DAG: a named graph of tasks with a schedule, built with ``with DAG(...)`` or ``@dag``."""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING, Any

import jinja2

from core.trigger_rules import TriggerRule
from tradewind.sdk.arguments import ArgumentChecker, Callback
from tradewind.sdk.dag_context import pop_dag, push_dag, register_dag
from tradewind.sdk.exceptions import (
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    NotFound,
    TradewindException,
)
from tradewind.sdk.graph import find_cycle, topological_order
from tradewind.sdk.params import NOTSET, DagParam, params_json
from tradewind.sdk.schedule import (
    ScheduleArgument,
    ScheduleSpec,
    parse_schedule,
    zone_name,
)
from tradewind.sdk.taskgroup import TaskGroup
from tradewind.sdk.timetables import BuiltInTimetable

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.edges import EdgeInfo
    from tradewind.testing import DagTestResult

#: Airflow's defaults.
DEFAULT_MAX_ACTIVE_RUNS = 16
DEFAULT_MAX_ACTIVE_TASKS = 16
#: The longest tag accepted (as in Airflow).
MAX_TAG_LENGTH = 100

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


class DAG:
    """A DAG: tasks, their dependencies, and when they run.

    Use it as a context manager (``with DAG("etl", schedule="@daily", ...):``) so that the
    operators created inside join it, or pass ``dag=`` to operators. A DAG is validated when
    its ``with`` block ends and again when it is loaded or serialised.

    Args:
        dag_id: the DAG's id, unique in the deployment.
        description: a one-line description.
        schedule: a cron expression, a preset ("@daily", "@once", ...), a ``timedelta``, or
            None for manual runs only.
        start_date: the first logical date; a naive datetime is taken as UTC, an aware one
            sets the time zone the cron expression is evaluated in. Taken from
            ``default_args["start_date"]`` when not given.
        end_date: the last logical date, or None.
        default_args: defaults for every task's arguments (explicit arguments win);
            ``default_args["owner"]`` names the owner.
        max_active_tasks: running task instances allowed across the DAG's runs.
        max_active_runs: runs allowed at once.
        dagrun_timeout: how long a run may last, or None.
        catchup: create the runs missed since start_date (False by default, as Airflow 3).
        on_success_callback: called with the context of the last task when a run succeeds
            (run by ``tradewind.testing.run_dag``; not part of the serialised DAG).
        on_failure_callback: called when a run fails (same remark).
        doc_md: documentation in Markdown.
        params: run arguments: plain defaults or ``Param`` objects; a run's conf overrides.
        is_paused_upon_creation: whether the DAG starts paused (None: not paused).
        render_template_as_native_obj: render templates to Python objects, not strings.
        template_searchpath: folders where template files are looked for, after the DAG's.
        template_undefined: the Jinja2 undefined class; StrictUndefined fails on typos.
        user_defined_macros: extra names for templates.
        user_defined_filters: extra Jinja2 filters.
        jinja_environment_kwargs: extra arguments for the Jinja2 environment.
        tags: labels for filtering.
        The other arguments are accepted for compatibility with Airflow and not acted on.

    """

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: ScheduleArgument = None,
        *,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        template_searchpath: str | Sequence[str] | None = None,
        template_undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
        user_defined_macros: Mapping[str, Any] | None = None,
        user_defined_filters: Mapping[str, Callable[..., Any]] | None = None,
        default_args: Mapping[str, Any] | None = None,
        max_active_tasks: int = DEFAULT_MAX_ACTIVE_TASKS,
        max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS,
        max_consecutive_failed_dag_runs: int = 0,
        dagrun_timeout: timedelta | None = None,
        catchup: bool = False,
        on_success_callback: Callback | Sequence[Callback] | None = None,
        on_failure_callback: Callback | Sequence[Callback] | None = None,
        doc_md: str | None = None,
        params: Mapping[str, Any] | None = None,
        access_control: Mapping[str, Any] | None = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: Mapping[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        tags: Collection[str] | None = None,
        owner_links: Mapping[str, str] | None = None,
        auto_register: bool = True,
        fail_fast: bool = False,
        dag_display_name: str | None = None,
        disable_bundle_versioning: bool = False,
    ) -> None:
        check = ArgumentChecker(dag_id=str(dag_id))
        self.dag_id = check.identifier("dag_id", dag_id)
        self.fileloc, self.lineno = _caller_location()
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.description = check.text("description", description, optional=True)
        self.doc_md = check.text("doc_md", doc_md, optional=True)
        self.schedule = schedule
        self.schedule_spec: ScheduleSpec = parse_schedule(schedule, check)
        #: The schedule as a timetable (Airflow's ``dag.timetable``).
        self.timetable = self.schedule_spec.timetable
        self.start_date = check.aware_datetime(
            "start_date", start_date or self.default_args.get("start_date")
        )
        self.end_date = check.aware_datetime(
            "end_date", end_date or self.default_args.get("end_date")
        )
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise check.fail(
                f"start_date ({self.start_date.isoformat()}) is after"
                f" end_date ({self.end_date.isoformat()})"
            )
        timetable = self.schedule_spec.timetable
        if self.start_date is None and getattr(timetable, "needs_start_date", False):
            raise check.fail(f"schedule {self.schedule_spec.description!r} needs a start_date")
        self.timezone: tzinfo | None = self.start_date.tzinfo if self.start_date else None
        self.timezone_name = getattr(timetable, "timezone_name", "") or self._zone_name(
            timetable, check
        )
        if isinstance(timetable, BuiltInTimetable) and not timetable.timezone_name:
            # A copy: the user's object may serve DAGs in other zones too.
            timetable = copy.copy(timetable)
            timetable.timezone_name = self.timezone_name
            self.timetable = timetable
            self.schedule_spec = replace(self.schedule_spec, timetable=timetable)
        self.catchup = check.boolean("catchup", catchup)
        self.max_active_runs = check.integer("max_active_runs", max_active_runs, minimum=1)
        limit = timetable.active_runs_limit
        if limit is not None and limit < self.max_active_runs:
            raise check.fail(
                f"Invalid max_active_runs: {type(timetable).__name__} requires"
                f" max_active_runs <= {limit}"
            )
        self.max_active_tasks = check.integer("max_active_tasks", max_active_tasks, minimum=1)
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        self.dagrun_timeout = check.duration(
            "dagrun_timeout", dagrun_timeout, optional=True, numbers=False
        )
        self.params: dict[str, Any] = _check_params(params, check)
        self.tags: list[str] = _check_tags(tags, check)
        self.is_paused_upon_creation = (
            None
            if is_paused_upon_creation is None
            else check.boolean("is_paused_upon_creation", is_paused_upon_creation)
        )
        self.on_success_callback = check.callbacks("on_success_callback", on_success_callback)
        self.on_failure_callback = check.callbacks("on_failure_callback", on_failure_callback)
        self.render_template_as_native_obj = check.boolean(
            "render_template_as_native_obj", render_template_as_native_obj
        )
        self.template_searchpath: list[str] = (
            [template_searchpath]
            if isinstance(template_searchpath, str)
            else list(template_searchpath or [])
        )
        self.template_undefined = template_undefined
        self.user_defined_macros: dict[str, Any] = dict(user_defined_macros or {})
        self.user_defined_filters: dict[str, Callable[..., Any]] = dict(user_defined_filters or {})
        self.jinja_environment_kwargs: dict[str, Any] = dict(jinja_environment_kwargs or {})
        self.access_control = access_control
        self.owner_links = dict(owner_links or {})
        self.fail_fast = fail_fast
        self.dag_display_name = dag_display_name
        self.task_dict: dict[str, BaseOperator] = {}
        self.task_group_dict: dict[str, TaskGroup] = {}
        self.task_group = TaskGroup.create_root(self)
        #: What edge labels put on edges: upstream task id -> downstream task id -> info.
        self.edge_info: dict[str, dict[str, EdgeInfo]] = {}
        self._template_env: jinja2.Environment | None = None
        if auto_register:
            register_dag(self)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    def __enter__(self) -> DAG:
        push_dag(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pop_dag()
        if exc_type is None:
            self.validate()

    # -- tasks ------------------------------------------------------------------------------

    def add_task(self, task: BaseOperator) -> None:
        """Add ``task`` to the DAG (operators created in the DAG's block are added for you).

        Args:
            task: a task that belongs to no DAG yet.

        Raises:
            DuplicateTaskIdError: when the DAG already has a task with its id.

        """
        if task.dag is self:
            return
        if task.task_id in self.task_dict or task.task_id in self.task_group_dict:
            raise DuplicateTaskIdError(
                f"task id {task.task_id!r} has already been added to the DAG",
                dag_id=self.dag_id,
                task_id=task.task_id,
            )
        if task.dag is not None:
            task.dag = self  # raises: a task belongs to one DAG only
        self.task_dict[task.task_id] = task
        task._attach(self)

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        """Add several tasks.

        Args:
            tasks: the tasks.

        """
        for task in tasks:
            self.add_task(task)

    @property
    def tasks(self) -> list[BaseOperator]:
        """The tasks, in the order they were added."""
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        """The task ids, in the order the tasks were added."""
        return list(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        """Whether the DAG has a task ``task_id``.

        Args:
            task_id: the full task id.

        """
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> BaseOperator:
        """The task ``task_id``.

        Args:
            task_id: the full task id ("group.task" inside groups).

        Returns:
            The task.

        Raises:
            NotFound: when the DAG has no such task.

        """
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise NotFound(f"task {task_id!r} not found in DAG {self.dag_id!r}") from None

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> EdgeInfo:
        """What is known about an edge: ``{"label": ...}`` for a labelled one, else ``{}``.

        Args:
            upstream_task_id: the upstream task.
            downstream_task_id: the downstream task.

        Returns:
            The edge's information.

        """
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: EdgeInfo) -> None:
        """Set (replace) what is known about an edge; ``Label`` calls it.

        Args:
            upstream_task_id: the upstream task.
            downstream_task_id: the downstream task.
            info: the information, e.g. ``{"label": "on success"}``.

        """
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = info

    @property
    def roots(self) -> list[BaseOperator]:
        """The tasks without upstream tasks."""
        return [task for task in self.tasks if not task.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        """The tasks without downstream tasks."""
        return [task for task in self.tasks if not task.downstream_task_ids]

    @property
    def owner(self) -> str:
        """The owners of the DAG's tasks, comma-separated (as Airflow shows them)."""
        return ", ".join(self.owners)

    @property
    def owners(self) -> list[str]:
        """The distinct owners of the DAG's tasks, sorted; the default owner when empty."""
        found = sorted({task.owner for task in self.tasks})
        return found or [str(self.default_args.get("owner", "airflow"))]

    @property
    def folder(self) -> str:
        """The folder of the file that created the DAG."""
        return os.path.dirname(self.fileloc)

    def downstream_graph(self) -> dict[str, set[str]]:
        """Each task id's direct downstream task ids."""
        return {task_id: task.downstream_task_ids for task_id, task in self.task_dict.items()}

    def topological_sort(self) -> list[BaseOperator]:
        """The tasks so that each comes after its upstream tasks (ties broken by task id).

        Returns:
            Every task once.

        Raises:
            DagCycleError: when the dependencies form a cycle.

        """
        self.check_cycle()
        return [self.task_dict[i] for i in topological_order(self.downstream_graph())]

    def check_cycle(self) -> None:
        """Fail when the dependencies form a cycle.

        Raises:
            DagCycleError: naming the tasks along the cycle.

        """
        cycle = find_cycle(self.downstream_graph())
        if cycle is not None:
            raise DagCycleError(cycle, dag_id=self.dag_id)

    def _zone_name(self, timetable: Any, check: ArgumentChecker) -> str:
        """The IANA name of the DAG's zone.

        A zone with none is refused only where a cron schedule reads its wall clock;
        elsewhere the zone does not matter and UTC stands in.
        """
        try:
            return zone_name(self.timezone)
        except ValueError as err:
            if getattr(timetable, "reads_wall_clock", False):
                raise check.fail(str(err)) from err
            return "UTC"

    def validate(self) -> None:
        """Check the whole DAG: the checks that need every task to be present.

        Raises:
            DagDefinitionError: for the first problem found.

        """
        self.check_cycle()
        self.check_setup_teardown()

    def check_setup_teardown(self) -> None:
        """Airflow's rules for setups and teardowns.

        Raises:
            DagDefinitionError: a task both setup and teardown, a teardown whose trigger rule
                is not all_done_setup_success, or a work task right after a setup whose
                trigger rule is not all_success (clearing an indirect setup would then behave
                differently from the first run).

        """
        for task in self.tasks:
            where = {"dag_id": self.dag_id, "task_id": task.task_id}
            if task.is_setup and task.is_teardown:
                raise DagDefinitionError("Cannot mark task as both setup and teardown", **where)
            if task.is_teardown and task.trigger_rule != TriggerRule.ALL_DONE_SETUP_SUCCESS:
                raise DagDefinitionError(
                    "a teardown task's trigger rule must be all_done_setup_success,"
                    f" not {task.trigger_rule.value}",
                    **where,
                )
            if not task.is_setup:
                continue
            for down in task.downstream_list:
                if not down.is_teardown and down.trigger_rule != TriggerRule.ALL_SUCCESS:
                    raise DagDefinitionError(
                        "Setup tasks must be followed with trigger rule ALL_SUCCESS:"
                        f" {down.task_id!r} has {down.trigger_rule.value}",
                        **where,
                    )

    def param(self, name: str, default: Any = NOTSET) -> DagParam:
        """A reference to param ``name``, resolved when a task runs.

        Args:
            name: the param's name.
            default: the value when the run has none.

        Returns:
            The reference.

        """
        return DagParam(name, default)

    # -- running ----------------------------------------------------------------------------

    def get_template_env(self) -> jinja2.Environment:
        """The Jinja2 environment that renders this DAG's templates (built once)."""
        if self._template_env is None:
            from tradewind.sdk.templating import make_template_env

            self._template_env = make_template_env(self)
        return self._template_env

    def test(
        self,
        logical_date: datetime | None = None,
        run_conf: Mapping[str, Any] | None = None,
        *,
        conf: Mapping[str, Any] | None = None,
        mark_success_pattern: str | re.Pattern[str] | None = None,
        use_executor: bool = False,
    ) -> DagTestResult:
        """Run the DAG once in this process, as Airflow's ``dag.test()``.

        Args:
            logical_date: the run's logical date (now by default).
            run_conf: the run's conf (Airflow's name; ``conf`` is the same).
            conf: the run's conf.
            mark_success_pattern: tasks whose id matches are marked success instead of run.
            use_executor: not available: the run always happens in this process.

        Returns:
            The state and XComs of every task; see ``tradewind.testing.run_dag``.

        Raises:
            TradewindException: ``use_executor=True`` (run the DAG with the services:
                ``tradewind standalone`` and ``tradewind dags trigger``).

        """
        from tradewind.testing import run_dag

        if use_executor:
            raise TradewindException(
                "dag.test(use_executor=True) is not available: dag.test() runs in this"
                " process; to run through an executor, use tradewind standalone and"
                " tradewind dags trigger --wait"
            )
        if conf is not None and run_conf is not None:
            raise TradewindException("give the run's conf once: run_conf or conf")
        return run_dag(
            self,
            conf=run_conf if run_conf is not None else conf,
            logical_date=logical_date,
            mark_success_pattern=mark_success_pattern,
        )


def _caller_location() -> tuple[str, int]:
    """The file and line of the innermost caller outside the SDK (the DAG file)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _SDK_DIR + os.sep
    ):
        frame = frame.f_back
    return os.path.abspath(frame.f_code.co_filename), frame.f_lineno


def _check_params(params: Mapping[str, Any] | None, check: ArgumentChecker) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise check.fail(f"params must be a dict, got {type(params).__name__}")
    checked = dict(params)
    for name in checked:
        if not isinstance(name, str):
            raise check.fail(f"param names must be str, got {name!r}")
    try:
        params_json(checked)
    except (TypeError, ValueError) as err:
        raise check.fail(f"param defaults must be JSON values: {err}") from err
    return checked


def _check_tags(tags: Collection[str] | None, check: ArgumentChecker) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, Collection):
        raise check.fail("tags must be a list of str")
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise check.fail(f"tags must be non-empty str, got {tag!r}")
        if len(tag) > MAX_TAG_LENGTH:
            raise check.fail(f"tag {tag!r} is longer than {MAX_TAG_LENGTH} characters")
    return list(tags)
