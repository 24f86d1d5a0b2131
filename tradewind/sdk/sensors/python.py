"""PythonSensor: wait until a Python callable returns True (or a true PokeReturnValue)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradewind.sdk.operators.python import determine_kwargs
from tradewind.sdk.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Call ``python_callable`` at each poke; a truthy return (or a done PokeReturnValue) ends it.

    The callable receives ``op_args``, ``op_kwargs`` and the context names it declares, as
    with PythonOperator; ``templates_dict`` is rendered and passed as ``templates_dict``. A
    PokeReturnValue's ``xcom_value`` becomes the task's "return_value" XCom.

    Args:
        python_callable: the function to poke.
        op_args: its positional arguments (templated).
        op_kwargs: its keyword arguments (templated).
        templates_dict: a templated dict passed as ``templates_dict``.
        **kwargs: BaseSensorOperator arguments.

    """

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    display_fields: Sequence[str] = ("python_callable",)

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise self.argument_checker().fail("python_callable must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = dict(templates_dict) if templates_dict is not None else None

    def poke(self, context: Mapping[str, Any]) -> PokeReturnValue:
        """Call the callable once.

        Args:
            context: the task instance's context.

        Returns:
            Its PokeReturnValue, or one made from the truth of what it returned.

        """
        merged = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        kwargs = determine_kwargs(self.python_callable, self.op_args, merged)
        self.log.info("Poking callable: %s", self.python_callable)
        returned = self.python_callable(*self.op_args, **kwargs)
        if isinstance(returned, PokeReturnValue):
            return returned
        return PokeReturnValue(bool(returned))
