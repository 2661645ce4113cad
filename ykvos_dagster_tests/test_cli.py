"""Parsing of the `ykvos` command line."""

import pytest

from ykvos_dagster.cli import parse_args


@pytest.mark.parametrize(
    "simulator_args",
    [
        ["--host", "0.0.0.0", "--allow-remote", "--port", "18080"],
        ["--allow-remote", "--host", "0.0.0.0"],
        ["--seed", "3", "--verbose"],
        ["--help"],
        [],
    ],
)
def test_simulator_options_passed_through(simulator_args):
    args = parse_args(["simulator", *simulator_args])
    assert args.command == "simulator"
    assert args.simulator_args == simulator_args


def test_global_option_before_simulator():
    args = parse_args(["-v", "simulator", "--port", "1"])
    assert args.verbose
    assert args.simulator_args == ["--port", "1"]


def test_unknown_option_rejected_outside_simulator():
    with pytest.raises(SystemExit):
        parse_args(["sql", "--no-such-option", "SELECT 1"])
