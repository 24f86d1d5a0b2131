"""BashOperator: run a templated Bash command; a non-zero exit fails the task."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.exceptions import TaskSkipped, TradewindException

#: The exit code that skips the task instead of failing it (Airflow's default).
DEFAULT_SKIP_EXIT_CODE = 99


def context_environment(context: Mapping[str, Any]) -> dict[str, str]:
    """The variables that tell a subprocess which task instance it runs for.

    Both the Tradewind names and Airflow's (``AIRFLOW_CTX_DAG_ID`` ...) are set, so that
    ported scripts keep working.

    Args:
        context: the task instance's context.

    Returns:
        Environment variables.

    """
    ti = context["ti"]
    values = {
        "DAG_ID": ti.dag_id,
        "TASK_ID": ti.task_id,
        "DAG_RUN_ID": ti.run_id,
        "TRY_NUMBER": str(ti.try_number),
        "LOGICAL_DATE": context["logical_date"].isoformat(),
        "DAG_OWNER": context["task"].owner,
    }
    environment = {}
    for name, value in values.items():
        environment[f"TRADEWIND_CTX_{name}"] = value
        environment[f"AIRFLOW_CTX_{name}"] = value
    return environment


def _unchanged(output: str) -> str:
    return output


class BashOperator(BaseOperator):
    """Run a Bash command; the last line it prints becomes the "return_value" XCom.

    Args:
        bash_command: the command or script (templated); a value ending in ".sh" or ".bash"
            is the name of a template file, as in Airflow.
        env: the environment of the command (templated); the task process's environment
            when None.
        append_env: add ``env`` to the task process's environment instead of replacing it.
        output_encoding: how to decode the command's output.
        skip_on_exit_code: exit code(s) that skip the task instead of failing it.
        cwd: the working directory; a fresh temporary directory when None.
        output_processor: turns the last line of output into the returned value (the
            "return_value" XCom), e.g. ``json.loads``; the line itself by default.
        **kwargs: BaseOperator arguments.

    """

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_ext: Sequence[str] = (".sh", ".bash")
    display_fields: Sequence[str] = ("append_env", "skip_on_exit_code")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = DEFAULT_SKIP_EXIT_CODE,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] = _unchanged,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check = self.argument_checker()
        if not callable(output_processor):
            raise check.fail("output_processor must be callable")
        self.output_processor = output_processor
        self.bash_command = bash_command
        if not isinstance(bash_command, str):
            check.text("bash_command", bash_command)
        self.env = dict(env) if env is not None else None
        self.append_env = check.boolean("append_env", append_env)
        self.output_encoding = output_encoding
        self.skip_on_exit_code: list[int] = (
            []
            if skip_on_exit_code is None
            else [skip_on_exit_code]
            if isinstance(skip_on_exit_code, int)
            else list(skip_on_exit_code)  # type: ignore[call-overload]
        )
        self.cwd = check.text("cwd", cwd, optional=True)
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self, context: Mapping[str, Any]) -> dict[str, str]:
        """The environment the command runs with.

        Args:
            context: the task instance's context.

        Returns:
            The variables.

        """
        if self.env is None:
            environment = dict(os.environ)
        elif self.append_env:
            environment = {**os.environ, **self.env}
        else:
            environment = dict(self.env)
        environment.update(context_environment(context))
        return environment

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Run the command with Bash and wait for it.

        Args:
            context: the task instance's context.

        Returns:
            The last line of the command's output ("" when it printed nothing), through
            ``output_processor`` (``json.loads``, say) as in Airflow.

        Raises:
            TaskSkipped: when it exits with one of ``skip_on_exit_code``.
            TradewindException: when it exits with another non-zero code.

        """
        if not self.bash_command or not self.bash_command.strip():
            raise TradewindException("bash_command is empty")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise TradewindException(f"cwd {self.cwd!r} does not exist or is not a directory")
        with tempfile.TemporaryDirectory(prefix="tradewindtmp") as scratch:
            exit_code, last_line = self._run(context, self.cwd or scratch)
        if exit_code in self.skip_on_exit_code:
            raise TaskSkipped(f"Bash command returned exit code {exit_code}. Skipping.")
        if exit_code != 0:
            raise TradewindException(
                f"Bash command failed. The command returned a non-zero exit code {exit_code}."
            )
        return self.output_processor(last_line)

    def _run(self, context: Mapping[str, Any], cwd: str) -> tuple[int, str]:
        self.log.info("Running command: %s", self.bash_command)
        with subprocess.Popen(
            ["bash", "-c", self.bash_command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=self.environment(context),
            # A process group of its own, so that on_kill stops the command's children too; the
            # same session as the try, so that the executor finds (and ends) all of them.
            process_group=0,
        ) as process:
            self._process = process
            last_line = ""
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip()
                self.log.info("%s", line)
                last_line = line
            exit_code = process.wait()
        self.log.info("Command exited with return code %s", exit_code)
        return exit_code, last_line

    def on_kill(self) -> None:
        """Stop the running command and its children."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(os.getpgid(self._process.pid), signal.SIGTERM)
