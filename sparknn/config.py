"""Job configuration: plain data, loaded from TOML, overridden by command-line flags.

A job declares its settings once, as a frozen dataclass of :class:`JobSettings` whose every
field is a :func:`setting`: its default, its doc and the values it may take (a :class:`Rule`).
From that we derive the command-line flags (``--batch-size 64``, with the field's doc as help;
booleans get ``--x/--no-x``), read the TOML file named by ``--config`` and apply flags given
on the command line last. Keys are checked against the fields so a typo in a config file is an
error, not a silently ignored value; a value must have its default's type (an integer where
the default is one; a float setting also takes an integer) and obey its rule, whether it comes
from the file, from a flag or from Python, before any work starts.

The same rules give the CLIs' numeric arguments their types (:data:`positive_int` ...), and
:class:`ArgumentParser` reports a bad argument as one line, as every sparknn CLI does.
"""

import argparse
import json
import math
import numbers
import tomllib
from collections.abc import Callable
from dataclasses import field, fields
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


def setting(default, help: str, rule: Rule | None = None):
    """A field of a job's settings dataclass: its default, its doc (the flag's help, and what
    the comment in conf/*.toml says) and the values it may take."""
    return field(default=default, metadata={"help": help, "rule": rule})


class JobSettings:
    """Base of a job's frozen settings dataclass, whose fields are made with :func:`setting`.
    Making one checks every value: it must have its default's type (an integer where the
    default is one; a float setting also takes an integer, made a float) and obey its rule.
    A subclass with checks across fields extends ``__post_init__``."""

    def __post_init__(self):
        for item in fields(self):
            given = getattr(self, item.name)
            value = typed(given, item.default)
            if value is None:
                raise SparknnError(f"{item.name} must be {type_name(item.default)}, got {given!r}")
            why = problem(value, item.metadata["rule"])
            if why:
                raise SparknnError(f"{item.name} {why}, got {given!r}")
            object.__setattr__(self, item.name, value)  # frozen: the one place it is set


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, settings_class) -> None:
    """Add ``--config`` and one flag per field of ``settings_class`` (default None = not
    given), its help the field's doc; a flag's value is checked against the field's rule as it
    is parsed."""
    parser.add_argument("--config", metavar="TOML", help="TOML file with job settings")
    for item in fields(settings_class):
        help_text = f"{item.metadata['help']} (default: {item.default!r})".replace("%", "%%")
        if isinstance(item.default, bool):
            parser.add_argument(
                flag_name(item.name),
                dest=item.name,
                action=argparse.BooleanOptionalAction,
                help=help_text,
            )
        else:
            value_type = argument_type(type(item.default), item.metadata["rule"])
            parser.add_argument(
                flag_name(item.name), dest=item.name, type=value_type, help=help_text
            )


def load_toml(path: str | Path, settings_class) -> dict:
    """Read a flat TOML file; every key must be a field of ``settings_class``, with its
    default's type, and obey its rule."""
    path = Path(path)
    if not path.is_file():
        raise SparknnError(f"config file not found: {path}")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SparknnError(f"config file {path} is not valid TOML: {error}") from None
    known = {item.name: item for item in fields(settings_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SparknnError(
            f"unknown config key(s) {', '.join(unknown)} in {path}; "
            f"valid keys: {', '.join(sorted(known))}"
        )
    checked = {}
    for key, value in values.items():
        default = known[key].default
        checked[key] = typed(value, default)
        if checked[key] is None:
            raise SparknnError(
                f"{path}: {key} must be {type_name(default)}, "
                f"got {as_toml(value)} ({type_name(value)})"
            )
        why = problem(checked[key], known[key].metadata["rule"])
        if why:
            raise SparknnError(f"{path}: {key} {why}, got {as_toml(value)}")
    return checked


def resolve(args: argparse.Namespace, settings_class):
    """The settings: defaults, then the TOML file from ``--config``, then flags given on the
    command line."""
    values = {}
    if getattr(args, "config", None):
        values.update(load_toml(args.config, settings_class))
    for item in fields(settings_class):
        if getattr(args, item.name) is not None:
            values[item.name] = getattr(args, item.name)
    return settings_class(**values)


def typed(value, default):
    """``value`` as ``default``'s type, or None where it has another: a boolean is not a
    number here, and an integer is a float setting's value but not a string's."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value if isinstance(value, bool) and isinstance(default, bool) else None
    if isinstance(default, int):
        return int(value) if isinstance(value, numbers.Integral) else None
    if isinstance(default, float):
        return float(value) if isinstance(value, numbers.Real) else None
    return value if type(value) is type(default) else None


def type_name(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "a table"})
    return names.get(type(value), "a date or time")


def as_toml(value) -> str:
    """``value`` as it would be written in TOML (close enough for an error message)."""
    return json.dumps(value, ensure_ascii=False, default=str)
