"""``@dag``: a function that creates tasks becomes a DAG factory, as in Airflow."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, overload

from tradewind.sdk.dag import DAG
from tradewind.sdk.params import Param

_P = ParamSpec("_P")


class _DagFactory(Generic[_P]):
    """What ``@dag`` returns: calling it builds the DAG."""

    def __init__(self, function: Callable[_P, Any], dag_kwargs: Mapping[str, Any]) -> None:
        self.function = function
        self.dag_kwargs = dict(dag_kwargs)
        functools.update_wrapper(self, function)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> DAG:
        """Build the DAG: its tasks are those the function creates.

        The function's parameters become DAG params (with their defaults); the function
        receives references to them, resolved when tasks run, as in Airflow.

        Returns:
            The DAG.

        """
        signature = inspect.signature(self.function)
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        dag_kwargs = dict(self.dag_kwargs)
        dag_id = dag_kwargs.pop("dag_id", None) or self.function.__name__
        if dag_kwargs.get("doc_md") is None and self.function.__doc__:
            dag_kwargs["doc_md"] = inspect.cleandoc(self.function.__doc__)
        params = dict(dag_kwargs.pop("params", None) or {})
        for name, value in bound.arguments.items():
            if signature.parameters[name].kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            params.setdefault(name, value)
        with DAG(dag_id, params=params, **dag_kwargs) as built:
            references = {
                name: built.param(name, value.value if isinstance(value, Param) else value)
                for name, value in bound.arguments.items()
                if name in params
            }
            self.function(**references)  # type: ignore[arg-type, call-arg]
        return built


@overload
def dag(dag_id: Callable[_P, Any]) -> _DagFactory[_P]: ...


@overload
def dag(
    dag_id: str | None = None, **dag_kwargs: Any
) -> Callable[[Callable[_P, Any]], _DagFactory[_P]]: ...


def dag(
    dag_id: str | Callable[_P, Any] | None = None, **dag_kwargs: Any
) -> _DagFactory[_P] | Callable[[Callable[_P, Any]], _DagFactory[_P]]:
    """Turn a function that creates tasks into a DAG factory, as Airflow's ``@dag``.

    Calling the decorated function builds the DAG; it needs no variable to be found.

    Args:
        dag_id: the DAG id (the function's name by default); or the function itself when
            used as ``@dag`` without parentheses.
        **dag_kwargs: ``DAG`` arguments.

    Returns:
        The factory, or a decorator that makes one.

    """
    if callable(dag_id):
        return _DagFactory(dag_id, dag_kwargs)

    def decorate(function: Callable[_P, Any]) -> _DagFactory[_P]:
        return _DagFactory(function, {"dag_id": dag_id, **dag_kwargs})

    return decorate
