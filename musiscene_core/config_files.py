"""Reading job configuration files (YAML mappings of option names to values) into a job's config dataclass,
checking option names and value types."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

from musiscene_core.errors import UserError


def read_yaml_mapping(path: str | Path) -> dict:
    """The mapping in a YAML file; a missing, malformed, binary or non-mapping file is a one-sentence UserError."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as exc:
        raise UserError(f"config file {str(path)!r} does not exist") from exc
    except IsADirectoryError as exc:
        raise UserError(f"config file {str(path)!r} is a folder, not a YAML file") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"config file {str(path)!r} is not a text file") from exc
    except OSError as exc:
        raise UserError(f"config file {str(path)!r} cannot be read: {(exc.strerror or str(exc)).lower()}") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"config file {str(path)!r} is not valid YAML") from exc
    if not isinstance(data, dict):
        raise UserError(f"config file {str(path)!r} must hold a mapping of option names to values")
    return data


_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _accepted(annotation) -> tuple[tuple[type, ...], bool]:
    """(the plain types a field accepts, whether it accepts None) for annotations like `int`, `float | None`, `str | dict`."""
    args = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    optional = type(None) in args
    plain = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
    return plain, optional


def check_types(cls: type, data: dict, source: str) -> dict:
    """`data` with each value checked against the dataclass field's type; whole numbers pass for floats.

    YAML reads `force: "false"` as the text "false", which Python would take as true: such values are
    refused rather than guessed at."""
    hints = typing.get_type_hints(cls)
    checked = {}
    for name, value in data.items():
        field_type = hints.get(name)
        if field_type is None:
            checked[name] = value
            continue
        accepted, optional = _accepted(field_type)
        if value is None and optional:
            checked[name] = value
        elif float in accepted and isinstance(value, (int, float)) and not isinstance(value, bool):
            checked[name] = float(value) if int not in accepted else value
        elif isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted):
            checked[name] = value
        else:
            wanted = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in accepted)
            raise UserError(f"{source}: option {name!r} must be {wanted}{' (or null)' if optional else ''}, not {value!r}")
    return checked


def check_known_options(data: dict, config_class: type, source: str) -> None:
    """Refuse option names that are not fields of the config dataclass (a typo must not be silently ignored)."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{source} has unknown options: {', '.join(unknown)}")


def read_config_file(path: str | Path, config_class: type) -> dict:
    """The options in a YAML file for `config_class`, every name checked against its fields and every value
    against its field's type."""
    data = read_yaml_mapping(path)
    source = f"config file {str(path)!r}"
    check_known_options(data, config_class, source)
    return check_types(config_class, data, source)
