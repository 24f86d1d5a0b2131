"""Loading a DAG file: import it as a module and find the DAGs it defines.

Every DAG created while the file is imported is found, assigned to a variable or not, as in
Airflow. A broken file never raises: its error is returned as data, with the line of the DAG
file it points at and the full traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass

from tradewind.sdk.dag import DAG
from tradewind.sdk.dag_context import collect_created_dags
from tradewind.sdk.exceptions import DagDefinitionError
from tradewind_common.config import PLUGINS_FOLDER


@dataclass(frozen=True)
class DagImportError:
    """Why a DAG file could not be loaded."""

    #: Absolute path of the file.
    filename: str
    #: Path relative to the DAG folder.
    relative_filename: str
    #: The exception's class name, e.g. "SyntaxError", "DagCycleError".
    exception_type: str
    #: The exception's message.
    exception_message: str
    #: The line of the DAG file the error points at, 0 when unknown.
    line_number: int
    #: The full traceback as Python prints it.
    stacktrace: str

    @property
    def message(self) -> str:
        """A one-line summary, e.g. "SyntaxError: invalid syntax (line 12)"."""
        first_line = (
            self.exception_message.strip().splitlines()[0] if self.exception_message else ""
        )
        where = f" (line {self.line_number})" if self.line_number else ""
        return f"{self.exception_type}: {first_line}{where}"


@dataclass(frozen=True)
class LoadResult:
    """What loading one DAG file gave."""

    #: The valid DAGs the file defines, in creation order.
    dags: tuple[DAG, ...]
    #: The import error, or None. A file may give DAGs and an error when only some of its
    #: DAGs are invalid.
    error: DagImportError | None = None


def module_name_for(relative_path: str) -> str:
    """The unique module name a DAG file is imported under.

    It depends on the path relative to the DAG folder only, so that the same file gives the
    same names (and the same serialised DAG) on every host.

    Args:
        relative_path: the file's path relative to the DAG folder.

    Returns:
        A name that no user module can collide with.

    """
    digest = hashlib.sha1(relative_path.encode()).hexdigest()[:16]
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(relative_path))[0])
    return f"unusual_prefix_{digest}_{stem}"


def load_dags_from_file(
    path: str | os.PathLike[str], *, dags_folder: str | os.PathLike[str]
) -> LoadResult:
    """Import a DAG file and return the DAGs it defines, or why it failed.

    The DAG folder and the plugins folder (``TRADEWIND_PLUGINS_FOLDER``) are appended to
    ``sys.path`` (at the end, so a user module cannot shadow Tradewind's). Each DAG found is
    validated; duplicate DAG ids in one file are an error.

    Args:
        path: the DAG file.
        dags_folder: the DAG folder it belongs to.

    Returns:
        The DAGs and the error, if any. Never raises for a broken file.

    """
    filename = os.path.abspath(path)
    folder = os.path.abspath(dags_folder)
    relative = os.path.relpath(filename, folder)
    for importable in (folder, os.environ.get(PLUGINS_FOLDER.env, "")):
        if importable and importable not in sys.path:
            sys.path.append(importable)
    module_name = module_name_for(relative)
    with collect_created_dags() as created:
        try:
            spec = importlib.util.spec_from_file_location(module_name, filename)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {filename}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:
            sys.modules.pop(module_name, None)
            return LoadResult(
                (), describe_error(error, filename, relative, _error_line(error, filename))
            )
    found: dict[int, DAG] = {id(dag): dag for dag in created}
    found.update({id(v): v for v in vars(module).values() if isinstance(v, DAG)})
    dags: list[DAG] = []
    errors: list[DagImportError] = []
    seen_ids: set[str] = set()
    for dag in found.values():
        if dag.fileloc != filename:
            # Made by a factory in another module: the DAG belongs to the file that called it
            # (its templates are looked for beside that file), as in Airflow.
            dag.fileloc, dag.lineno = filename, 0
        try:
            if dag.dag_id in seen_ids:
                raise DagDefinitionError(
                    "the file defines two DAGs with this id", dag_id=dag.dag_id
                )
            seen_ids.add(dag.dag_id)
            dag.validate()
        except DagDefinitionError as error:
            errors.append(describe_error(error, filename, relative, dag.lineno))
        else:
            dags.append(dag)
    return LoadResult(tuple(dags), combine_errors(errors))


def _error_line(error: BaseException, filename: str) -> int:
    """The line of ``filename`` the error points at.

    That is the syntax error's line, else that of the innermost traceback frame in the file.
    """
    if (
        isinstance(error, SyntaxError)
        and error.filename
        and os.path.abspath(error.filename) == filename
    ):
        return error.lineno or 0
    line = 0
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == filename:
            line = frame.lineno or 0
    return line


def describe_error(error: BaseException, filename: str, relative: str, line: int) -> DagImportError:
    """An import error of a DAG file from the exception that made it."""
    # A SyntaxError's text repeats the file and line ("invalid syntax (f.py, line 2)"): they
    # are fields of their own here.
    message = error.msg if isinstance(error, SyntaxError) and error.msg else str(error)
    return DagImportError(
        filename=filename,
        relative_filename=relative,
        exception_type=type(error).__name__,
        exception_message=message,
        line_number=line,
        stacktrace="".join(traceback.format_exception(error)),
    )


def combine_errors(errors: list[DagImportError]) -> DagImportError | None:
    """One error for the file, as the contract records one per file; None for none."""
    if len(errors) <= 1:
        return errors[0] if errors else None
    first = errors[0]
    return DagImportError(
        filename=first.filename,
        relative_filename=first.relative_filename,
        exception_type=first.exception_type,
        exception_message="\n".join(e.exception_message for e in errors),
        line_number=first.line_number,
        stacktrace="\n".join(e.stacktrace for e in errors),
    )
