"""Dynamic task mapping: ``partial()``, ``expand()``, ``expand_kwargs()`` and mapped tasks.

``BashOperator.partial(task_id="echo", retries=2)`` returns an ``OperatorPartial`` holding the
fixed arguments; its ``expand(bash_command=[...])`` adds a ``MappedOperator`` to the DAG, a
node like any task (dependencies, group, pool, retries, trigger rule), that the scheduler
expands into one task instance per map index. When an instance runs, ``resolve_instance``
works out its mapped arguments and builds the concrete operator from the partial and mapped
arguments (Airflow's "unmap"). ``@task`` functions map through ``DecoratedMappedOperator``,
whose mapped arguments become the function's keyword arguments.

Two choices differ from Airflow's code, not from what DAG files see. ``MappedOperator`` is a
``BaseOperator`` subclass (Airflow's is a sibling), so the DAG, task groups, dependencies,
serialisation and the scheduler treat it as any task. And every ``BaseOperator`` argument
(retries, pool, trigger_rule...) describes the whole mapped task, so ``expand()`` refuses
them as "unmappable or already specified" (Airflow refuses most of them the same way, by
filling them in before the check).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from core.mapping import LengthSpec
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.callable_signature import check_signature
from tradewind.sdk.dag_context import current_dag, current_task_group
from tradewind.sdk.exceptions import DagDefinitionError, TradewindException
from tradewind.sdk.expand_input import (
    DictOfListsExpandInput,
    ExpandArgument,
    ExpandInput,
    ExpandKwargsArgument,
    ListOfDictsExpandInput,
    ResolvedArguments,
    ensure_return_values,
    is_mappable,
)
from tradewind.sdk.map_length import length_spec
from tradewind.sdk.xcom_arg import ResolveMixin, XComArg, iter_xcom_args

if TYPE_CHECKING:
    from tradewind.sdk.dag import DAG
    from tradewind.sdk.taskgroup import TaskGroup

#: Arguments every task takes from the DAG file only (they identify and place it).
_PLACEMENT = ("task_id", "dag", "task_group")


_PARAMETERS: dict[type[BaseOperator], dict[str, Any]] = {}


def operator_parameters(operator_class: type[BaseOperator]) -> dict[str, Any]:
    """The keyword arguments the operator class accepts, with their defaults (None if none).

    Args:
        operator_class: an operator class.

    Returns:
        The names of the parameters of every ``__init__`` of its class hierarchy.

    """
    cached = _PARAMETERS.get(operator_class)
    if cached is not None:
        return cached
    parameters: dict[str, Any] = {}
    for klass in operator_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not (isinstance(klass, type) and issubclass(klass, BaseOperator)):
            continue
        for name, parameter in inspect.signature(init).parameters.items():
            if name != "self" and parameter.kind in (
                parameter.KEYWORD_ONLY,
                parameter.POSITIONAL_OR_KEYWORD,
            ):
                default = None if parameter.default is parameter.empty else parameter.default
                parameters.setdefault(name, default)
    _PARAMETERS[operator_class] = parameters
    return parameters


def base_parameters() -> frozenset[str]:
    """The arguments of ``BaseOperator`` itself: they describe the task, not one instance."""
    return frozenset(operator_parameters(BaseOperator))


def validate_mapping_kwargs(
    operator_class: type[BaseOperator],
    method: Literal["partial", "expand"],
    kwargs: Mapping[str, Any],
) -> None:
    """Check the names (and, for expand, the values) given to ``partial()`` or ``expand()``.

    Raises:
        ValueError: an argument of ``expand()`` is not an XComArg, list, tuple or dict.
        TypeError: a name is not an argument of the operator (Airflow's messages).

    """
    accepted = operator_parameters(operator_class)
    name_of = operator_class.__name__
    if method == "expand":
        for name, value in kwargs.items():
            if name in accepted and not is_mappable(value):
                raise ValueError(
                    f"{name_of}.expand() got an unexpected type {type(value).__name__!r}"
                    f" for keyword argument {name}"
                )
    unknown = [name for name in kwargs if name not in accepted]
    if len(unknown) == 1:
        raise TypeError(f"{name_of}.{method}() got an unexpected keyword argument {unknown[0]!r}")
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise TypeError(f"{name_of}.{method}() got unexpected keyword arguments {names}")


def prevent_duplicates(
    kwargs1: Mapping[str, Any] | frozenset[str], kwargs2: Mapping[str, Any], *, fail_reason: str
) -> None:
    """Refuse an argument given twice (to partial and to expand), with Airflow's message.

    Raises:
        TypeError: ``kwargs1`` and ``kwargs2`` have names in common.

    """
    duplicated = sorted(set(kwargs1).intersection(kwargs2))
    if len(duplicated) == 1:
        raise TypeError(f"{fail_reason} argument: {duplicated[0]}")
    if duplicated:
        raise TypeError(f"{fail_reason} arguments: {', '.join(duplicated)}")


def partial(
    operator_class: type[BaseOperator],
    *,
    task_id: str,
    dag: DAG | None = None,
    task_group: TaskGroup | None = None,
    **kwargs: Any,
) -> OperatorPartial:
    """``operator_class.partial(...)``: the arguments every instance of a mapped task shares.

    Args:
        operator_class: the operator to map.
        task_id: the mapped task's id.
        dag: its DAG; the current one by default.
        task_group: its task group; the current one by default.
        **kwargs: other operator arguments (BaseOperator's and the operator's own).

    Returns:
        The partial operator; call ``expand`` or ``expand_kwargs`` on it.

    Raises:
        TypeError: an argument the operator does not take.

    """
    validate_mapping_kwargs(operator_class, "partial", kwargs)
    dag = current_dag() if dag is None else dag
    group = current_task_group(dag) if task_group is None else task_group
    return OperatorPartial(
        operator_class, {"task_id": task_id, "dag": dag, "task_group": group, **kwargs}
    )


class OperatorPartial:
    """What ``Operator.partial(...)`` returns; ``expand`` or ``expand_kwargs`` makes the task."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: Mapping[str, Any]) -> None:
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items() if k not in _PLACEMENT[1:])
        return f"{self.operator_class.__name__}.partial({shown})"

    def expand(self, **mapped_kwargs: ExpandArgument) -> MappedOperator:
        """Add the mapped task: one instance per combination of the arguments' items.

        Args:
            **mapped_kwargs: operator arguments, each a list, tuple, dict or XComArg.

        Returns:
            The mapped task.

        Raises:
            TypeError: no arguments, an unknown one, or one also given to ``partial()`` or
                that describes the task rather than an instance (a BaseOperator argument).
            ValueError: a value that cannot be mapped over.

        """
        if not mapped_kwargs:
            raise TypeError("no arguments to expand against")
        validate_mapping_kwargs(self.operator_class, "expand", mapped_kwargs)
        fixed = frozenset(self.kwargs) | base_parameters()
        prevent_duplicates(fixed, mapped_kwargs, fail_reason="unmappable or already specified")
        return self._expand(DictOfListsExpandInput(dict(mapped_kwargs)), strict=False)

    def expand_kwargs(self, kwargs: ExpandKwargsArgument, *, strict: bool = True) -> MappedOperator:
        """Add the mapped task: one instance per dict of keyword arguments.

        Args:
            kwargs: a list of dicts (or of XComArgs to dicts), or an XComArg to one.
            strict: fail an instance whose dict repeats an argument given to ``partial()``
                (without it, the dict's value wins).

        Returns:
            The mapped task.

        Raises:
            TypeError: ``kwargs`` is neither a list of dicts nor an XComArg.

        """
        check_expand_kwargs(kwargs)
        return self._expand(ListOfDictsExpandInput(kwargs), strict=strict)

    def _expand(self, expand_input: ExpandInput, *, strict: bool) -> MappedOperator:
        ensure_return_values(expand_input.value)
        partial_kwargs = dict(self.kwargs)
        task_id, dag, group = (partial_kwargs.pop(name) for name in _PLACEMENT)
        return MappedOperator(
            operator_class=self.operator_class,
            expand_input=expand_input,
            partial_kwargs=partial_kwargs,
            task_id=task_id,
            dag=dag,
            task_group=group,
            strict=strict,
        )


def check_expand_kwargs(kwargs: Any) -> None:
    """Refuse an ``expand_kwargs()`` argument that is neither a list of dicts nor an XComArg.

    Raises:
        TypeError: with Airflow's message.

    """
    if isinstance(kwargs, XComArg):
        return
    if isinstance(kwargs, Sequence) and all(isinstance(item, XComArg | Mapping) for item in kwargs):
        return
    raise TypeError(f"expected XComArg or list[dict], not {type(kwargs).__name__}")


class _Resolved(ResolveMixin):
    """A value read from XCom in a templated field: rendering gives it back unrendered."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value itself."""
        return self.value


def _same(stored: Any, value: Any) -> bool:
    try:
        return stored is value or bool(stored == value)
    except Exception:  # an odd __eq__: render the field, as for any other value
        return False


class MappedOperator(BaseOperator):
    """A mapped task: ``Operator.partial(...).expand(...)`` or ``.expand_kwargs(...)``.

    Its BaseOperator attributes (retries, pool, trigger rule...) come from the partial
    arguments and hold for every instance; the scheduler expands it once the values it maps
    over are known (see ``tradewind.sdk.serialization.map_length_message``).
    """

    is_mapped = True

    def __init__(
        self,
        *,
        operator_class: type[BaseOperator],
        expand_input: ExpandInput,
        partial_kwargs: Mapping[str, Any],
        task_id: str,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        strict: bool = False,
    ) -> None:
        self.operator_class = operator_class
        self.expand_input = expand_input
        self.partial_kwargs = dict(partial_kwargs)
        self.strict = strict
        self.template_fields = tuple(operator_class.template_fields)
        self.template_ext = tuple(operator_class.template_ext)
        self.display_fields = tuple(operator_class.display_fields)
        self.ui_color = operator_class.ui_color
        self.ui_fgcolor = operator_class.ui_fgcolor
        accepted = operator_parameters(operator_class)
        unknown = sorted(name for name in self.partial_kwargs if name not in accepted)
        if unknown:
            raise DagDefinitionError(
                f"invalid arguments were passed to {operator_class.__name__}: {', '.join(unknown)}",
                dag_id=dag.dag_id if dag is not None else None,
                task_id=task_id,
            )
        base = {k: v for k, v in self.partial_kwargs.items() if k in base_parameters()}
        super().__init__(task_id=task_id, dag=dag, task_group=task_group, **base)

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_class.__name__}): {self.task_id}>"

    @property
    def operator_name(self) -> str:
        """The mapped operator's public name ("BashOperator", "@task")."""
        return self.operator_class.custom_operator_name or self.operator_class.__name__

    @property
    def task_type(self) -> str:
        """The name of the mapped operator's class."""
        return self.operator_class.__name__

    def map_length_spec(self) -> LengthSpec:
        """Where the number of map indexes comes from (the contract's MapLength as data)."""
        return length_spec(self.expand_input)

    def iter_mapped_dependencies(self) -> Iterator[BaseOperator]:
        """The tasks whose return values the task maps over (Airflow's method)."""
        for xcom_arg in self.expand_input.iter_xcom_args():
            for operator, _ in xcom_arg.iter_references():
                yield operator

    def set_xcom_arg_dependencies(self) -> None:
        """Depend on the producers of what the task maps over and of its templated arguments."""
        found = list(self.expand_input.iter_xcom_args())
        for name in self.template_fields:
            found.extend(iter_xcom_args(self.partial_kwargs.get(name)))
        for xcom_arg in found:
            for operator, _ in xcom_arg.iter_references():
                operator.add_downstream_task(self)

    def prepare_for_execution(self) -> MappedOperator:
        """The task itself: each instance runs an operator made by ``resolve_instance``."""
        return self

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Not callable: an instance runs the operator that ``resolve_instance`` makes."""
        raise TradewindException(
            f"mapped task {self.task_id!r} cannot execute itself;"
            " run an instance of it with execute_task"
        )

    # -- instances ---------------------------------------------------------------------------

    def resolve_instance(self, context: Mapping[str, Any]) -> BaseOperator:
        """The operator of the instance ``context`` describes, its fields still to render.

        Args:
            context: the instance's context; ``context["ti"].map_index`` says which one.

        Returns:
            An operator of the mapped class with the partial and mapped arguments, in the
            mapped task's place (id, DAG, group, edges) but not added to the DAG.

        Raises:
            ExpandError: the mapped arguments cannot be worked out for that map index.
            DagDefinitionError: the operator refuses the arguments.

        """
        resolved = self.expand_input.resolve(context, task_id=self.task_id)
        operator = self.unmap(resolved.kwargs)
        self._keep_unrendered(operator, resolved)
        return operator

    def unmap(self, mapped_kwargs: Mapping[str, Any]) -> BaseOperator:
        """The concrete operator for one instance's mapped arguments (Airflow's ``unmap``).

        Args:
            mapped_kwargs: the instance's mapped arguments.

        Returns:
            The operator, not added to the DAG.

        """
        operator = self.operator_class(
            **self._unmap_kwargs(mapped_kwargs),
            task_id=self.task_id,
            dag=self.dag,
            task_group=self.task_group,
            _tw_from_mapped=True,
        )
        operator.is_setup = self.is_setup
        operator.is_teardown = self.is_teardown
        operator.trigger_rule = self.trigger_rule
        operator._on_failure_fail_dagrun = self._on_failure_fail_dagrun
        operator.upstream_task_ids = set(self.upstream_task_ids)
        operator.downstream_task_ids = set(self.downstream_task_ids)
        return operator

    def _unmap_kwargs(self, mapped_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        fixed: Mapping[str, Any] | frozenset[str] = (
            frozenset(self.partial_kwargs) | base_parameters()
            if self.strict
            else frozenset(_PLACEMENT)
        )
        prevent_duplicates(fixed, mapped_kwargs, fail_reason="unmappable or already specified")
        return {**self.partial_kwargs, **mapped_kwargs}

    def _keep_unrendered(self, operator: BaseOperator, resolved: ResolvedArguments) -> None:
        # Values read from XCom are data, not templates: Airflow leaves them unrendered.
        for name in resolved.from_xcom.intersection(self.template_fields):
            stored = getattr(operator, name, None)
            if _same(stored, resolved.kwargs[name]):
                setattr(operator, name, _Resolved(stored))

    # -- display -----------------------------------------------------------------------------

    def written_fields(self, names: Sequence[str]) -> dict[str, Any]:
        """The operator fields ``names`` as the DAG file gives them, for display.

        Args:
            names: operator attributes (templated and display fields).

        Returns:
            Each partial argument, or the expand argument mapped over, or the default; the
            argument of ``expand_kwargs`` is shown under "expand_kwargs".

        """
        defaults = operator_parameters(self.operator_class)
        expanded = self._expanded_arguments()
        shown = {
            name: expanded[name]
            if name in expanded
            else self.partial_kwargs.get(name, defaults.get(name))
            for name in names
        }
        if isinstance(self.expand_input, ListOfDictsExpandInput):
            shown["expand_kwargs"] = self.expand_input.value
        return shown

    def _expanded_arguments(self) -> dict[str, Any]:
        if isinstance(self.expand_input, DictOfListsExpandInput):
            return dict(self.expand_input.value)
        return {}


class DecoratedMappedOperator(MappedOperator):
    """A mapped ``@task``: its mapped arguments are keyword arguments of the function.

    ``partial_kwargs`` holds ``python_callable`` and the ``op_kwargs`` given to ``partial()``.
    """

    @property
    def python_callable(self) -> Any:
        """The TaskFlow function."""
        return self.partial_kwargs["python_callable"]

    @property
    def partial_op_kwargs(self) -> dict[str, Any]:
        """The function's arguments given to ``partial()``."""
        return dict(self.partial_kwargs.get("op_kwargs") or {})

    def _unmap_kwargs(self, mapped_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if self.strict:
            prevent_duplicates(
                self.partial_op_kwargs, mapped_kwargs, fail_reason="mapping already partial"
            )
        op_kwargs = {**self.partial_op_kwargs, **mapped_kwargs}
        check_signature(self.python_callable, (), op_kwargs, self.task_id)
        return {**self.partial_kwargs, "op_args": [], "op_kwargs": op_kwargs}

    def _keep_unrendered(self, operator: BaseOperator, resolved: ResolvedArguments) -> None:
        op_kwargs = getattr(operator, "op_kwargs", None)
        if not isinstance(op_kwargs, dict):
            return
        for name in resolved.from_xcom.intersection(op_kwargs):
            if _same(op_kwargs[name], resolved.kwargs[name]):
                op_kwargs[name] = _Resolved(op_kwargs[name])

    def _expanded_arguments(self) -> dict[str, Any]:
        mapped = super()._expanded_arguments()
        return {"op_args": [], "op_kwargs": {**self.partial_op_kwargs, **mapped}}
