"""TaskFlow: ``@task`` and its variants turn functions into tasks.

Calling a decorated function inside a DAG creates a task and returns an ``XComArg`` to its
return value; XComArgs passed as arguments make the new task depend on their producers and
are replaced by the XCom values when it runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from core.trigger_rules import TriggerRule
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.callable_signature import (
    check_mapping_names,
    check_signature,
    infers_multiple_outputs,
)
from tradewind.sdk.dag_context import current_dag, current_task_group
from tradewind.sdk.exceptions import TradewindException
from tradewind.sdk.expand_input import (
    DictOfListsExpandInput,
    ExpandArgument,
    ExpandInput,
    ExpandKwargsArgument,
    ListOfDictsExpandInput,
    ensure_return_values,
)
from tradewind.sdk.mapped_operator import (
    DecoratedMappedOperator,
    check_expand_kwargs,
    prevent_duplicates,
)
from tradewind.sdk.operators.bash import BashOperator
from tradewind.sdk.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
    determine_kwargs,
)
from tradewind.sdk.operators.python_virtualenv import (
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from tradewind.sdk.sensors.python import PythonSensor
from tradewind.sdk.taskgroup import unique_id
from tradewind.sdk.templating import render_template
from tradewind.sdk.xcom_arg import PlainXComArg, XComArg

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _PythonDecoratedOperator(PythonOperator):
    """The task that ``@task`` creates."""

    custom_operator_name = "@task"


class _BranchPythonDecoratedOperator(BranchPythonOperator):
    """The task that ``@task.branch`` creates."""

    custom_operator_name = "@task.branch"


class _ShortCircuitDecoratedOperator(ShortCircuitOperator):
    """The task that ``@task.short_circuit`` creates."""

    custom_operator_name = "@task.short_circuit"


class _PythonVirtualenvDecoratedOperator(PythonVirtualenvOperator):
    """The task that ``@task.virtualenv`` creates."""

    custom_operator_name = "@task.virtualenv"


class _ExternalPythonDecoratedOperator(ExternalPythonOperator):
    """The task that ``@task.external_python`` creates."""

    custom_operator_name = "@task.external_python"


class _SensorDecoratedOperator(PythonSensor):
    """The task that ``@task.sensor`` creates: the function is its poke."""

    custom_operator_name = "@task.sensor"
    template_fields = ("op_args", "op_kwargs")


class _BashDecoratedOperator(BashOperator):
    """The task that ``@task.bash`` creates: the function returns the command to run."""

    custom_operator_name = "@task.bash"
    template_fields = ("bash_command", "env", "cwd", "op_args", "op_kwargs")
    display_fields = ("python_callable", "append_env", "skip_on_exit_code")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: list[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)
        super().__init__(bash_command="", **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function for the command, render it, and run it.

        Args:
            context: the task instance's context.

        Returns:
            The last line of the command's output, through its output_processor.

        """
        merged = {**context, **self.op_kwargs}
        kwargs = determine_kwargs(self.python_callable, self.op_args, merged)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(
                "The returned value from the TaskFlow callable must be a non-empty string."
            )
        env = self.dag.get_template_env() if self.dag is not None else None
        if env is not None:
            command = render_template(command, context, env, template_ext=self.template_ext)
        self.bash_command = command
        return super().execute(context)


class _TaskDecorator(Generic[_P, _R]):
    """A function turned into a task factory: calling it creates a task, returns an XComArg.

    ``partial(...)`` fixes some of the function's arguments and ``expand(...)`` or
    ``expand_kwargs(...)`` creates a mapped task over the others, as in Airflow.
    """

    #: Lets ``XComArg.map`` refuse a TaskFlow function (Airflow's marker).
    _airflow_is_task_decorator = True

    def __init__(
        self,
        function: Callable[_P, _R],
        operator_class: type[BaseOperator],
        operator_kwargs: Mapping[str, Any],
        partial_op_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(function):
            raise TradewindException(f"@task needs a function, got {function!r}")
        self.function = function
        self.operator_class = operator_class
        self.operator_kwargs = dict(operator_kwargs)
        #: The function's arguments fixed by ``partial()``.
        self.partial_op_kwargs = dict(partial_op_kwargs or {})
        #: Set by ``@setup`` and ``@teardown``: the tasks made are setups or teardowns.
        self.is_setup = False
        self.is_teardown = False
        self.on_failure_fail_dagrun = False
        functools.update_wrapper(self, function)

    def _copy(
        self, operator_kwargs: Mapping[str, Any], partial_op_kwargs: Mapping[str, Any]
    ) -> _TaskDecorator[_P, _R]:
        copied = _TaskDecorator(
            self.function, self.operator_class, operator_kwargs, partial_op_kwargs
        )
        copied.is_setup, copied.is_teardown = self.is_setup, self.is_teardown
        copied.on_failure_fail_dagrun = self.on_failure_fail_dagrun
        return copied

    def override(self, **operator_kwargs: Any) -> _TaskDecorator[_P, _R]:
        """A copy of the decorator with other operator arguments (``task_id``, ``retries``...).

        Args:
            **operator_kwargs: operator arguments.

        Returns:
            The new decorator.

        """
        copied = self._copy({**self.operator_kwargs, **operator_kwargs}, self.partial_op_kwargs)
        copied._check_teardown_rule()
        return copied

    def partial(self, **kwargs: Any) -> _TaskDecorator[_P, _R]:
        """A copy of the decorator with some of the function's arguments fixed.

        Args:
            **kwargs: arguments of the function, shared by every mapped instance.

        Returns:
            The new decorator; call ``expand`` or ``expand_kwargs`` on it.

        Raises:
            TypeError: an argument the function does not take, or one fixed already.
            ValueError: a context key.

        """
        check_mapping_names(self.function, "partial", kwargs)
        prevent_duplicates(self.partial_op_kwargs, kwargs, fail_reason="duplicate partial")
        return self._copy(self.operator_kwargs, {**self.partial_op_kwargs, **kwargs})

    def expand(self, **map_kwargs: ExpandArgument) -> PlainXComArg:
        """Create a mapped task: one instance per combination of the arguments' items.

        Args:
            **map_kwargs: arguments of the function, each a list, tuple, dict or XComArg
                (a dict gives ``(key, value)`` items); the last one varies fastest.

        Returns:
            A reference to the instances' return values (a lazy sequence downstream).

        Raises:
            TypeError: no arguments, an unknown one, or one fixed by ``partial()``.
            ValueError: a value that cannot be mapped over, a context key, or an XComArg
                mapped with trigger rule "always".

        """
        if self.operator_kwargs.get("trigger_rule") == TriggerRule.ALWAYS and any(
            isinstance(value, XComArg) for value in map_kwargs.values()
        ):
            raise ValueError(
                "Task-generated mapping within a task using 'expand' is not allowed"
                " with trigger rule 'always'."
            )
        if not map_kwargs:
            raise TypeError("no arguments to expand against")
        check_mapping_names(self.function, "expand", map_kwargs)
        prevent_duplicates(
            self.partial_op_kwargs, map_kwargs, fail_reason="mapping already partial"
        )
        return self._expand(DictOfListsExpandInput(dict(map_kwargs)), strict=False)

    def expand_kwargs(self, kwargs: ExpandKwargsArgument, *, strict: bool = True) -> PlainXComArg:
        """Create a mapped task: one instance per dict of keyword arguments of the function.

        Args:
            kwargs: a list of dicts (or of XComArgs to dicts), or an XComArg to one.
            strict: fail an instance whose dict repeats an argument fixed by ``partial()``.

        Returns:
            A reference to the instances' return values.

        Raises:
            TypeError: ``kwargs`` is neither a list of dicts nor an XComArg.
            ValueError: an XComArg mapped with trigger rule "always".

        """
        check_expand_kwargs(kwargs)
        if (
            self.operator_kwargs.get("trigger_rule") == TriggerRule.ALWAYS
            and not isinstance(kwargs, XComArg)
            and any(
                isinstance(value, XComArg)
                for item in kwargs
                if isinstance(item, Mapping)
                for value in item.values()
            )
        ):
            raise ValueError(
                "Task-generated mapping within a task using 'expand_kwargs' is not allowed"
                " with trigger rule 'always'."
            )
        return self._expand(ListOfDictsExpandInput(kwargs), strict=strict)

    def _check_teardown_rule(self) -> None:
        if self.is_teardown and "trigger_rule" in self.operator_kwargs:
            raise TradewindException("Trigger rule not configurable for teardown tasks.")

    def _placement(self) -> tuple[dict[str, Any], str, str]:
        """The operator arguments, label and id of the next task (unique in its DAG)."""
        operator_kwargs = dict(self.operator_kwargs)
        label = operator_kwargs.pop("task_id", None) or self.function.__name__
        dag = operator_kwargs.get("dag")
        dag = current_dag() if dag is None else dag
        group = operator_kwargs.get("task_group")
        group = current_task_group(dag) if group is None else group
        if dag is not None and group is not None:
            taken = set(dag.task_dict) | set(dag.task_group_dict)
            prefix = group.child_id("")
            label = unique_id(group.child_id(label), taken)[len(prefix) :]
        if "multiple_outputs" not in operator_kwargs:
            operator_kwargs["multiple_outputs"] = infers_multiple_outputs(self.function)
        if not operator_kwargs.get("doc_md") and self.function.__doc__:
            operator_kwargs["doc_md"] = inspect.cleandoc(self.function.__doc__)
        return operator_kwargs, label, group.child_id(label) if group is not None else label

    def _mark(self, operator: BaseOperator) -> None:
        if self.is_setup:
            operator.as_setup()
        if self.is_teardown:
            operator.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)

    def __call__(self, *args: Any, **kwargs: Any) -> PlainXComArg:
        """Create the task in the current DAG.

        Arguments may be XComArgs where the function expects values, so they are not typed
        by the function's signature.

        Returns:
            A reference to its return value.

        """
        operator_kwargs, label, task_id = self._placement()
        op_kwargs = {**self.partial_op_kwargs, **kwargs}
        check_signature(self.function, args, op_kwargs, task_id)
        operator = self.operator_class(
            task_id=label,
            python_callable=self.function,
            op_args=list(args),
            op_kwargs=op_kwargs,
            **operator_kwargs,
        )
        self._mark(operator)
        return PlainXComArg(operator)

    def _expand(self, expand_input: ExpandInput, *, strict: bool) -> PlainXComArg:
        ensure_return_values(expand_input.value)
        operator_kwargs, label, task_id = self._placement()
        dag = operator_kwargs.pop("dag", None)
        group = operator_kwargs.pop("task_group", None)
        if isinstance(expand_input, DictOfListsExpandInput):
            check_signature(
                self.function,
                (),
                {**self.partial_op_kwargs, **expand_input.value},
                task_id,
                partial=True,
            )
        operator = DecoratedMappedOperator(
            operator_class=self.operator_class,
            expand_input=expand_input,
            partial_kwargs={
                **operator_kwargs,
                "python_callable": self.function,
                "op_kwargs": dict(self.partial_op_kwargs),
            },
            task_id=label,
            dag=dag,
            task_group=group,
            strict=strict,
        )
        self._mark(operator)
        return PlainXComArg(operator)


_Decorated = Callable[[Callable[_P, _R]], _TaskDecorator[_P, _R]]


class _TaskDecoratorFactory:
    """One ``@task`` flavour, usable bare (``@task``) or with arguments (``@task(retries=2)``).

    ``preset_kwargs`` are operator arguments the flavour sets itself (``@task.sensor`` sets
    ``multiple_outputs=False``, as Airflow does); passing one of them is a TypeError.
    """

    def __init__(
        self,
        operator_class: type[BaseOperator],
        preset_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.operator_class = operator_class
        self.preset_kwargs = dict(preset_kwargs or {})

    @overload
    def __call__(self, python_callable: Callable[_P, _R]) -> _TaskDecorator[_P, _R]: ...

    @overload
    def __call__(
        self, python_callable: None = None, **operator_kwargs: Any
    ) -> _Decorated[..., Any]: ...

    def __call__(
        self, python_callable: Callable[_P, _R] | None = None, **operator_kwargs: Any
    ) -> _TaskDecorator[_P, _R] | _Decorated[..., Any]:
        """Decorate a function.

        Args:
            python_callable: the function, when used without arguments.
            **operator_kwargs: operator arguments for every task made from the function.

        Returns:
            The task factory, or a decorator that makes one.

        Raises:
            TypeError: an argument the flavour sets itself.

        """
        clash = sorted(self.preset_kwargs.keys() & operator_kwargs.keys())
        if clash:
            name = self.operator_class.custom_operator_name
            raise TypeError(f"{name} sets {', '.join(clash)} itself")
        operator_kwargs = {**self.preset_kwargs, **operator_kwargs}
        if python_callable is not None:
            return _TaskDecorator(python_callable, self.operator_class, operator_kwargs)

        def decorate(function: Callable[_P, _R]) -> _TaskDecorator[_P, _R]:
            return _TaskDecorator(function, self.operator_class, operator_kwargs)

        return decorate


class _TaskNamespace(_TaskDecoratorFactory):
    """``task``: ``@task``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``, ...

    ``@task.bash``, ``@task.virtualenv``, ``@task.external_python`` and ``@task.sensor`` too:
    each attribute is one flavour of the decorator.
    """

    def __init__(self) -> None:
        super().__init__(_PythonDecoratedOperator)
        self.python = _TaskDecoratorFactory(_PythonDecoratedOperator)
        self.branch = _TaskDecoratorFactory(_BranchPythonDecoratedOperator)
        self.short_circuit = _TaskDecoratorFactory(_ShortCircuitDecoratedOperator)
        self.bash = _TaskDecoratorFactory(_BashDecoratedOperator)
        self.virtualenv = _TaskDecoratorFactory(_PythonVirtualenvDecoratedOperator)
        self.external_python = _TaskDecoratorFactory(_ExternalPythonDecoratedOperator)
        self.sensor = _TaskDecoratorFactory(
            _SensorDecoratedOperator, preset_kwargs={"multiple_outputs": False}
        )


#: The TaskFlow decorator, as Airflow's ``task``.
task = _TaskNamespace()
