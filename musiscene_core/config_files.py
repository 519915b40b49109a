"""Reading job configuration files (YAML mappings of option names to values)."""

from __future__ import annotations

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
