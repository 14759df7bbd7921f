"""Bounds on what an import reads, so that no document can exhaust memory or time.

A 500-byte YAML alias bomb, a zip or XLSX that unpacks to gigabytes, an XML entity bomb or a
CSV cell of a million characters is refused while it is read, with a message naming the file,
the limit (its ``ZHIKU_IMPORT_*`` setting) and the value found. The limits are settings
(:class:`kb.settings.Settings`) with defaults far above real content.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.settings import Settings, get_settings


@dataclass(frozen=True)
class ImportLimits:
    file_bytes: int = 20 * 1024 * 1024
    total_bytes: int = 100 * 1024 * 1024
    files: int = 2000
    zip_ratio: int = 100
    rows: int = 50_000
    columns: int = 200
    cell_chars: int = 65_536
    yaml_depth: int = 40
    yaml_aliases: int = 100
    yaml_nodes: int = 1_000_000

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ImportLimits:
        config = settings or get_settings()
        return cls(
            file_bytes=config.import_max_file_bytes,
            total_bytes=config.import_max_total_bytes,
            files=config.import_max_files,
            zip_ratio=config.import_max_zip_ratio,
            rows=config.import_max_rows,
            columns=config.import_max_columns,
            cell_chars=config.import_max_cell_chars,
            yaml_depth=config.import_max_yaml_depth,
            yaml_aliases=config.import_max_yaml_aliases,
            yaml_nodes=config.import_max_yaml_nodes,
        )


# Limit name → the setting that changes it, for messages.
SETTING = {
    "file_bytes": "ZHIKU_IMPORT_MAX_FILE_BYTES",
    "total_bytes": "ZHIKU_IMPORT_MAX_TOTAL_BYTES",
    "files": "ZHIKU_IMPORT_MAX_FILES",
    "zip_ratio": "ZHIKU_IMPORT_MAX_ZIP_RATIO",
    "rows": "ZHIKU_IMPORT_MAX_ROWS",
    "columns": "ZHIKU_IMPORT_MAX_COLUMNS",
    "cell_chars": "ZHIKU_IMPORT_MAX_CELL_CHARS",
    "yaml_depth": "ZHIKU_IMPORT_MAX_YAML_DEPTH",
    "yaml_aliases": "ZHIKU_IMPORT_MAX_YAML_ALIASES",
    "yaml_nodes": "ZHIKU_IMPORT_MAX_YAML_NODES",
}


def over(what: str, value: int | str, limits: ImportLimits, name: str) -> str:
    """'<what> (<value>) is over the limit of <n> (ZHIKU_IMPORT_…)' for limit ``name``."""
    shown = f"{value:,}" if isinstance(value, int) else value
    return f"{what} ({shown}) is over the limit of {getattr(limits, name):,} ({SETTING[name]})"
