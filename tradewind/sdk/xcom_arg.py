"""XComArg: a reference to a task's output, resolved from XCom when a downstream task runs.

Calling a TaskFlow function returns one; ``operator.output`` is one. Passing it as an argument
of another task makes that task depend on the producer. As in Airflow, ``XComArg(op, key)``
makes a plain reference, and ``.map(f)``, ``.zip(...)`` and ``.concat(...)`` derive others from
it; ``isinstance(x, XComArg)`` is true of all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Self, overload

from tradewind.sdk.dependencies import DependencyMixin
from tradewind.sdk.exceptions import XComNotFound
from tradewind.sdk.lazy_sequence import LazyXComSequence
from tradewind.sdk.runtime import current_runtime
from tradewind.sdk.xcom_results import NO_FILL, ConcatResult, MapResult, ZipResult, check_sequence

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
    """A reference to XComs of other tasks; ``XComArg(operator, key)`` makes a plain one."""

    @overload
    def __new__(cls, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> PlainXComArg: ...

    @overload
    def __new__(cls, *args: Any, **kwargs: Any) -> Self: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """``XComArg(operator, key)`` is a ``PlainXComArg``; subclasses make themselves."""
        if cls is XComArg:
            return PlainXComArg(*args, **kwargs)
        return super().__new__(cls)

    def iter_references(self) -> Iterator[tuple[BaseOperator, str]]:
        """The (task, XCom key) pairs this reference reads."""
        raise NotImplementedError

    def __iter__(self) -> NoReturn:
        raise TypeError("an XComArg is not iterable: its value exists only when the task runs")

    @property
    def roots(self) -> list[BaseOperator]:
        """The producing tasks."""
        return [operator for operator, _ in self.iter_references()]

    @property
    def leaves(self) -> list[BaseOperator]:
        """The producing tasks."""
        return [operator for operator, _ in self.iter_references()]

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        """The value with ``function`` applied to each item, lazily (Airflow's ``map``).

        Args:
            function: a plain function of one item (a dict gives ``(key, value)`` items).

        Returns:
            A reference with the same number of items as this one.

        """
        return MapXComArg(self, [function])

    def zip(self, *others: XComArg, fillvalue: Any = NO_FILL) -> ZipXComArg:
        """Tuples of the items of this value and of ``others``, as the built-in ``zip``.

        Args:
            *others: other references.
            fillvalue: when given, the result is as long as the longest input and shorter
                ones are padded with it (``itertools.zip_longest``).

        Returns:
            The zipped reference.

        """
        return ZipXComArg([self, *others], fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        """The items of this value followed by those of ``others``.

        Args:
            *others: other references.

        Returns:
            The concatenated reference.

        """
        return ConcatXComArg([self, *others])


class PlainXComArg(XComArg):
    """The XCom ``key`` pushed by ``operator``; ``xcom_arg["k"]`` refers to key "k"."""

    def __init__(self, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlainXComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __getitem__(self, key: str) -> PlainXComArg:
        """The XCom ``key`` of the same task (a key of a ``multiple_outputs`` result)."""
        if not isinstance(key, str):
            raise ValueError(f"XComArg only supports str lookup, received {type(key).__name__}")
        return PlainXComArg(self.operator, key=key)

    def iter_references(self) -> Iterator[tuple[BaseOperator, str]]:
        """The producing task and the key."""
        yield self.operator, self.key

    def _mapped_value(self, context: Mapping[str, Any]) -> Any:
        """A mapped producer's value for the consumer in ``context``.

        Its instance at the consumer's map index when both are in the same mapped task group,
        else every instance's value (a lazy sequence).
        """
        task_id = self.operator.task_id
        group = self.operator.mapped_task_group()
        consumer = context.get("task")
        ti = context.get("ti")
        index = getattr(ti, "map_index", -1)
        if group is None or consumer is None or consumer.mapped_task_group() is not group:
            return LazyXComSequence(task_id, self.key)
        found = current_runtime().get_xcom_items([task_id], self.key, map_index=index)
        items = found.get(task_id, [])
        if items:
            return items[0][1]
        if self.key == XCOM_RETURN_KEY:
            return None
        raise XComNotFound(
            f"task {task_id!r} pushed no XCom with key {self.key!r} at map index {index}"
        )

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        """See ``XComArg.map``; only a return value can be mapped."""
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot map against non-return XCom")
        return super().map(function)

    def zip(self, *others: XComArg, fillvalue: Any = NO_FILL) -> ZipXComArg:
        """See ``XComArg.zip``; only a return value can be zipped."""
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot map against non-return XCom")
        return super().zip(*others, fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        """See ``XComArg.concat``; only a return value can be concatenated."""
        if self.key != XCOM_RETURN_KEY:
            raise ValueError("cannot concatenate non-return XCom")
        return super().concat(*others)

    def as_setup(self) -> PlainXComArg:
        """Make the producing task a setup (``BaseOperator.as_setup``)."""
        self.operator.as_setup()
        return self

    def as_teardown(
        self,
        *,
        setups: DependencyMixin | Sequence[DependencyMixin] | None = None,
        on_failure_fail_dagrun: bool | None = None,
    ) -> PlainXComArg:
        """Make the producing task a teardown (``BaseOperator.as_teardown``)."""
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> PlainXComArg:
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
            or was skipped), as in Airflow. For a mapped task, a lazy sequence of the values
            its instances pushed, in map index order.

        Raises:
            XComNotFound: when another key is missing.

        """
        task_id = self.operator.task_id
        if self.operator.is_mapped:
            return self._mapped_value(context)
        found = current_runtime().get_xcoms([task_id], self.key)
        if task_id in found:
            return found[task_id]
        if self.key == XCOM_RETURN_KEY:
            return None
        raise XComNotFound(f"task {task_id!r} pushed no XCom with key {self.key!r}")


def _callable_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", None) or "<function>"


class MapXComArg(XComArg):
    """A reference with ``map()`` applied: each item goes through the functions, in order."""

    def __init__(self, arg: XComArg, callables: Sequence[Callable[[Any], Any]]) -> None:
        for function in callables:
            if getattr(function, "_airflow_is_task_decorator", False):
                raise ValueError("map() argument must be a plain function, not a @task operator")
            if not callable(function):
                raise TypeError(f"map() argument must be callable, not {type(function).__name__}")
        self.arg = arg
        self.callables = tuple(callables)

    def __repr__(self) -> str:
        return f"{self.arg!r}" + "".join(f".map({_callable_name(f)})" for f in self.callables)

    def iter_references(self) -> Iterator[tuple[BaseOperator, str]]:
        """The references of the mapped value."""
        yield from self.arg.iter_references()

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        """``a.map(f).map(g)`` is one reference applying f then g."""
        return MapXComArg(self.arg, [*self.callables, function])

    def resolve(self, context: Mapping[str, Any]) -> MapResult:
        """The mapped items, computed when read.

        Args:
            context: the running task's context.

        Returns:
            A sequence as long as the source value.

        """
        return MapResult(check_sequence("map", self.arg.resolve(context)), self.callables)


class ZipXComArg(XComArg):
    """References zipped together, as the built-in ``zip`` (``zip_longest`` with a fill)."""

    def __init__(self, args: Sequence[XComArg], *, fillvalue: Any = NO_FILL) -> None:
        if not args:
            raise ValueError("At least one input is required")
        for arg in args:
            if not isinstance(arg, XComArg):
                raise TypeError(f"zip() arguments must be XComArgs, not {type(arg).__name__}")
        self.args = tuple(args)
        self.fillvalue = fillvalue

    @property
    def filled(self) -> bool:
        """Whether a fill value was given (the result is then as long as the longest input)."""
        return self.fillvalue is not NO_FILL

    def __repr__(self) -> str:
        first, *rest = (repr(arg) for arg in self.args)
        fill = f", fillvalue={self.fillvalue!r}" if self.filled else ""
        return f"{first}.zip({', '.join(rest)}{fill})"

    def iter_references(self) -> Iterator[tuple[BaseOperator, str]]:
        """The references of every input."""
        for arg in self.args:
            yield from arg.iter_references()

    def resolve(self, context: Mapping[str, Any]) -> ZipResult:
        """The tuples of items, computed when read.

        Args:
            context: the running task's context.

        Returns:
            A sequence of tuples.

        """
        values = [check_sequence("zip", arg.resolve(context)) for arg in self.args]
        return ZipResult(values, fillvalue=self.fillvalue)


class ConcatXComArg(XComArg):
    """References chained one after the other, as ``itertools.chain`` (with indexing)."""

    def __init__(self, args: Sequence[XComArg]) -> None:
        if not args:
            raise ValueError("At least one input is required")
        for arg in args:
            if not isinstance(arg, XComArg):
                raise TypeError(f"concat() arguments must be XComArgs, not {type(arg).__name__}")
        self.args = tuple(args)

    def __repr__(self) -> str:
        first, *rest = (repr(arg) for arg in self.args)
        return f"{first}.concat({', '.join(rest)})"

    def iter_references(self) -> Iterator[tuple[BaseOperator, str]]:
        """The references of every input."""
        for arg in self.args:
            yield from arg.iter_references()

    def concat(self, *others: XComArg) -> ConcatXComArg:
        """``a.concat(b).concat(c)`` is one reference to a, b and c."""
        return ConcatXComArg([*self.args, *others])

    def resolve(self, context: Mapping[str, Any]) -> ConcatResult:
        """The items of every input in turn, computed when read.

        Args:
            context: the running task's context.

        Returns:
            A sequence as long as all the inputs together.

        """
        return ConcatResult([check_sequence("concat", arg.resolve(context)) for arg in self.args])


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
