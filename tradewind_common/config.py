"""Settings from command-line flags and ``TRADEWIND_*`` environment variables.

Each setting is defined once, as a :class:`Setting`; it becomes the flag ``--metrics-port``
and the variable ``TRADEWIND_METRICS_PORT``; ``TRADEWIND_METRICS_PORT_FILE`` may name a file
that holds the value instead (for secrets). A flag wins over the variable, which wins over the
file, which wins over the default. Values are parsed and validated at start; a bad one raises
:class:`ConfigError` whose one-line message names the flag, the variable and the problem.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar, cast

T = TypeVar("T")


class ConfigError(Exception):
    """A setting is missing, malformed or unusable; the message names it and says why."""


ENV_PREFIX = "TRADEWIND_"
#: A variable with this suffix names a file that holds the setting's value.
FILE_SUFFIX = "_FILE"


@dataclass(frozen=True, kw_only=True)
class Setting(Generic[T]):
    """One setting: its name, how to parse it from text, its default and its help."""

    #: Snake-case name; the flag and variable names derive from it.
    name: str
    #: Turns the text of a flag or variable into the value; raises ValueError with a reason.
    parse: Callable[[str], T]
    default: T
    help: str
    #: A switch (``--tls`` / ``--no-tls``) rather than a flag taking a value.
    switch: bool = False

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--metrics-port``."""
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        """The environment variable, e.g. ``TRADEWIND_METRICS_PORT``."""
        return ENV_PREFIX + self.name.upper()

    @property
    def env_file(self) -> str:
        """The variable naming a file that holds the value, e.g. ``TRADEWIND_API_TOKENS_FILE``."""
        return self.env + FILE_SUFFIX


class Settings:
    """Resolved setting values, read with the :class:`Setting` as the key."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getitem__(self, setting: Setting[T]) -> T:
        return cast(T, self._values[setting.name])


class OneLineArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors raise :class:`ConfigError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise the parse error as a one-line :class:`ConfigError`."""
        raise ConfigError(message)


def add_settings(parser: argparse.ArgumentParser, settings: Iterable[Setting[Any]]) -> None:
    """Add one flag per setting to ``parser``; its help names the variable and the default."""
    for setting in settings:
        help_text = f"{setting.help} [env {setting.env}; default {_show(setting.default)}]"
        if setting.switch:
            parser.add_argument(
                setting.flag,
                dest=setting.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                setting.flag,
                dest=setting.name,
                default=None,
                metavar=setting.name.split("_")[-1].upper(),
                help=help_text,
            )


def resolve_settings(
    args: argparse.Namespace,
    settings: Iterable[Setting[Any]],
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting from the parsed flags, then the environment, then its default.

    Raises:
        ConfigError: a value does not parse; the message names the flag and the variable.

    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in settings:
        given = getattr(args, setting.name, None)
        if isinstance(given, bool):
            values[setting.name] = given
            continue
        source, text = (
            (setting.flag, given) if given is not None else (setting.env, env.get(setting.env))
        )
        shown = repr(text)
        if text is None:
            source, text = setting.env_file, _file_value(setting, env)
            shown = f"in {env.get(setting.env_file)}"
        if text is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(text)
        except ValueError as err:
            raise ConfigError(
                f"invalid value {shown} for {source} ({setting.flag} / {setting.env}): {err}"
            ) from err
    return Settings(values)


def _file_value(setting: Setting[Any], env: Mapping[str, str]) -> str | None:
    """The value in the file ``TRADEWIND_<NAME>_FILE`` names, if it is set.

    Secrets (tokens, database URLs) given this way appear in no command line and no
    environment; one value per line of a list setting is read as a comma-separated list.

    Raises:
        ConfigError: the file cannot be read.

    """
    path = env.get(setting.env_file)
    if not path:
        return None
    try:
        text = Path(path).expanduser().read_text()
    except OSError as err:
        raise ConfigError(
            f"cannot read {setting.env_file}={path} ({setting.flag}): {err.strerror or err}"
        ) from err
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:  # an empty token file must not switch authentication off unnoticed
        raise ConfigError(f"{setting.env_file}={path} ({setting.flag}) names an empty file")
    return ",".join(lines)


def _show(value: object) -> str:
    if value in ("", None, ()):
        return "unset"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


# ---- parsers: each returns the value or raises ValueError with a reason ----


def parse_port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    port = parse_int(text)
    if not 1 <= port <= 65535:
        raise ValueError("a port must be between 1 and 65535")
    return port


def parse_optional_port(text: str) -> int:
    """A TCP port, or 0 for "disabled"."""
    port = parse_int(text)
    if not 0 <= port <= 65535:
        raise ValueError("a port must be between 1 and 65535, or 0 to disable")
    return port


def parse_int(text: str) -> int:
    """An integer."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = parse_int(text)
    if value < 1:
        raise ValueError("expected an integer of at least 1")
    return value


def parse_seconds(text: str) -> float:
    """A non-negative number of seconds."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if value < 0 or value != value:
        raise ValueError("expected a non-negative number of seconds")
    return value


def seconds_at_least(minimum: float) -> Callable[[str], float]:
    """A parser of a number of seconds that refuses less than ``minimum``."""

    def parse_bounded_seconds(text: str) -> float:
        value = parse_seconds(text)
        if value < minimum:
            raise ValueError(f"expected at least {minimum:g} seconds")
        return value

    return parse_bounded_seconds


def parse_non_negative_int(text: str) -> int:
    """An integer of at least 0."""
    value = parse_int(text)
    if value < 0:
        raise ValueError("expected an integer of at least 0")
    return value


def parse_bool(text: str) -> bool:
    """true/false, yes/no, on/off or 1/0."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_list(text: str) -> tuple[str, ...]:
    """A comma-separated list; blanks around items are dropped, empty items ignored."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_text(text: str) -> str:
    """Any text."""
    return text


def parse_path(text: str) -> Path:
    """A filesystem path; ``~`` is expanded."""
    if not text.strip():
        raise ValueError("expected a path")
    return Path(text).expanduser()


def parse_optional_path(text: str) -> Path | None:
    """A filesystem path, or empty for none."""
    return Path(text).expanduser() if text.strip() else None


def choice(*options: str) -> Callable[[str], str]:
    """A parser accepting one of ``options`` (case-insensitive)."""

    def parse_choice(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return lowered

    return parse_choice


# ---- settings every process shares ----

HOME = Setting(
    name="home",
    parse=parse_path,
    default=Path("~/.tradewind"),
    help="Tradewind's data folder: the SQLite file, logs and standalone state",
)
DAGS_FOLDER = Setting(
    name="dags_folder",
    parse=parse_path,
    default=Path("dags"),
    help="the folder of DAG files",
)
PLUGINS_FOLDER = Setting(
    name="plugins_folder",
    parse=parse_optional_path,
    default=None,
    help="the folder of plugins: users' Timetable, PartitionMapper and Window classes and the"
    " modules DAG files import from it (on the import path of DAG files and tasks); the DAG"
    " processor, the scheduler and the executors must share it",
)
CREATE_CRON_DATA_INTERVALS = Setting(
    name="create_cron_data_intervals",
    parse=parse_bool,
    default=False,
    switch=True,
    help="a cron string as schedule means CronDataIntervalTimetable (each run covers the"
    " interval since the previous tick) instead of CronTriggerTimetable (Airflow 3's default);"
    " the DAG processor and the executors must agree",
)
CREATE_DELTA_DATA_INTERVALS = Setting(
    name="create_delta_data_intervals",
    parse=parse_bool,
    default=False,
    switch=True,
    help="a timedelta as schedule means DeltaDataIntervalTimetable instead of"
    " DeltaTriggerTimetable (Airflow 3's default); the DAG processor and the executors must"
    " agree",
)
#: What parsing a DAG file depends on besides the file: given to the processes that parse.
PARSING_SETTINGS = (PLUGINS_FOLDER, CREATE_CRON_DATA_INTERVALS, CREATE_DELTA_DATA_INTERVALS)


def export_parsing_settings(values: Settings) -> None:
    """Put the parsing settings in this process's environment.

    For the processes it starts (parse children, task processes) and for the DAG files this
    process itself imports.
    """
    import sys

    folder = values[PLUGINS_FOLDER]
    if folder is not None:
        os.environ[PLUGINS_FOLDER.env] = str(folder.resolve())
        if str(folder.resolve()) not in sys.path:
            sys.path.append(str(folder.resolve()))  # appended: plugins shadow no library
    for setting in (CREATE_CRON_DATA_INTERVALS, CREATE_DELTA_DATA_INTERVALS):
        os.environ[setting.env] = "true" if values[setting] else "false"


LOG_LEVEL = Setting(
    name="log_level",
    parse=choice("debug", "info", "warning", "error"),
    default="info",
    help="the least severe log level written",
)
LOG_FORMAT = Setting(
    name="log_format",
    parse=choice("text", "json"),
    default="text",
    help="text for people, json for log collectors",
)


def build_parser(
    prog: str, description: str, settings: Sequence[Setting[Any]]
) -> OneLineArgumentParser:
    """Return a parser with one flag per setting, raising ConfigError on usage errors."""
    parser = OneLineArgumentParser(prog=prog, description=description)
    add_settings(parser, settings)
    return parser
