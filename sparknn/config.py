"""Job configuration: plain data, loaded from TOML, overridden by command-line flags.

A job declares its settings once, as a dict of defaults, and the values each may take as a
dict of :class:`Rule` (``RULES``). From those we derive the command-line flags
(``--batch-size 64``; booleans get ``--x/--no-x``), read the TOML file named by ``--config``
and apply flags given on the command line last. Keys are checked against the defaults so a
typo in a config file is an error, not a silently ignored value; a value must have its
default's type (an integer where the default is one; a float setting also takes an integer)
and obey its rule, whether it comes from the file or from a flag, before any work starts.

The same rules give the CLIs' numeric arguments their types (:data:`positive_int` ...), and
:class:`ArgumentParser` reports a bad argument as one line, as every sparknn CLI does.
"""

import argparse
import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sparknn.errors import SparknnError


class Rule(NamedTuple):
    """The values a setting may take: ``text`` says which, in an error message."""

    text: str
    allows: Callable[[object], bool]


POSITIVE = Rule("> 0", lambda value: value > 0)
AT_LEAST_ONE = Rule(">= 1", lambda value: value >= 1)
NON_NEGATIVE = Rule(">= 0", lambda value: value >= 0)
FRACTION = Rule("in [0, 1)", lambda value: 0 <= value < 1)
OPEN_UNIT = Rule("in (0, 1)", lambda value: 0 < value < 1)


def one_of(choices) -> Rule:
    choices = tuple(choices)
    return Rule("one of " + ", ".join(map(str, choices)), lambda value: value in choices)


def problem(value, rule: Rule | None) -> str | None:
    """Why ``value`` breaks ``rule`` ("must be a finite number > 0"), or None if it does not.
    A float must be finite whatever the rule."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number" + (f" {rule.text}" if rule else "")
    if rule is not None and not rule.allows(value):
        return f"must be {rule.text}"
    return None


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``prog: error: message``, and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def argument_type(kind: type, rule: Rule | None = None):
    """An argparse ``type``: the text as ``kind`` (int, float or str), a finite number if it is
    one, and within ``rule``."""
    names = {int: "an integer", float: "a number"}

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {names[kind]}, got {text!r}") from None
        why = problem(value, rule)
        if why:
            raise argparse.ArgumentTypeError(f"{why}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


positive_int = argument_type(int, AT_LEAST_ONE)
non_negative_int = argument_type(int, NON_NEGATIVE)
positive_float = argument_type(float, POSITIVE)


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, defaults: dict, rules=None) -> None:
    """Add ``--config`` and one flag per key of ``defaults`` (default None = not given); a
    flag's value is checked against ``rules[key]`` as it is parsed."""
    rules = rules or {}
    parser.add_argument("--config", metavar="TOML", help="TOML file with job settings")
    for key, default in defaults.items():
        help_text = f"(default: {default!r})"
        if isinstance(default, bool):
            parser.add_argument(
                flag_name(key), dest=key, action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            kind = str if default is None else type(default)
            value_type = argument_type(kind, rules.get(key))
            parser.add_argument(flag_name(key), dest=key, type=value_type, help=help_text)


def load_toml(path: str | Path, defaults: dict, rules=None) -> dict:
    """Read a flat TOML file; every key must be one of ``defaults``, with its default's type,
    and obey its rule in ``rules``."""
    path = Path(path)
    if not path.is_file():
        raise SparknnError(f"config file not found: {path}")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SparknnError(f"config file {path} is not valid TOML: {error}") from None
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise SparknnError(
            f"unknown config key(s) {', '.join(unknown)} in {path}; "
            f"valid keys: {', '.join(sorted(defaults))}"
        )
    rules = rules or {}
    checked = {}
    for key, value in values.items():
        checked[key] = typed(value, defaults[key])
        if checked[key] is None:
            raise SparknnError(
                f"{path}: {key} must be {type_name(defaults[key])}, "
                f"got {as_toml(value)} ({type_name(value)})"
            )
        why = problem(checked[key], rules.get(key))
        if why:
            raise SparknnError(f"{path}: {key} {why}, got {as_toml(value)}")
    return checked


def resolve(args: argparse.Namespace, defaults: dict, rules=None) -> dict:
    """Defaults, then the TOML file from ``--config``, then flags given on the command line."""
    config = dict(defaults)
    if getattr(args, "config", None):
        config.update(load_toml(args.config, defaults, rules))
    config.update({key: getattr(args, key) for key in defaults if getattr(args, key) is not None})
    return config


def typed(value, default):
    """``value`` as ``default``'s type, or None where it has another: a boolean is not a
    number here, and an integer is a float setting's value but not a string's."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value if isinstance(value, bool) and isinstance(default, bool) else None
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    return value if default is None or type(value) is type(default) else None


def type_name(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "a table"})
    return names.get(type(value), "a date or time")


def as_toml(value) -> str:
    """``value`` as it would be written in TOML (close enough for an error message)."""
    return json.dumps(value, ensure_ascii=False, default=str)
