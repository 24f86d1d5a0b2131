from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.server import ServerSettings
from tradewind_common import config as cfg
from tradewind_common.config import ConfigError

PORT = cfg.Setting(name="port", parse=cfg.parse_port, default=50051, help="gRPC port")
TOKENS = cfg.Setting[tuple[str, ...]](
    name="api_tokens", parse=cfg.parse_list, default=(), help="tokens"
)
TLS = cfg.Setting(name="use_tls", parse=cfg.parse_bool, default=False, help="tls", switch=True)
SETTINGS = (PORT, TOKENS, TLS)


def resolve(argv: list[str], environ: dict[str, str] | None = None) -> cfg.Settings:
    parser = cfg.build_parser("tradewind test", "", SETTINGS)
    return cfg.resolve_settings(parser.parse_args(argv), SETTINGS, environ or {})


def test_names_derive_from_the_setting_name() -> None:
    assert PORT.flag == "--port"
    assert TOKENS.env == "TRADEWIND_API_TOKENS"


def test_flag_wins_over_environment_which_wins_over_default() -> None:
    assert resolve([])[PORT] == 50051
    assert resolve([], {"TRADEWIND_PORT": "6000"})[PORT] == 6000
    assert resolve(["--port", "7000"], {"TRADEWIND_PORT": "6000"})[PORT] == 7000


def test_switch_reads_flag_and_environment() -> None:
    assert resolve([])[TLS] is False
    assert resolve(["--use-tls"])[TLS] is True
    assert resolve(["--no-use-tls"], {"TRADEWIND_USE_TLS": "true"})[TLS] is False
    assert resolve([], {"TRADEWIND_USE_TLS": "yes"})[TLS] is True


def test_a_file_variable_gives_the_value_without_showing_it(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("first\nsecond\n")
    port = tmp_path / "port"
    port.write_text("6001\n")
    environ = {"TRADEWIND_API_TOKENS_FILE": str(tokens), "TRADEWIND_PORT_FILE": str(port)}
    assert resolve([], environ)[TOKENS] == ("first", "second")
    assert resolve([], environ)[PORT] == 6001
    assert resolve([], {**environ, "TRADEWIND_PORT": "6002"})[PORT] == 6002
    port.write_text("secret-looking")
    with pytest.raises(ConfigError, match="for TRADEWIND_PORT_FILE") as refused:
        resolve([], environ)
    assert "secret-looking" not in str(refused.value)
    with pytest.raises(ConfigError, match="cannot read TRADEWIND_API_TOKENS_FILE="):
        resolve([], {"TRADEWIND_API_TOKENS_FILE": str(tmp_path / "missing")})


def test_lists_are_comma_separated() -> None:
    assert resolve(["--api-tokens", " a, b,,c "])[TOKENS] == ("a", "b", "c")


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (
            ["--port", "http"],
            {},
            "invalid value 'http' for --port (--port / TRADEWIND_PORT): expected an integer",
        ),
        (
            [],
            {"TRADEWIND_PORT": "70000"},
            "for TRADEWIND_PORT (--port / TRADEWIND_PORT): a port must be between 1 and 65535",
        ),
        ([], {"TRADEWIND_USE_TLS": "maybe"}, "expected true or false"),
        (["--colour", "red"], {}, "unrecognized arguments: --colour red"),
    ],
)
def test_bad_values_raise_one_line_errors(
    argv: list[str], environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(argv, environ)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (cfg.parse_seconds, "2.5", 2.5),
        (cfg.parse_optional_port, "0", 0),
        (cfg.parse_positive_int, "3", 3),
        (cfg.choice("text", "json"), "JSON", "json"),
        (cfg.parse_optional_path, "", None),
        (cfg.parse_path, "/tmp/x", Path("/tmp/x")),
    ],
)
def test_parsers_accept_good_values(parse: object, text: str, value: object) -> None:
    assert parse(text) == value  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (cfg.parse_seconds, "-1"),
        (cfg.parse_seconds, "nan"),
        (cfg.parse_positive_int, "0"),
        (cfg.parse_port, "0"),
        (cfg.choice("text", "json"), "xml"),
        (cfg.parse_path, " "),
    ],
)
def test_parsers_reject_bad_values(parse: object, text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every parser raises a plain ValueError
        parse(text)  # type: ignore[operator]


def test_server_settings_build_a_typed_config(tmp_path: Path) -> None:
    settings = ServerSettings.with_defaults(port=50051, metrics_port=9151)
    parser = cfg.build_parser("tradewind state", "", settings.all())
    values = cfg.resolve_settings(
        parser.parse_args(["--service-tokens", "s1"]),
        settings.all(),
        {"TRADEWIND_HOST": "0.0.0.0", "TRADEWIND_LOG_FORMAT": "json"},
    )
    config = settings.config("state", values)
    assert (config.host, config.port, config.metrics_port) == ("0.0.0.0", 50051, 9151)
    assert config.log_format == "json"
    assert config.auth.service_tokens == frozenset({"s1"})
    assert config.tls is None


def test_tls_needs_certificate_and_key() -> None:
    settings = ServerSettings.with_defaults(port=50051, metrics_port=0)
    parser = cfg.build_parser("tradewind state", "", settings.all())
    values = cfg.resolve_settings(parser.parse_args(["--tls-cert", "/x.pem"]), settings.all(), {})
    with pytest.raises(ConfigError, match="both --tls-cert and --tls-key"):
        settings.config("state", values)
