"""The CLI's parser, in-process: usage errors are one line and exit 2; no server needed."""

from __future__ import annotations

import argparse

import pytest

from tests.helpers.processes import free_port
from tradewind.cli import build_parser, main
from tradewind.cli.runner import VerbParser
from tradewind.cli.runner import _Runner as Runner

LISTINGS = [
    ["dags", "list"],
    ["dags", "show", "d"],
    ["dags", "trigger", "d"],
    ["runs", "list", "d"],
    ["runs", "show", "d", "r"],
    ["tasks", "clear", "d"],
    ["tasks", "mark", "d", "r", "t", "--state", "success"],
    ["variables", "list"],
    ["variables", "get", "k"],
    ["connections", "list"],
    ["connections", "get", "c"],
    ["pools", "list"],
    ["pools", "get", "p"],
    ["import-errors"],
]


@pytest.mark.parametrize("words", LISTINGS, ids=" ".join)
def test_every_listing_takes_output_json(words: list[str]) -> None:
    args = build_parser().parse_args([*words, "--output", "json"])
    assert args.output == "json"
    assert isinstance(args.handler, Runner)


def test_every_command_takes_the_state_service_flags() -> None:
    args = build_parser().parse_args(
        ["pools", "list", "--state-address", "a:1,b:2", "--state-token", "t", "--state-tls"]
    )
    assert (args.state_address, args.state_token, args.state_tls) == ("a:1,b:2", "t", True)


@pytest.mark.parametrize(
    ("words", "line"),
    [
        (
            ["dags", "trigger", "d", "--conf", "{bad"],
            "tradewind dags trigger: error: argument -c/--conf: not valid JSON",
        ),
        (
            ["dags", "trigger", "d", "--conf", '"text"'],
            "tradewind dags trigger: error: argument -c/--conf: must be a JSON object",
        ),
        (
            ["dags", "trigger", "d", "--logical-date", "soon"],
            "tradewind dags trigger: error: argument -l/--logical-date: 'soon' is not an ISO",
        ),
        (["runs", "list"], "tradewind runs list: error: the following arguments are required"),
        (
            ["tasks", "mark", "d", "r", "t", "--state", "running"],
            "tradewind tasks mark: error: argument -s/--state: invalid choice",
        ),
        (["pools", "set", "p", "many"], "tradewind pools set: error: argument SLOTS: invalid int"),
        (
            ["dags", "list", "--output", "yaml"],
            "tradewind dags list: error: argument -o/--output: invalid choice",
        ),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(
    words: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(words)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(line), err


@pytest.mark.parametrize(
    ("words", "line"),
    [
        (
            ["dags", "trigger", "d", "--timeout", "5"],
            "tradewind dags trigger: error: argument --timeout: only makes sense with --wait",
        ),
        (
            ["connections", "add", "c", "--conn-uri", "pg://h", "--host", "x"],
            "tradewind connections add: error: argument --conn-uri: cannot be combined with --host",
        ),
        (
            ["connections", "add", "c"],
            "tradewind connections add: error: one of --conn-uri or --conn-type is required",
        ),
        (
            ["connections", "add", "c", "--conn-uri", "pg://h:port"],
            "tradewind connections add: error: argument --conn-uri: invalid port",
        ),
        (
            ["dags", "list", "--state-address", "127.0.0.1:1,nohost"],
            "tradewind dags list: error: invalid address 'nohost'",
        ),
    ],
)
def test_checks_before_connecting_exit_2(
    words: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(words) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith(line), err
    assert len(err.strip().splitlines()) == 1


def test_an_unreachable_server_is_one_line_naming_the_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"127.0.0.1:{free_port()}"
    assert main(["variables", "list", "--state-address", address]) == 1
    assert capsys.readouterr().err == (
        f"tradewind variables list: error: cannot reach the state service at {address}:"
        " is it running?\n"
    )


def test_a_noun_without_a_verb_shows_its_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 2
    assert "logs" in capsys.readouterr().err


def test_verb_parsers_make_one_line_errors() -> None:
    parser = VerbParser(prog="tradewind x")
    with pytest.raises(SystemExit):
        parser.error("bad")
    assert isinstance(build_parser(), argparse.ArgumentParser)
