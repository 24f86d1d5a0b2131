"""PythonVirtualenvOperator and ExternalPythonOperator: a callable run by another Python.

As in Airflow, the callable's source (a plain function, with its imports inside) is written
into a script, its arguments are serialised to a file, and the other interpreter runs the
script as a subprocess whose output goes to the task log; the serialised return value
comes back and becomes the "return_value" XCom. The callable receives only the context
keys it declares among a safe, serialisable subset (``SERIALIZABLE_CONTEXT_KEYS``); dates
arrive as standard ``datetime`` values, which need nothing installed over there.
"""

from __future__ import annotations
import __future__

import ast
import collections
import importlib
import inspect
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import types
from collections.abc import Callable, Container, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewind.sdk.exceptions import TaskSkipped, TradewindException
from tradewind.sdk.operators.bash import context_environment
from tradewind.sdk.operators.python import PythonOperator, determine_kwargs
from tradewind.sdk.variable import Variable
from tradewind.sdk.virtualenv import (
    InterpreterNotFound,
    VenvSpec,
    build_venv,
    ensure_cached_venv,
    find_interpreter,
    probe_interpreter,
    venv_python,
)

#: The serialisers of arguments and results (Airflow's); each must be importable to be used.
SERIALIZERS = ("pickle", "dill", "cloudpickle")

#: The context keys a callable may declare: plain values that pickle without Tradewind.
#: ``ti``/``task_instance`` and ``dag_run`` are passed as namespaces of their plain fields.
SERIALIZABLE_CONTEXT_KEYS = frozenset(
    {
        "conf", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash",
        "inlets", "logical_date", "outlets", "params", "run_id", "task_instance",
        "task_instance_key_str", "templates_dict", "test_mode", "ti", "ts", "ts_nodash",
        "ts_nodash_with_tz",
    }
)  # fmt: skip

#: The fields of ``ti`` passed on (as a namespace) to a callable that declares it.
_PLAIN_TI_FIELDS = (
    "dag_id",
    "task_id",
    "run_id",
    "try_number",
    "max_tries",
    "map_index",
    "logical_date",
)

#: How many of the last output lines an error shows when the script died before the call.
OUTPUT_TAIL_LINES = 20

#: Decorator names removed from the callable's source (the rest are kept).
_TASK_DECORATOR_NAMES = frozenset({"task", "virtualenv", "external_python"})

_SCRIPT = """\
{future}import sys
import {serializer} as _tradewind_serializer

{source}

with open(sys.argv[1], "rb") as _tradewind_file:
    _tradewind_arguments = _tradewind_serializer.load(_tradewind_file)
with open(sys.argv[3], encoding="utf-8") as _tradewind_file:
    virtualenv_string_args = [_line.strip() for _line in _tradewind_file]
try:
    _tradewind_result = {name}(*_tradewind_arguments["args"], **_tradewind_arguments["kwargs"])
except Exception:
    import traceback as _tradewind_traceback

    with open(sys.argv[4], "w", encoding="utf-8") as _tradewind_file:
        _tradewind_file.write(_tradewind_traceback.format_exc())
    raise
with open(sys.argv[2], "wb") as _tradewind_file:
    if _tradewind_result is not None:
        _tradewind_serializer.dump(_tradewind_result, _tradewind_file)
"""


class RemoteCallableFailed(TradewindException):
    """The callable failed in the other interpreter.

    Attributes:
        exit_code: the subprocess's exit code.
        remote_traceback: the traceback printed there ("" when it died without one).

    """

    def __init__(self, exit_code: int, remote_traceback: str) -> None:
        self.exit_code = exit_code
        self.remote_traceback = remote_traceback
        message = f"Process returned non-zero exit status {exit_code}."
        super().__init__(f"{message}\n{remote_traceback}" if remote_traceback else message)


def callable_source(function: Callable[..., Any]) -> str:
    """The function's source, dedented, without its TaskFlow decorator.

    Args:
        function: a function defined with ``def``.

    Returns:
        Its source, ready to be put at the top level of a script.

    """
    source = textwrap.dedent(inspect.getsource(function))
    node = ast.parse(source).body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise TradewindException(f"cannot find the definition of {function.__name__!r}")
    kept = [
        "@" + (ast.get_source_segment(source, decorator) or "")
        for decorator in node.decorator_list
        if not _is_task_decorator(decorator)
    ]
    body = source.splitlines()[node.lineno - 1 :]
    return "\n".join([*kept, *body]) + "\n"


def _future_imports(function: Callable[..., Any]) -> str:
    """The ``from __future__`` line the function's module had, for its annotations."""
    flag = __future__.annotations.compiler_flag
    return "from __future__ import annotations\n" if function.__code__.co_flags & flag else ""


def _is_task_decorator(decorator: ast.expr) -> bool:
    expression = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(expression, ast.Attribute):
        if expression.attr in _TASK_DECORATOR_NAMES:
            return True
        while isinstance(expression, ast.Attribute):
            expression = expression.value
    return isinstance(expression, ast.Name) and expression.id == "task"


def serializable_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context values a callable in another interpreter can receive.

    Args:
        context: the task instance's context.

    Returns:
        The keys of ``SERIALIZABLE_CONTEXT_KEYS`` that the context has, as plain data.

    """
    values = {key: _plain(context[key]) for key in SERIALIZABLE_CONTEXT_KEYS if key in context}
    for key in ("params", "conf"):
        if values.get(key) is not None:
            values[key] = dict(values[key])
    ti = context.get("ti")
    if ti is not None:
        plain_ti = types.SimpleNamespace(
            **{name: _plain(getattr(ti, name, None)) for name in _PLAIN_TI_FIELDS}
        )
        values["ti"] = values["task_instance"] = plain_ti
    dag_run = context.get("dag_run")
    if dag_run is not None:
        values["dag_run"] = types.SimpleNamespace(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            logical_date=_plain(dag_run.logical_date),
            data_interval_start=_plain(dag_run.data_interval_start),
            data_interval_end=_plain(dag_run.data_interval_end),
            conf=dict(dag_run.conf),
            run_type=str(dag_run.run_type),
            start_date=_plain(dag_run.start_date),
        )
    return values


def _plain(value: Any) -> Any:
    """A standard ``datetime`` for a pendulum one (pendulum may be missing over there)."""
    if not isinstance(value, datetime) or type(value) is datetime:
        return value
    if value.tzinfo is None:
        return datetime(*value.timetuple()[:6], value.microsecond)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _exit_codes(value: int | Container[int] | None) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    codes: list[int] = list(value)  # type: ignore[call-overload]
    return codes


class _BasePythonVirtualenvOperator(PythonOperator):
    """What both operators share: the script, the subprocess and the result."""

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        serializer: str | None = None,
        use_dill: bool = False,
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        string_args: Sequence[Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        expect_airflow: bool = True,
        skip_on_exit_code: int | Container[int] | None = None,
        env_vars: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            **kwargs,
        )
        check = self.argument_checker()
        name = type(self).__name__
        if (
            not isinstance(python_callable, types.FunctionType)
            or python_callable.__name__ == "<lambda>"
        ):
            raise check.fail(f"{name} only supports functions for python_callable arg")
        if inspect.isgeneratorfunction(python_callable):
            raise check.fail(f"{name} does not support using 'yield' in python_callable")
        if serializer is None:
            serializer = "dill" if use_dill else "pickle"
        if serializer not in SERIALIZERS:
            raise check.fail(
                f"Unsupported serializer {serializer!r}."
                f" Expected one of {', '.join(map(repr, SERIALIZERS))}"
            )
        self.serializer = serializer
        self.use_dill = serializer == "dill"
        self.string_args = list(string_args or [])
        self.expect_airflow = check.boolean("expect_airflow", expect_airflow)
        self.skip_on_exit_code = _exit_codes(skip_on_exit_code)
        self.env_vars = dict(env_vars) if env_vars is not None else None
        self.inherit_env = check.boolean("inherit_env", inherit_env)
        self._process: subprocess.Popen[bytes] | None = None

    def _prepare_python(self, stack: ExitStack) -> Path:
        """The interpreter to run the callable with; temporary folders go on ``stack``."""
        raise NotImplementedError

    def get_python_source(self) -> str:
        """The callable's source as the script holds it."""
        return callable_source(self.python_callable)

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Run the callable in the other interpreter with its arguments and context keys.

        Args:
            context: the task instance's context.

        Returns:
            What the callable returned, deserialised.

        Raises:
            TaskSkipped: when the subprocess exits with one of ``skip_on_exit_code``.
            RemoteCallableFailed: when it exits with another non-zero code.

        """
        plain = serializable_context(context)
        self._refuse_unserializable_keys(context)
        merged = {**plain, **self.op_kwargs, "templates_dict": self.templates_dict}
        kwargs = determine_kwargs(self.python_callable, self.op_args, merged)
        serializer = self._serializer_module()
        with ExitStack() as stack:
            python = self._prepare_python(stack)
            if self.expect_airflow:
                self._check_sdk_visible(python)
            result = self._run_in_subprocess(python, serializer, kwargs, context)
        if self.show_return_value_in_logs:
            self.log.info("Done. Returned value was: %r", result)
        return result

    def _refuse_unserializable_keys(self, context: Mapping[str, Any]) -> None:
        for name, parameter in inspect.signature(self.python_callable).parameters.items():
            if (
                name in context
                and name not in SERIALIZABLE_CONTEXT_KEYS
                and name not in self.op_kwargs
                and parameter.default is parameter.empty
                and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            ):
                raise TradewindException(
                    f"the context key {name!r} cannot be passed to a callable run by another"
                    f" Python; it may declare: {', '.join(sorted(SERIALIZABLE_CONTEXT_KEYS))}"
                )

    def _serializer_module(self) -> Any:
        try:
            return importlib.import_module(self.serializer)
        except ImportError as err:
            raise TradewindException(
                f"serializer {self.serializer!r} is not installed in the task's Python"
            ) from err

    def _check_sdk_visible(self, python: Path) -> None:
        # sys.path[0] is the working folder with -c, the script's folder in the real run.
        probe = (
            "import importlib.util, sys; sys.path.pop(0);"
            " sys.exit(importlib.util.find_spec('tradewind') is None)"
        )
        completed = subprocess.run(
            [os.fspath(python), "-c", probe],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if completed.returncode != 0:
            self.log.warning(
                "expect_airflow is True but Tradewind cannot be imported by %s;"
                " set expect_airflow=False if the callable does not need it",
                python,
            )

    def _environment(self, context: Mapping[str, Any]) -> dict[str, str]:
        environment = dict(os.environ) if self.inherit_env else {}
        environment.update(context_environment(context))
        if self.env_vars:
            environment.update(self.env_vars)
        return environment

    def _run_in_subprocess(
        self, python: Path, serializer: Any, kwargs: Mapping[str, Any], context: Mapping[str, Any]
    ) -> Any:
        with tempfile.TemporaryDirectory(prefix="venv-call") as scratch:
            folder = Path(scratch)
            paths = {
                name: folder / name
                for name in ("script.in", "script.out", "string_args.txt", "termination.log")
            }
            script = folder / "script.py"
            with paths["script.in"].open("wb") as file:
                serializer.dump({"args": list(self.op_args), "kwargs": dict(kwargs)}, file)
            paths["string_args.txt"].write_text(
                "\n".join(map(str, self.string_args)), encoding="utf-8"
            )
            script.write_text(
                _SCRIPT.format(
                    future=_future_imports(self.python_callable),
                    serializer=self.serializer,
                    source=self.get_python_source(),
                    name=self.python_callable.__name__,
                ),
                encoding="utf-8",
            )
            command = [os.fspath(python), os.fspath(script), *map(os.fspath, paths.values())]
            exit_code, output_tail = self._stream(command, self._environment(context))
            if exit_code in self.skip_on_exit_code:
                raise TaskSkipped(f"Process exited with code {exit_code}. Skipping.")
            if exit_code != 0:
                termination = paths["termination.log"]
                remote = termination.read_text(encoding="utf-8") if termination.exists() else ""
                # Without a termination log the script died outside the call: show its end.
                raise RemoteCallableFailed(exit_code, remote or "\n".join(output_tail))
            return self._read_result(paths["script.out"], serializer)

    def _stream(self, command: list[str], environment: dict[str, str]) -> tuple[int, list[str]]:
        self.log.info("Executing cmd: %s", " ".join(command))
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            # Its own process group, so that on_kill stops what the callable started too.
            process_group=0,
        ) as process:
            self._process = process
            assert process.stdout is not None
            self.log.info("Output:")
            tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="backslashreplace").rstrip()
                self.log.info("%s", line)
                tail.append(line)
            exit_code = process.wait()
        self._process = None
        return exit_code, list(tail)

    def _read_result(self, path: Path, serializer: Any) -> Any:
        if not path.exists() or path.stat().st_size == 0:
            return None
        with path.open("rb") as file:
            try:
                return serializer.load(file)
            except Exception as err:
                raise TradewindException(
                    f"the callable's return value could not be deserialised with"
                    f" {self.serializer}: {type(err).__name__}: {err}"
                ) from err

    def on_kill(self) -> None:
        """Stop the subprocess and what it started."""
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(os.getpgid(process.pid), signal.SIGTERM)


def _requirement_lines(requirements: Sequence[str]) -> list[str]:
    """Requirement lines from entries that may each be a whole requirements file's text."""
    lines = []
    for entry in requirements:
        for raw in str(entry).splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


class PythonVirtualenvOperator(_BasePythonVirtualenvOperator):
    """Run a function in a virtual environment built with its requirements.

    Without ``venv_cache_path`` a temporary venv is built for each try and removed after;
    with it, the venv is built once per requirement set and interpreter and reused.

    Args:
        python_callable: a plain function; whatever it needs it imports inside.
        requirements: requirement lines (templated), or one string: a requirement, or the
            name of a requirements ``.txt`` file (rendered from the DAG folder or
            ``template_searchpath``, or read as is when it is an absolute path).
        python_version: the venv's Python ("3.12"); the task's Python by default.
        serializer: "pickle" (default), "dill" or "cloudpickle".
        use_dill: Airflow's older spelling of ``serializer="dill"``.
        system_site_packages: let the venv see the task's installed packages.
        pip_install_options: extra options of ``pip install``.
        index_urls: the package index and extra indexes; an empty list means no index.
        venv_cache_path: the folder of cached venvs (templated); no caching when None.
        op_args: positional arguments (templated).
        op_kwargs: keyword arguments (templated).
        string_args: strings the function reads as the global ``virtualenv_string_args``.
        templates_dict: a templated dict the function may declare as ``templates_dict``.
        templates_exts: file name endings of template files.
        expect_airflow: whether Tradewind is expected in the venv (a warning when not).
        skip_on_exit_code: exit code(s) of the subprocess that skip the task.
        env_vars: variables added to the subprocess's environment.
        inherit_env: start the subprocess's environment from the task's.
        **kwargs: BaseOperator arguments.

    """

    template_fields: Sequence[str] = (
        "requirements",
        "index_urls",
        "venv_cache_path",
        "templates_dict",
        "op_args",
        "op_kwargs",
    )
    template_ext: Sequence[str] = (".txt",)
    display_fields: Sequence[str] = (
        "python_callable",
        "python_version",
        "system_site_packages",
        "serializer",
    )

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        requirements: str | Sequence[str] | None = None,
        python_version: str | None = None,
        serializer: str | None = None,
        use_dill: bool = False,
        system_site_packages: bool = True,
        pip_install_options: Sequence[str] | None = None,
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        string_args: Sequence[Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        expect_airflow: bool = True,
        skip_on_exit_code: int | Container[int] | None = None,
        index_urls: Sequence[str] | str | None = None,
        venv_cache_path: str | os.PathLike[str] | None = None,
        env_vars: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            python_callable=python_callable,
            serializer=serializer,
            use_dill=use_dill,
            op_args=op_args,
            op_kwargs=op_kwargs,
            string_args=string_args,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            expect_airflow=expect_airflow,
            skip_on_exit_code=skip_on_exit_code,
            env_vars=env_vars,
            inherit_env=inherit_env,
            **kwargs,
        )
        check = self.argument_checker()
        if python_version is not None and not isinstance(python_version, str):
            raise check.fail(
                "Passing non-string types (e.g. int or float) as python_version not supported"
            )
        if (
            python_version
            and python_version.split(".")[0] != str(sys.version_info.major)
            and (op_args or op_kwargs)
        ):
            raise check.fail(
                "Passing op_args or op_kwargs is not supported across different Python major"
                " versions for PythonVirtualenvOperator. Please use string_args."
            )
        self.python_version = python_version
        #: A requirements file given by absolute path: read at run time, not templated.
        self.requirements_file: str | None = None
        if not requirements:
            self.requirements: list[str] = []
        elif isinstance(requirements, str):
            if requirements.endswith(".txt") and os.path.isabs(requirements):
                self.requirements, self.requirements_file = [], requirements
            else:
                self.requirements = [requirements]
        else:
            self.requirements = list(requirements)
        self.system_site_packages = check.boolean("system_site_packages", system_site_packages)
        self.pip_install_options = list(pip_install_options or [])
        self.index_urls = [index_urls] if isinstance(index_urls, str) else index_urls
        if self.index_urls is not None:
            self.index_urls = list(self.index_urls)
        self.venv_cache_path = os.fspath(venv_cache_path) if venv_cache_path else None

    def requirement_list(self) -> list[str]:
        """The requirement lines to install, sorted, with the serializer when it is needed.

        Returns:
            The lines.

        """
        entries = list(self.requirements)
        if self.requirements_file is not None:
            try:
                entries.append(Path(self.requirements_file).read_text(encoding="utf-8"))
            except OSError as err:
                raise TradewindException(
                    f"cannot read requirements file {self.requirements_file!r}: {err}"
                ) from err
        lines = _requirement_lines(entries)
        if not self.system_site_packages and self.serializer not in ("pickle", *lines):
            lines.append(self.serializer)
        return sorted(set(lines))

    def venv_spec(self) -> VenvSpec:
        """What this task's venv is made of (its cache key).

        Returns:
            The spec, with the interpreter found for ``python_version``.

        Raises:
            InterpreterNotFound: when that interpreter is not found.

        """
        return VenvSpec(
            interpreter=find_interpreter(self.python_version),
            requirements=tuple(self.requirement_list()),
            system_site_packages=self.system_site_packages,
            pip_install_options=tuple(self.pip_install_options),
            index_urls=tuple(self.index_urls) if self.index_urls is not None else None,
            cache_key=str(Variable.get("PythonVirtualenvOperator.cache_key", "")),
        )

    def _prepare_python(self, stack: ExitStack) -> Path:
        spec = self.venv_spec()
        if self.venv_cache_path:
            venv, _ = ensure_cached_venv(spec, Path(self.venv_cache_path), self.log)
            return venv_python(venv)
        venv = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="venv")))
        return build_venv(spec, venv, self.log)


class ExternalPythonOperator(_BasePythonVirtualenvOperator):
    """Run a function with an existing Python interpreter (a prepared venv, say).

    Args:
        python: the absolute path of the interpreter (templated), e.g. ``/venvs/x/bin/python``.
        python_callable: a plain function; whatever it needs it imports inside.
        expect_pendulum: accepted for Airflow compatibility; the context's dates are
            standard ``datetime`` values, so it changes nothing.
        **kwargs: the arguments of PythonVirtualenvOperator that do not build a venv
            (serializer, op_args, op_kwargs, string_args, templates_dict, templates_exts,
            expect_airflow, skip_on_exit_code, env_vars, inherit_env) and BaseOperator's.

    """

    template_fields: Sequence[str] = ("python", "templates_dict", "op_args", "op_kwargs")
    display_fields: Sequence[str] = ("python_callable", "serializer")

    def __init__(
        self,
        *,
        python: str,
        python_callable: Callable[..., Any],
        expect_pendulum: bool = False,
        **kwargs: Any,
    ) -> None:
        if not python:
            raise TradewindException("Python Path must be defined in ExternalPythonOperator")
        super().__init__(python_callable=python_callable, **kwargs)
        self.python = python
        self.expect_pendulum = expect_pendulum

    def _prepare_python(self, stack: ExitStack) -> Path:
        path = Path(self.python)
        if not path.is_absolute():
            raise InterpreterNotFound(f"Python Path {self.python!r} must be an absolute path")
        if not path.exists():
            raise InterpreterNotFound(f"Python Path {self.python!r} must exist")
        if not path.is_file():
            raise InterpreterNotFound(f"Python Path {self.python!r} must be a file")
        if not os.access(path, os.X_OK):
            raise InterpreterNotFound(f"Python Path {self.python!r} is not executable")
        interpreter = probe_interpreter(path)
        if interpreter.version[0] != sys.version_info.major and (self.op_args or self.op_kwargs):
            raise TradewindException(
                "Passing op_args or op_kwargs is not supported across different Python major"
                " versions for ExternalPythonOperator. Please use string_args."
            )
        return path
