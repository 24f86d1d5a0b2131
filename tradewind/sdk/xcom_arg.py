"""XComArg: a reference to a task's output, resolved from XCom when a downstream task runs.

Calling a TaskFlow function returns one; ``operator.output`` is one. Passing it as an argument
of another task makes that task depend on the producer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from tradewind.sdk.dependencies import DependencyMixin
from tradewind.sdk.exceptions import XComNotFound
from tradewind.sdk.runtime import current_runtime

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator

#: The XCom key of a task's return value.
XCOM_RETURN_KEY = "return_value"


class ResolveMixin:
    """A value that is only known when a task runs (an XComArg, a DAG param)."""

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value, for the task instance that ``context`` describes.

        Args:
            context: the running task's context.

        Returns:
            The value.

        """
        raise NotImplementedError


class XComArg(ResolveMixin, DependencyMixin):
    """The XCom ``key`` pushed by ``operator``; ``xcom_arg["k"]`` refers to key "k"."""

    def __init__(self, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __getitem__(self, key: str) -> XComArg:
        """The XCom ``key`` of the same task (a key of a ``multiple_outputs`` result)."""
        return XComArg(self.operator, key=key)

    def __iter__(self) -> NoReturn:
        raise TypeError("an XComArg is not iterable: its value exists only when the task runs")

    @property
    def roots(self) -> list[BaseOperator]:
        """The producing task."""
        return [self.operator]

    @property
    def leaves(self) -> list[BaseOperator]:
        """The producing task."""
        return [self.operator]

    def as_setup(self) -> XComArg:
        """Make the producing task a setup (``BaseOperator.as_setup``)."""
        self.operator.as_setup()
        return self

    def as_teardown(
        self,
        *,
        setups: DependencyMixin | Sequence[DependencyMixin] | None = None,
        on_failure_fail_dagrun: bool | None = None,
    ) -> XComArg:
        """Make the producing task a teardown (``BaseOperator.as_teardown``)."""
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, error_type: type[BaseException] | None, *rest: object) -> None:
        self.operator.__exit__(error_type, *rest)

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The XCom's value, read through the task runtime.

        Args:
            context: the running task's context.

        Returns:
            The value; None for a missing return value (an upstream task that returned None
            or was skipped), as in Airflow.

        Raises:
            XComNotFound: when another key is missing.

        """
        task_id = self.operator.task_id
        found = current_runtime().get_xcoms([task_id], self.key)
        if task_id in found:
            return found[task_id]
        if self.key == XCOM_RETURN_KEY:
            return None
        raise XComNotFound(f"task {task_id!r} pushed no XCom with key {self.key!r}")


def iter_xcom_args(value: Any) -> Iterator[XComArg]:
    """The XComArgs inside ``value``, looking into dicts, lists, tuples and sets.

    Args:
        value: an argument of an operator.

    Returns:
        An iterator of the XComArgs found.

    """
    if isinstance(value, XComArg):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_xcom_args(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from iter_xcom_args(item)
