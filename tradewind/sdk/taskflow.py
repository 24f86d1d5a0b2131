"""TaskFlow: ``@task`` and its variants turn functions into tasks.

Calling a decorated function inside a DAG creates a task and returns an ``XComArg`` to its
return value; XComArgs passed as arguments make the new task depend on their producers and
are replaced by the XCom values when it runs.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.context import CONTEXT_KEYS
from tradewind.sdk.dag_context import current_dag, current_task_group
from tradewind.sdk.exceptions import DagDefinitionError, TradewindException
from tradewind.sdk.operators.bash import BashOperator
from tradewind.sdk.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
    determine_kwargs,
)
from tradewind.sdk.taskgroup import unique_id
from tradewind.sdk.templating import render_template
from tradewind.sdk.xcom_arg import XComArg

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


def _infers_multiple_outputs(function: Callable[..., Any]) -> bool:
    """Whether the return annotation is a dict type, which Airflow takes as multiple_outputs."""
    try:
        annotation = typing.get_type_hints(function).get("return")
    except Exception:  # unresolvable forward references: no inference, as in Airflow
        return False
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _check_signature(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], task_id: str
) -> None:
    """Fail at DAG build time when the call does not fit the function's signature."""
    signature = inspect.signature(function)
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name in CONTEXT_KEYS:
            if parameter.default not in (None, inspect.Parameter.empty):
                raise DagDefinitionError(
                    f"context key parameter {parameter.name!r} can't have a default"
                    " other than None",
                    task_id=task_id,
                )
            parameter = parameter.replace(default=None)
        parameters.append(parameter)
    try:
        signature.replace(parameters=parameters).bind(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise DagDefinitionError(
            f"bad arguments for {function.__name__}(): {err}", task_id=task_id
        ) from err


class _TaskDecorator(Generic[_P, _R]):
    """A function turned into a task factory: calling it creates a task, returns an XComArg."""

    def __init__(
        self,
        function: Callable[_P, _R],
        operator_class: type[BaseOperator],
        operator_kwargs: Mapping[str, Any],
    ) -> None:
        if not callable(function):
            raise TradewindException(f"@task needs a function, got {function!r}")
        self.function = function
        self.operator_class = operator_class
        self.operator_kwargs = dict(operator_kwargs)
        #: Set by ``@setup`` and ``@teardown``: the tasks made are setups or teardowns.
        self.is_setup = False
        self.is_teardown = False
        self.on_failure_fail_dagrun = False
        functools.update_wrapper(self, function)

    def override(self, **operator_kwargs: Any) -> _TaskDecorator[_P, _R]:
        """A copy of the decorator with other operator arguments (``task_id``, ``retries``...).

        Args:
            **operator_kwargs: operator arguments.

        Returns:
            The new decorator.

        """
        copied = _TaskDecorator(
            self.function, self.operator_class, {**self.operator_kwargs, **operator_kwargs}
        )
        copied.is_setup, copied.is_teardown = self.is_setup, self.is_teardown
        copied.on_failure_fail_dagrun = self.on_failure_fail_dagrun
        copied._check_teardown_rule()
        return copied

    def _check_teardown_rule(self) -> None:
        if self.is_teardown and "trigger_rule" in self.operator_kwargs:
            raise TradewindException("Trigger rule not configurable for teardown tasks.")

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        """Create the task in the current DAG.

        Arguments may be XComArgs where the function expects values, so they are not typed
        by the function's signature.

        Returns:
            A reference to its return value.

        """
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
        _check_signature(self.function, args, kwargs, group.child_id(label) if group else label)
        if "multiple_outputs" not in operator_kwargs:
            operator_kwargs["multiple_outputs"] = _infers_multiple_outputs(self.function)
        if not operator_kwargs.get("doc_md") and self.function.__doc__:
            operator_kwargs["doc_md"] = inspect.cleandoc(self.function.__doc__)
        operator = self.operator_class(
            task_id=label,
            python_callable=self.function,
            op_args=list(args),
            op_kwargs=dict(kwargs),
            **operator_kwargs,
        )
        if self.is_setup:
            operator.as_setup()
        if self.is_teardown:
            operator.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        return XComArg(operator)


_Decorated = Callable[[Callable[_P, _R]], _TaskDecorator[_P, _R]]


class _TaskDecoratorFactory:
    """One ``@task`` flavour, usable bare (``@task``) or with arguments (``@task(retries=2)``)."""

    def __init__(self, operator_class: type[BaseOperator]) -> None:
        self.operator_class = operator_class

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

        """
        if python_callable is not None:
            return _TaskDecorator(python_callable, self.operator_class, operator_kwargs)

        def decorate(function: Callable[_P, _R]) -> _TaskDecorator[_P, _R]:
            return _TaskDecorator(function, self.operator_class, operator_kwargs)

        return decorate


class _TaskNamespace(_TaskDecoratorFactory):
    """``task``: ``@task``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``, ...

    ``@task.bash`` too: each attribute is one flavour of the decorator.
    """

    def __init__(self) -> None:
        super().__init__(_PythonDecoratedOperator)
        self.python = _TaskDecoratorFactory(_PythonDecoratedOperator)
        self.branch = _TaskDecoratorFactory(_BranchPythonDecoratedOperator)
        self.short_circuit = _TaskDecoratorFactory(_ShortCircuitDecoratedOperator)
        self.bash = _TaskDecoratorFactory(_BashDecoratedOperator)


#: The TaskFlow decorator, as Airflow's ``task``.
task = _TaskNamespace()
