"""The name of a mapped task instance: its ``map_index_template``, rendered after the try.

As in Airflow, the template is rendered with the try's context once ``execute`` has returned
or raised, so it sees the instance's rendered fields (``{{ task.op_kwargs['x'] }}``,
``{{ task.bash_command }}``) and whatever the task put in the context
(``get_current_context()["label"] = ...``). The context holds the template under
"map_index_template", and the task may replace it there too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tradewind.sdk.exceptions import TemplateRenderError
from tradewind.sdk.templating import make_template_env

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator

logger = logging.getLogger("tradewind.task")


def render_map_index(
    task: BaseOperator, context: Mapping[str, Any], *, quiet: bool = False
) -> str | None:
    """The rendered name of the mapped instance ``context`` describes.

    Args:
        task: the task as in the DAG (the mapped task).
        context: the try's context, after ``execute``.
        quiet: log a rendering error and return None instead of raising (after a failed
            try, whose own error matters more).

    Returns:
        The name; None when the task is not mapped or has no template.

    Raises:
        TemplateRenderError: the template cannot be rendered (unless ``quiet``).

    """
    if not task.is_mapped:
        return None
    template = context.get("map_index_template")
    if template is None:
        return None
    current = context.get("task", task)
    dag = getattr(current, "dag", None)
    env = dag.get_template_env() if dag is not None else make_template_env(None)
    try:
        return str(env.from_string(str(template)).render(context))
    except Exception as err:
        if not quiet:
            raise TemplateRenderError(
                f"{type(err).__name__}: {err}", task_id=task.task_id, field="map_index_template"
            ) from err
        logger.warning("map_index_template of %s not rendered: %s", task.task_id, err)
        return None
