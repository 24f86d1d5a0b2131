"""``default_args``: arguments that operators left out are taken from their DAG and group.

Each operator class's ``__init__`` is wrapped, so every level of a class hierarchy takes the
defaults of its own parameters, and explicit arguments always win, as in Airflow.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tradewind.sdk.dag_context import current_dag, current_task_group
from tradewind.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator

_Init = TypeVar("_Init", bound=Callable[..., None])


def apply_default_args(init: _Init) -> _Init:
    """Wrap an operator's ``__init__`` so that it takes left-out arguments from default_args.

    The defaults are the DAG's ``default_args``, then the task group's, then the operator's
    own ``default_args`` argument. The XComArgs in the templated fields become dependencies
    once the outermost ``__init__`` has finished.

    Args:
        init: an operator class's ``__init__``.

    Returns:
        The wrapped ``__init__``; it refuses positional arguments, as Airflow does.

    """
    parameters = inspect.signature(init).parameters
    names = {
        name
        for name, parameter in parameters.items()
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    } - {"self", "default_args"}
    passes_default_args = "default_args" in parameters or any(
        parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values()
    )

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if args:
            raise DagDefinitionError(
                f"use keyword arguments when creating a {type(self).__name__}",
                task_id=kwargs.get("task_id"),
            )
        dag = kwargs.get("dag")
        dag = current_dag() if dag is None else dag
        group = kwargs.get("task_group")
        group = current_task_group(dag) if group is None else group
        defaults: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
        if group is not None:
            defaults.update(group.default_args)
        defaults.update(kwargs.get("default_args") or {})
        for name in names:
            if name not in kwargs and name in defaults:
                kwargs[name] = defaults[name]
        if passes_default_args:
            kwargs["default_args"] = defaults
        outermost = not self.__dict__.get("_tw_initialising", False)
        self.__dict__["_tw_initialising"] = True
        try:
            init(self, **kwargs)
        finally:
            if outermost:
                del self.__dict__["_tw_initialising"]
        if outermost:
            self.set_xcom_arg_dependencies()

    return wrapper  # type: ignore[return-value]
