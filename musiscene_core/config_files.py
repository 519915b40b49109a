"""Reading job configuration files (YAML mappings of option names to values) into a job's config dataclass."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from musiscene_core.errors import UserError


def read_yaml_mapping(path: str | Path) -> dict:
    """The mapping in a YAML file; a missing, malformed or non-mapping file is a one-sentence UserError."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as exc:
        raise UserError(f"config file {str(path)!r} does not exist") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"config file {str(path)!r} is not valid YAML") from exc
    if not isinstance(data, dict):
        raise UserError(f"config file {str(path)!r} must hold a mapping of option names to values")
    return data


def check_known_options(data: dict, config_class: type, source: str) -> None:
    """Refuse option names that are not fields of the config dataclass (a typo must not be silently ignored)."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{source} has unknown options: {', '.join(unknown)}")


def read_config_file(path: str | Path, config_class: type) -> dict:
    """The options in a YAML file for `config_class`, every name checked against its fields."""
    data = read_yaml_mapping(path)
    check_known_options(data, config_class, f"config file {str(path)!r}")
    return data
