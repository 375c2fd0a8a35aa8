"""Job configuration: plain data, loaded from TOML, overridden by command-line flags.

A job declares its settings once, as a dict of defaults. From that dict we derive the
command-line flags (``--batch-size 64``; booleans get ``--x/--no-x``), read the TOML file
named by ``--config`` and apply flags given on the command line last. Keys are checked
against the defaults so a typo in a config file is an error, not a silently ignored value.
"""

import argparse
import tomllib
from pathlib import Path

from sparknn.errors import SparknnError


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """Add ``--config`` and one flag per key of ``defaults`` (default None = not given)."""
    parser.add_argument("--config", metavar="TOML", help="TOML file with job settings")
    for key, default in defaults.items():
        help_text = f"(default: {default!r})"
        if isinstance(default, bool):
            parser.add_argument(
                flag_name(key), dest=key, action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            value_type = type(default) if default is not None else str
            parser.add_argument(flag_name(key), dest=key, type=value_type, help=help_text)


def load_toml(path: str | Path, defaults: dict) -> dict:
    """Read a flat TOML file; every key must be one of ``defaults``."""
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
    return values


def resolve(args: argparse.Namespace, defaults: dict) -> dict:
    """Defaults, then the TOML file from ``--config``, then flags given on the command line."""
    config = dict(defaults)
    if getattr(args, "config", None):
        config.update(load_toml(args.config, defaults))
    config.update({key: getattr(args, key) for key in defaults if getattr(args, key) is not None})
    return config
