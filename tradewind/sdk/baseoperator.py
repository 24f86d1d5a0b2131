"""BaseOperator: a task of a DAG, with Airflow's arguments and ``default_args`` handling."""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from core.deferral import TRIGGER_FAIL_METHOD, TriggerFailureReason
from core.graph import reachable
from core.trigger_rules import TriggerRule
from tradewind.sdk import templating
from tradewind.sdk.arguments import ArgumentChecker, Callback
from tradewind.sdk.dag_context import current_dag, current_task_group
from tradewind.sdk.default_args import apply_default_args
from tradewind.sdk.dependencies import DependencyMixin
from tradewind.sdk.exceptions import (
    DagDefinitionError,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
    TradewindException,
)
from tradewind.sdk.setup_teardown_scope import close_scope, note_created, open_scope
from tradewind.sdk.xcom_arg import PlainXComArg, iter_xcom_args

if TYPE_CHECKING:
    import jinja2

    from core.mapping import LengthSpec
    from tradewind.sdk.dag import DAG
    from tradewind.sdk.mapped_operator import OperatorPartial
    from tradewind.sdk.mapped_task_group import MappedTaskGroup
    from tradewind.sdk.taskgroup import TaskGroup

#: Airflow's defaults.
DEFAULT_OWNER = "airflow"
DEFAULT_POOL = "default_pool"
DEFAULT_QUEUE = "default"
DEFAULT_RETRY_DELAY = timedelta(seconds=300)
DEFAULT_PRIORITY_WEIGHT = 1


class WeightRule(StrEnum):
    """How a task's effective priority is computed from ``priority_weight``."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"


class _PartialDescriptor:
    """``Operator.partial(...)``: the first half of dynamic task mapping, on classes only."""

    def __get__(
        self, instance: BaseOperator | None, owner: type[BaseOperator]
    ) -> Callable[..., OperatorPartial]:
        if instance is not None:

            def partial(**kwargs: Any) -> OperatorPartial:
                raise TypeError(
                    "partial can only be called on Operator classes, not Tasks themselves"
                )

            return partial
        from tradewind.sdk.mapped_operator import partial as partial_of

        return functools.partial(partial_of, owner)


class BaseOperator(DependencyMixin):
    """A task: subclasses implement ``execute(context)``.

    Every argument is keyword-only, as in Airflow; arguments not given are taken from the
    DAG's (and task group's) ``default_args``.
    """

    #: Attributes rendered with Jinja2 before ``execute``.
    template_fields: Sequence[str] = ()
    #: A templated string ending with one of these is the name of a template file.
    template_ext: Sequence[str] = ()
    #: Operator attributes shown in the serialised DAG besides the template fields.
    display_fields: Sequence[str] = ()
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    #: The name shown for the operator instead of its class's (``@task`` for TaskFlow tasks).
    custom_operator_name: str | None = None
    #: A setup task makes what the tasks downstream of it use (see ``as_setup``).
    is_setup: bool = False
    #: A teardown task removes it once they are done, even if they failed (``as_teardown``).
    is_teardown: bool = False
    _on_failure_fail_dagrun: bool = False
    #: ``BashOperator.partial(task_id=..., ...)``: fixed arguments of a mapped task; its
    #: ``expand(...)`` or ``expand_kwargs(...)`` then adds the task (see ``mapped_operator``).
    partial = _PartialDescriptor()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = apply_default_args(cls.__dict__["__init__"])  # type: ignore[method-assign]

    @apply_default_args
    def __init__(
        self,
        *,
        task_id: str,
        owner: str = DEFAULT_OWNER,
        email: str | Sequence[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: timedelta | float = DEFAULT_RETRY_DELAY,
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: Any = None,
        end_date: Any = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_past_depends_before_skipping: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: Mapping[str, Any] | None = None,
        default_args: Mapping[str, Any] | None = None,
        priority_weight: int = DEFAULT_PRIORITY_WEIGHT,
        weight_rule: str = WeightRule.DOWNSTREAM,
        queue: str = DEFAULT_QUEUE,
        pool: str | None = None,
        pool_slots: int = 1,
        execution_timeout: timedelta | None = None,
        on_execute_callback: Callback | Sequence[Callback] | None = None,
        on_failure_callback: Callback | Sequence[Callback] | None = None,
        on_success_callback: Callback | Sequence[Callback] | None = None,
        on_retry_callback: Callback | Sequence[Callback] | None = None,
        on_skipped_callback: Callback | Sequence[Callback] | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor_config: Mapping[str, Any] | None = None,
        run_as_user: str | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        task_group: TaskGroup | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        map_index_template: str | None = None,
        inlets: Any | None = None,
        outlets: Any | None = None,
        **kwargs: Any,
    ) -> None:
        # Set when a mapped task makes the operator of one of its instances: it takes the mapped
        # task's place in the DAG (same id, group and edges) without being added to them.
        from_mapped = bool(kwargs.pop("_tw_from_mapped", False))
        if not from_mapped:
            dag = current_dag() if dag is None else dag
            group = current_task_group(dag) if task_group is None else task_group
        else:
            group = task_group
        if dag is None and group is not None:
            dag = group.dag
        dag_id = dag.dag_id if dag is not None else None
        ArgumentChecker(dag_id=dag_id, task_id=str(task_id)).identifier("task_id", task_id)
        self.task_id = group.child_id(task_id) if group is not None and not from_mapped else task_id
        check = ArgumentChecker(dag_id=dag_id, task_id=self.task_id)
        if kwargs:
            raise check.fail(
                f"invalid arguments were passed to {type(self).__name__}:"
                f" {', '.join(sorted(kwargs))}"
            )
        self.owner = check.non_empty_text("owner", owner)
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        self.retries = check.integer("retries", 0 if retries is None else retries, minimum=0)
        self.retry_delay: timedelta = check.duration("retry_delay", retry_delay)  # type: ignore[assignment]
        self.retry_exponential_backoff = check.boolean(
            "retry_exponential_backoff", retry_exponential_backoff
        )
        self.max_retry_delay = check.duration("max_retry_delay", max_retry_delay, optional=True)
        self.execution_timeout = check.duration(
            "execution_timeout", execution_timeout, optional=True, numbers=False
        )
        self.start_date = start_date
        self.end_date = end_date
        self.depends_on_past = depends_on_past
        self.ignore_first_depends_on_past = ignore_first_depends_on_past
        self.wait_for_past_depends_before_skipping = wait_for_past_depends_before_skipping
        self.wait_for_downstream = wait_for_downstream
        self.params: dict[str, Any] = dict(params or {})
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.priority_weight = check.integer("priority_weight", priority_weight)
        self.weight_rule = WeightRule(check.choice("weight_rule", weight_rule, list(WeightRule)))
        self.queue = check.non_empty_text("queue", queue)
        self.pool = check.non_empty_text("pool", DEFAULT_POOL if pool is None else pool)
        self.pool_slots = check.integer("pool_slots", pool_slots, minimum=1)
        self.on_execute_callback = check.callbacks("on_execute_callback", on_execute_callback)
        self.on_failure_callback = check.callbacks("on_failure_callback", on_failure_callback)
        self.on_success_callback = check.callbacks("on_success_callback", on_success_callback)
        self.on_retry_callback = check.callbacks("on_retry_callback", on_retry_callback)
        self.on_skipped_callback = check.callbacks("on_skipped_callback", on_skipped_callback)
        self.trigger_rule = TriggerRule(
            check.choice("trigger_rule", trigger_rule, list(TriggerRule))
        )
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.executor_config = dict(executor_config or {})
        self.run_as_user = run_as_user
        self.do_xcom_push = check.boolean("do_xcom_push", do_xcom_push)
        self.multiple_outputs = check.boolean("multiple_outputs", multiple_outputs)
        self.doc = doc
        self.doc_md = check.text("doc_md", doc_md, optional=True)
        self.doc_json = doc_json
        self.doc_yaml = doc_yaml
        self.doc_rst = doc_rst
        self.task_display_name = task_display_name
        self.map_index_template = check.text(
            "map_index_template", map_index_template, optional=True
        )
        #: What the task reads and produces (assets, aliases, references; other lineage objects
        #: are kept but carry no asset semantics, as in Airflow).
        self.inlets: list[Any] = _as_list(inlets)
        self.outlets: list[Any] = _as_list(outlets)
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self._dag: DAG | None = None
        self.task_group: TaskGroup | None = group
        self._from_mapped = from_mapped
        if from_mapped:
            self._dag = dag
            return
        if dag is not None:
            self.dag = dag
        if group is not None:
            group.add(self)
        note_created(self)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    # -- membership -------------------------------------------------------------------------

    @property
    def dag(self) -> DAG | None:
        """The DAG of the task, None until it joins one."""
        return self._dag

    @dag.setter
    def dag(self, dag: DAG) -> None:
        if self._dag is dag:
            return
        if self._dag is not None:
            raise DagDefinitionError(
                f"the task already belongs to DAG {self._dag.dag_id!r};"
                " a task can belong to one DAG only",
                dag_id=dag.dag_id,
                task_id=self.task_id,
            )
        dag.add_task(self)

    def _attach(self, dag: DAG) -> None:
        """Called by ``DAG.add_task`` once the DAG accepted the task."""
        self._dag = dag
        if self.task_group is None:
            self.task_group = dag.task_group
            dag.task_group.add(self)

    @property
    def dag_id(self) -> str:
        """The id of the task's DAG, or "adhoc_<owner>" outside any DAG (as in Airflow)."""
        return self._dag.dag_id if self._dag is not None else f"adhoc_{self.owner}"

    @property
    def label(self) -> str:
        """The task id without the task group prefix."""
        group_id = self.task_group.group_id if self.task_group is not None else None
        if group_id and self.task_group is not None and self.task_group.prefix_group_id:
            return self.task_id[len(group_id) + 1 :]
        return self.task_id

    @property
    def log(self) -> logging.Logger:
        """The task's logger."""
        return logging.getLogger(f"tradewind.task.operators.{type(self).__name__}")

    @property
    def output(self) -> PlainXComArg:
        """A reference to the task's return value, for use as another task's argument."""
        return PlainXComArg(self)

    # -- dependencies -----------------------------------------------------------------------

    @property
    def roots(self) -> list[BaseOperator]:
        """The task itself."""
        return [self]

    @property
    def leaves(self) -> list[BaseOperator]:
        """The task itself."""
        return [self]

    def add_downstream_task(self, other: BaseOperator) -> None:
        """Record that ``other`` runs after this task, joining both to one DAG.

        Args:
            other: the downstream task.

        """
        if self._dag is None and other._dag is None:
            raise DagDefinitionError(
                "tried to set a relationship between tasks that belong to no DAG yet;"
                f" set the DAG of {self.task_id!r} or {other.task_id!r} first",
                task_id=self.task_id,
            )
        if self._dag is not None and other._dag is not None and self._dag is not other._dag:
            raise DagDefinitionError(
                f"tried to set a relationship with task {other.task_id!r} of another DAG"
                f" ({other._dag.dag_id!r})",
                dag_id=self._dag.dag_id,
                task_id=self.task_id,
            )
        if self._dag is None and other._dag is not None:
            self.dag = other._dag
        elif other._dag is None and self._dag is not None:
            other.dag = self._dag
        self.downstream_task_ids.add(other.task_id)
        other.upstream_task_ids.add(self.task_id)

    def set_xcom_arg_dependencies(self) -> None:
        """Make this task depend on the producers of XComArgs in its templated fields."""
        if self._from_mapped:
            return  # the mapped task it stands for has the dependencies
        for field in self.template_fields:
            for xcom_arg in iter_xcom_args(getattr(self, field, None)):
                for operator, _ in xcom_arg.iter_references():
                    operator.add_downstream_task(self)

    @property
    def upstream_list(self) -> list[BaseOperator]:
        """The direct upstream tasks, sorted by task id."""
        return [self._require_dag().get_task(i) for i in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        """The direct downstream tasks, sorted by task id."""
        return [self._require_dag().get_task(i) for i in sorted(self.downstream_task_ids)]

    def get_flat_relative_ids(self, *, upstream: bool = False) -> set[str]:
        """The ids of every task upstream (or downstream) of this one, however far.

        Args:
            upstream: look upstream instead of downstream.

        Returns:
            The task ids.

        """
        dag = self._require_dag()
        edges = {
            task.task_id: task.upstream_task_ids if upstream else task.downstream_task_ids
            for task in dag.tasks
        }
        return reachable(edges, [self.task_id])

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        """The ids of the direct upstream (or downstream) tasks.

        Args:
            upstream: upstream instead of downstream.

        Returns:
            A copy of the task ids.

        """
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    # -- mapping ----------------------------------------------------------------------------

    @property
    def is_mapped(self) -> bool:
        """Whether the task is mapped: made by ``expand``, or inside a mapped task group."""
        return self.mapped_task_group() is not None

    def mapped_task_group(self) -> MappedTaskGroup | None:
        """The innermost mapped task group the task is in, or None."""
        from tradewind.sdk.mapped_task_group import mapped_group_of

        return mapped_group_of(self)

    def map_length_spec(self) -> LengthSpec:
        """Where a mapped task's number of map indexes comes from: its mapped task group's.

        Raises:
            ValueError: the task is not mapped.

        """
        group = self.mapped_task_group()
        if group is None:
            raise ValueError(f"task {self.task_id!r} is not mapped")
        from tradewind.sdk.map_length import length_spec

        return length_spec(group.expand_input)

    # -- setup and teardown -----------------------------------------------------------------

    @property
    def on_failure_fail_dagrun(self) -> bool:
        """Whether this teardown's failure fails the run (teardowns do not decide it otherwise)."""
        return self._on_failure_fail_dagrun

    @on_failure_fail_dagrun.setter
    def on_failure_fail_dagrun(self, value: bool) -> None:
        if value and not self.is_teardown:
            raise ValueError(
                f"Cannot set task on_failure_fail_dagrun for '{self.task_id}'"
                " because it is not a teardown task."
            )
        self._on_failure_fail_dagrun = value

    def as_setup(self) -> BaseOperator:
        """Make this task a setup; returns it, for chaining."""
        self.is_setup = True
        return self

    def as_teardown(
        self,
        *,
        setups: DependencyMixin | Sequence[DependencyMixin] | None = None,
        on_failure_fail_dagrun: bool | None = None,
    ) -> BaseOperator:
        """Make this task a teardown, of ``setups`` if given (they become setups upstream of it).

        Its trigger rule becomes ``all_done_setup_success``: it runs once everything upstream
        is done if one of its setups succeeded.
        """
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if setups is not None:
            for setup in [setups] if isinstance(setups, DependencyMixin) else setups:
                for task in setup.leaves:
                    task.is_setup = True
                setup >> self
        return self

    def __enter__(self) -> BaseOperator:
        if not self.is_setup and not self.is_teardown:
            raise TradewindException("Only setup/teardown tasks can be used as context managers.")
        open_scope(self)
        return self

    def __exit__(self, error_type: type[BaseException] | None, *rest: object) -> None:
        close_scope(self, wire=error_type is None)

    def argument_checker(self) -> ArgumentChecker:
        """A checker whose errors name this task and its DAG, for subclasses' arguments."""
        return ArgumentChecker(
            dag_id=self._dag.dag_id if self._dag is not None else None, task_id=self.task_id
        )

    def _require_dag(self) -> DAG:
        if self._dag is None:
            raise DagDefinitionError("the task belongs to no DAG", task_id=self.task_id)
        return self._dag

    # -- execution --------------------------------------------------------------------------

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Do the task's work. The return value is pushed as the "return_value" XCom.

        Args:
            context: the task instance's context (``ds``, ``ti``, ``params``, ...).

        Returns:
            The value to push, or None.

        """
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def defer(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | float | None = None,
    ) -> None:
        """Wait on ``trigger`` without holding a worker slot, as in Airflow.

        The try's process ends here; the triggerer runs the trigger and its first event
        resumes the task in a new process, which calls ``method_name(context, event=...,
        **kwargs)``. Past ``timeout`` the task resumes to fail (``TaskDeferralTimeout``).

        Raises:
            TaskDeferred: always; the task runner catches it.

        """
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Mapping[str, Any]
    ) -> Any:
        """Where a deferred task resumes: ``next_method`` with the event, or the trigger's error.

        Raises:
            TaskDeferralTimeout: the trigger timed out.
            TaskDeferralError: the trigger failed.

        """
        kwargs = dict(next_kwargs or {})
        if next_method == TRIGGER_FAIL_METHOD:
            trace = kwargs.get("traceback")
            if trace:
                self.log.error("Trigger failed:\n%s", "\n".join(trace))
            error = kwargs.get("error", "Unknown")
            detail = f"{error}: {kwargs['message']}" if kwargs.get("message") else str(error)
            if error == TriggerFailureReason.TRIGGER_TIMEOUT:
                raise TaskDeferralTimeout(detail)
            raise TaskDeferralError(detail)
        method = getattr(self, next_method, None)
        if method is None or not callable(method):
            raise TaskDeferralError(
                f"{type(self).__name__} has no method {next_method!r} to resume in"
            )
        return method(context, **kwargs)

    @property
    def operator_name(self) -> str:
        """The operator's public name: ``custom_operator_name``, else its class's name."""
        return self.custom_operator_name or type(self).__name__

    @property
    def task_type(self) -> str:
        """The name of the operator's class (of the operator mapped, for a mapped task)."""
        return type(self).__name__

    def on_kill(self) -> None:
        """Stop whatever ``execute`` started; called when the task is terminated."""

    def downstream_task_ids_to_skip(self, result: Any) -> set[str]:
        """The downstream tasks to skip after ``execute`` returned ``result``.

        Branching and short-circuit operators override this; others skip nothing.

        Args:
            result: what ``execute`` returned.

        Returns:
            Task ids.

        """
        return set()

    # -- templates (Airflow's methods, for custom operators) -------------------------------

    def get_template_env(self) -> jinja2.Environment:
        """The Jinja2 environment of the task's DAG (template files, macros, filters)."""
        if self.dag is not None:
            return self.dag.get_template_env()
        return templating.make_template_env(None)

    def render_template(
        self,
        content: Any,
        context: Mapping[str, Any],
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render ``content`` as the task's templated fields are rendered.

        Strings are templates (a name ending in one of ``template_ext`` is a template file,
        found next to the DAG file or in ``template_searchpath``), containers are rendered
        item by item, XComArgs and params are resolved; other objects are returned as they
        are.

        Args:
            content: what to render.
            context: the running task's context.
            jinja_env: the environment; the DAG's by default.
            seen_oids: accepted for Airflow's signature (nested objects are not walked).

        Returns:
            The rendered value.

        """
        env = jinja_env if jinja_env is not None else self.get_template_env()
        return templating.render_template(content, context, env, template_ext=self.template_ext)

    def render_template_fields(
        self, context: Mapping[str, Any], jinja_env: jinja2.Environment | None = None
    ) -> None:
        """Render the task's ``template_fields`` in place, as before ``execute`` is called.

        Raises:
            TemplateRenderError: naming the task and the field.

        """
        templating.render_template_fields(self, context, jinja_env)

    def prepare_for_execution(self) -> BaseOperator:
        """A copy of the task to render and run, so the DAG's task keeps its templates.

        Returns:
            A shallow copy.

        """
        return copy.copy(self)


def _as_list(value: Any) -> list[Any]:
    """``inlets``/``outlets`` as a list: None is none, one object a list of it."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]
