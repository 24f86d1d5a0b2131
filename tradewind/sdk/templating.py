"""Rendering of operators' templated fields with Jinja2, in the task process.

Strings are rendered as templates (files when they end with one of the operator's
``template_ext``), containers are rendered item by item, and XComArgs and DAG params are
resolved to their values. ``StrictUndefined`` makes a misspelt name fail with a clear error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox

from tradewind.sdk.exceptions import TemplateRenderError
from tradewind.sdk.xcom_arg import ResolveMixin

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


#: Airflow's template filters: ``{{ logical_date | ds }}``.
FILTERS = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


def make_template_env(dag: DAG | None) -> jinja2.Environment:
    """The Jinja2 environment for a DAG's templates, configured as Airflow's.

    Template files are looked for in the DAG file's folder, then in ``template_searchpath``.

    Args:
        dag: the DAG, or None for a task outside any DAG (defaults apply).

    Returns:
        A sandboxed environment, or a native one with ``render_template_as_native_obj``.

    """
    searchpath = [dag.folder, *dag.template_searchpath] if dag is not None else [os.getcwd()]
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(searchpath),
        "undefined": dag.template_undefined if dag is not None else jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "cache_size": 0,
    }
    if dag is not None:
        options.update(dag.jinja_environment_kwargs)
    native = dag is not None and dag.render_template_as_native_obj
    env: jinja2.Environment = (
        jinja2.nativetypes.NativeEnvironment(**options)
        if native
        else jinja2.sandbox.SandboxedEnvironment(**options)
    )
    env.filters.update(FILTERS)
    if dag is not None:
        env.globals.update(dag.user_defined_macros)
        env.filters.update(dag.user_defined_filters)
    return env


def render_template(
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    *,
    template_ext: Sequence[str] = (),
) -> Any:
    """Render ``value``: templates in strings, containers item by item, references resolved.

    Args:
        value: a templated field's value.
        context: the running task's context.
        env: the Jinja2 environment.
        template_ext: file name endings that mark a string as a template file's name.

    Returns:
        The rendered value; other objects are returned unchanged.

    """
    if isinstance(value, ResolveMixin):
        return value.resolve(context)
    if isinstance(value, str):
        if template_ext and value.endswith(tuple(template_ext)):
            return env.get_template(value).render(context)
        return env.from_string(value).render(context)
    if isinstance(value, Mapping):
        return {
            key: render_template(item, context, env, template_ext=template_ext)
            for key, item in value.items()
        }
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(
            *(render_template(item, context, env, template_ext=template_ext) for item in value)
        )
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(
            render_template(item, context, env, template_ext=template_ext) for item in value
        )
    return value


def render_template_fields(
    task: BaseOperator, context: Mapping[str, Any], env: jinja2.Environment | None = None
) -> None:
    """Render the task's ``template_fields`` in place (call it on a copy of the task).

    Args:
        task: the task, usually ``task.prepare_for_execution()``.
        context: the running task's context.
        env: the Jinja2 environment; the DAG's by default.

    Raises:
        TemplateRenderError: naming the task and the field, from the Jinja2 or lookup error.

    """
    if env is None:
        env = task.dag.get_template_env() if task.dag is not None else make_template_env(None)
    for field in task.template_fields:
        value = getattr(task, field, None)
        if value is None:
            continue
        try:
            rendered = render_template(value, context, env, template_ext=task.template_ext)
        except Exception as err:
            raise TemplateRenderError(
                f"{type(err).__name__}: {err}", task_id=task.task_id, field=field
            ) from err
        setattr(task, field, rendered)
