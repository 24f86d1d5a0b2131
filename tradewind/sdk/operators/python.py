"""PythonOperator and the operators built on it: branching and short-circuiting."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradewind.sdk.asset_events import OutletEventAccessors, call_collecting_metadata
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.operators.branch import BaseBranchOperator
from tradewind.sdk.skipping import short_circuit_skip_ids


def determine_kwargs(
    function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments to call ``function`` with, from the context and op_kwargs.

    As in Airflow: a function with ``**kwargs`` receives everything; otherwise only the
    names it declares.

    Args:
        function: the callable.
        args: its positional arguments.
        kwargs: the context merged with op_kwargs.

    Returns:
        The keyword arguments.

    Raises:
        ValueError: when a positional argument fills a parameter named like a context key.

    """
    parameters = inspect.signature(function).parameters
    for name in list(parameters)[: len(args)]:
        if name in kwargs:
            raise ValueError(
                f"The key {name!r} in args is a part of kwargs and therefore reserved."
            )
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values()):
        return dict(kwargs)
    return {name: kwargs[name] for name in parameters if name in kwargs}


class PythonOperator(BaseOperator):
    """Call a Python function; its return value becomes the "return_value" XCom.

    Args:
        python_callable: the function.
        op_args: its positional arguments (templated).
        op_kwargs: its keyword arguments (templated).
        templates_dict: a templated dict passed as ``templates_dict`` in the context.
        show_return_value_in_logs: log the return value.
        **kwargs: BaseOperator arguments.

    """

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    display_fields: Sequence[str] = ("python_callable",)
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise self.argument_checker().fail("python_callable must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = dict(templates_dict) if templates_dict is not None else None
        if templates_exts:
            self.template_ext = tuple(templates_exts)
        self.show_return_value_in_logs = show_return_value_in_logs
        # set_xcom_arg_dependencies runs after the outermost __init__, once fields are set.

    def determine_kwargs(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments the function is called with (Airflow's hook of that name).

        Args:
            context: the task instance's context.

        """
        merged = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        return determine_kwargs(self.python_callable, self.op_args, merged)

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function with its arguments and the context names it asks for.

        Args:
            context: the task instance's context.

        Returns:
            What the function returned.

        """
        kwargs = self.determine_kwargs(context)
        outlet_events = context.get("outlet_events")
        result = call_collecting_metadata(
            self.python_callable,
            self.op_args,
            kwargs,
            outlet_events if isinstance(outlet_events, OutletEventAccessors) else None,
        )
        if self.show_return_value_in_logs:
            self.log.info("Done. Returned value was: %r", result)
        return result


class BranchPythonOperator(BaseBranchOperator, PythonOperator):
    """Follow the task ids (or task group ids) the function returns; skip the other branches."""

    def choose_branch(self, context: Mapping[str, Any]) -> Any:
        """Call the function, as PythonOperator does; its return value names the branches.

        Args:
            context: the task instance's context.

        Returns:
            The task id(s) the function returned.

        """
        return PythonOperator.execute(self, context)


class ShortCircuitOperator(PythonOperator):
    """Skip the downstream tasks when the function returns a falsy value.

    Args:
        ignore_downstream_trigger_rules: skip every downstream task however far (default);
            with False only the direct downstream tasks are skipped and trigger rules decide
            the rest.
        **kwargs: PythonOperator arguments.

    """

    ui_color = "#f0ffeb"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = self.argument_checker().boolean(
            "ignore_downstream_trigger_rules", ignore_downstream_trigger_rules
        )

    def downstream_task_ids_to_skip(self, result: Any) -> set[str]:
        """The downstream tasks to skip when ``result`` is falsy.

        Args:
            result: the condition the function returned.

        Returns:
            The task ids to skip.

        """
        return short_circuit_skip_ids(
            self, result, ignore_downstream_trigger_rules=self.ignore_downstream_trigger_rules
        )
