"""The TOML mapping file, in (``load_mapping``) and out (``draft_mapping``, for init-mapping).

Format in sample_data/mapping.example.toml and the README: ``empty``, ``[input]``, ``[fields]``,
``[metadata]``, ``[static_metadata]``, ``[other_columns]``. Every mistake is one InputError
naming the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any, cast

from .config import EMPTY_CHOICES, Empty
from .contract import ADDRESS_FIELDS, TOP_FIELDS
from .database import DB_URL_ENV, has_password, read_query_file
from .errors import InputError
from .mapping import (
    TRANSFORMS,
    UNMAPPED_CHOICES,
    FieldSpec,
    InputSettings,
    Mapping,
    Unmapped,
    metadata_key,
)
from .readers import REPORT_COLUMNS, Table

__all__ = ["HEADER_SEARCH", "draft_mapping", "find_header", "load_mapping"]

HEADER_SEARCH = 20  # lines (or sheet rows) init-mapping looks through for a header under titles


def find_header(open_at: Callable[[int | None], Table], header_row: int | None) -> Table:
    """The table init-mapping drafts from: its header is the first line that looks like one.

    ``open_at(n)`` opens the input with its header on line ``n`` (None: the first line). An
    export with title lines above the header ("Customer export", "As of 2026-11-01") would
    otherwise give a draft that maps nothing. With no ``header_row``, when the first line has
    no customer id column, the next HEADER_SEARCH lines are tried for one that has. A draft
    that would map nothing at all is refused, naming --header-row.
    """
    table = open_at(header_row)
    if header_row is None and "customerId" not in Mapping.guess(table.columns).fields:
        for line in range(table.header_line + 1, table.header_line + 1 + HEADER_SEARCH):
            try:
                below = open_at(line)
            except InputError:
                break
            if "customerId" in Mapping.guess(below.columns).fields:
                return below
    if not Mapping.guess(table.columns).fields:
        shown = ", ".join(repr(c[:30]) for c in table.columns[:4])
        raise InputError(
            f"{table.path}: no header found: line {table.header_line} ({shown}) names no customer field"
            + ("" if header_row else f", nor do the {HEADER_SEARCH} lines below it")
            + "; pass --header-row N with the line the header is on"
        )
    return table


def draft_mapping(columns: tuple[str, ...], source: str, settings: InputSettings | None = None) -> str:
    """A commented starting mapping file for ``columns``: what was recognised, filled in;
    what was not, commented out and marked, so a person finishes it in a minute. ``settings``:
    how the file was read, written as ``[input]`` so no command needs those flags again."""
    columns = tuple(c for c in columns if c not in REPORT_COLUMNS)
    mapping = Mapping.guess(columns)
    placed = {c for spec in mapping.fields.values() for c in spec.columns}
    q = _toml_string
    out = [
        f"# kelviq-import mapping for {_toml_string(source)[1:-1]}, drafted by `kelviq-import init-mapping`.",
        "# Check every line, then: kelviq-import validate INPUT --mapping THIS_FILE --preview 3",
        '# Values: a column name, a template "{First} {Last}", or',
        '#   { column = "...", transform = ["trim", "lower"], default = "..." }',
        f'# Transforms: {", ".join(TRANSFORMS)}. A value map: map = {{ "Deutschland" = "DE" }},',
        '#   unmapped = "keep" or "invalid".  empty = "clear" (top level): an empty cell clears the field.',
        "",
    ]
    if settings is not None:
        out.append("[input]   # how the input is read; command-line flags win")
        if settings.table is not None or settings.query is not None:
            out.append(
                f'# url_file = "/run/secrets/legacy-db-url"   # or set {DB_URL_ENV}; never the password here'
            )
        for key in ("encoding", "delimiter", "header_row", "sheet", "table", "query"):
            value = getattr(settings, key)
            if value is not None:
                out.append(
                    f"{key} = {value if isinstance(value, int) else q(value.replace(chr(9), chr(92) + 't'))}"
                )
        out.append("")
    out.append("[fields]")
    targets = ["customerId", "email", "name", *(f"billingAddress.{f}" for f in ADDRESS_FIELDS)]
    for target in targets:
        spec = mapping.fields.get(target)
        if spec is None:
            need = "  # REQUIRED: no column looked like it" if target == "customerId" else ""
            out.append(f'# {target} = ""   # not found in the header{need}')
        elif len(spec.columns) == 1:
            out.append(f"{target} = {_toml_column(spec.columns[0])}")
        else:
            out.append(f"{target} = {q(spec.describe())}")
    rest = [c for c in columns if c not in placed]
    out += ["", "# Columns not placed above: NOT SENT unless you uncomment them here (copied into"]
    out += ["# metadata as text)"]
    out += ["# or set [other_columns] to_metadata = true to copy all of them.", "[metadata]"]
    out += [f"# {metadata_key(c)} = {_toml_column(c)}   # NOT SENT" for c in rest] or [
        "# (every column is placed)"
    ]
    out += [
        "",
        "[static_metadata]",
        '# source = "legacy_crm"   # the same value on every customer',
        "",
        "[other_columns]",
        "to_metadata = false",
        "exclude = []",
        "",
    ]
    return "\n".join(out)


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string that reads back as ``text`` whatever it holds: the spec's escapes
    for backslash, quote and the control characters, ``\\uXXXX`` for the other controls (a
    header cell with a line break in it cannot end the string and write TOML of its own)."""
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_column(name: str) -> str:
    # A plain string with braces would read as a template.
    return f"{{ column = {_toml_string(name)} }}" if "{" in name or "}" in name else _toml_string(name)


_SECTIONS = {"input", "fields", "metadata", "static_metadata", "other_columns"}
_SETTINGS = {"empty"}  # top-level keys


def load_mapping(path: Path | str) -> Mapping:
    """Read a TOML mapping file (format in sample_data/mapping.example.toml and the README)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: mapping file cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - _SECTIONS - _SETTINGS
    if unknown:
        raise InputError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected empty = ..., [input], [fields], [metadata], [static_metadata], [other_columns]"
        )
    empty = data.get("empty", "keep")
    if empty not in EMPTY_CHOICES:
        raise InputError(f'{path}: empty = {empty!r}: use "keep" (the default) or "clear"')
    allowed = set(TOP_FIELDS) | {f"billingAddress.{f}" for f in ADDRESS_FIELDS}
    fields: dict[str, FieldSpec] = {}
    metadata: dict[str, FieldSpec] = {}
    static = {
        k: _str(v, f"[static_metadata] {k}", path) for k, v in _table(data, "static_metadata", path).items()
    }
    for target, value in _flatten(_table(data, "fields", path)).items():
        if target.startswith("metadata."):
            _into_metadata(target[9:], value, f"[fields] {target}", path, metadata=metadata, static=static)
            continue
        if target not in allowed:
            raise InputError(
                f"{path}: [fields] {target!r} is not a kelviq customer field; "
                f"use one of {', '.join(sorted(allowed))}, or metadata.<key>"
            )
        fields[target] = _spec(value, f"[fields] {target}", path, allow_list=target == "name")
    for key, value in _table(data, "metadata", path).items():
        _into_metadata(key, value, f"[metadata] {key}", path, metadata=metadata, static=static)
    other = _table(data, "other_columns", path)
    bad = set(other) - {"to_metadata", "exclude"}
    if bad:
        raise InputError(
            f"{path}: [other_columns] knows to_metadata and exclude, not {', '.join(sorted(bad))}"
        )
    to_metadata = other.get("to_metadata", False)
    exclude = other.get("exclude", [])
    if not isinstance(to_metadata, bool):
        raise InputError(f"{path}: [other_columns] to_metadata must be true or false")
    if not isinstance(exclude, list) or not all(isinstance(c, str) for c in exclude):
        raise InputError(f"{path}: [other_columns] exclude must be a list of column names")
    return Mapping(
        fields=fields,
        metadata=metadata,
        static_metadata=static,
        other_columns=to_metadata,
        exclude=tuple(exclude),
        source=str(path),
        empty=cast(Empty, empty),
        input=_input_settings(_table(data, "input", path), path),
    )


_INPUT_KEYS = (
    "encoding",
    "delimiter",
    "header_row",
    "sheet",
    "url",
    "url_file",
    "table",
    "query",
    "query_file",
)


def _input_settings(table: dict[str, Any], path: Path) -> InputSettings:
    unknown = set(table) - set(_INPUT_KEYS)
    if unknown:
        raise InputError(f"{path}: [input] knows {', '.join(_INPUT_KEYS)}, not {', '.join(sorted(unknown))}")
    for key in ("encoding", "delimiter", "sheet", "url", "url_file", "table", "query", "query_file"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            raise InputError(f"{path}: [input] {key} must be a non-empty string")
    delimiter = table.get("delimiter")
    if delimiter is not None:
        delimiter = delimiter.replace("\\t", "\t")
        if len(delimiter) != 1:
            raise InputError(f'{path}: [input] delimiter must be one character ("\\t" for tab)')
    header_row = table.get("header_row")
    if header_row is not None and (
        isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1
    ):
        raise InputError(f"{path}: [input] header_row counts from 1")
    url, url_file, query = table.get("url"), table.get("url_file"), table.get("query")
    if url is not None and url_file is not None:
        raise InputError(f"{path}: [input] url and url_file contradict each other; keep one")
    if url is not None and has_password(url):
        # A mapping file is shared and committed; a password in it is a leak waiting.
        raise InputError(
            f"{path}: [input] url holds a password; put the URL in a file named by url_file "
            f"(chmod 600) or in ${DB_URL_ENV}"
        )
    if "query_file" in table:
        if query is not None:
            raise InputError(f"{path}: [input] query and query_file contradict each other; keep one")
        query = read_query_file(path.parent / table["query_file"], f"{path}: [input] query_file")
    if table.get("table") is not None and query is not None:
        raise InputError(f"{path}: [input] table and query contradict each other; keep one")
    return InputSettings(
        encoding=table.get("encoding"),
        delimiter=delimiter,
        header_row=header_row,
        sheet=table.get("sheet"),
        url=url,
        url_file=path.parent / url_file if url_file is not None else None,
        table=table.get("table"),
        query=query,
    )


def _flatten(table: dict[str, Any]) -> dict[str, Any]:
    """TOML dotted keys (billingAddress.city = ...) arrive nested; an inline table with
    column/template keys is a field spec, not a nesting level."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, MappingABC) and not set(value) & {"column", "template", "value"}:
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def _into_metadata(
    key: str, value: Any, what: str, path: Path, *, metadata: dict[str, FieldSpec], static: dict[str, str]
) -> None:
    if isinstance(value, MappingABC) and "value" in value:
        if set(value) != {"value"} or not isinstance(value["value"], str):
            raise InputError(f'{path}: {what}: a fixed value is written {{ value = "text" }}')
        static[key] = value["value"]
        return
    metadata[key] = _spec(value, what, path, allow_list=False)


def _spec(value: Any, what: str, path: Path, *, allow_list: bool) -> FieldSpec:
    try:
        if isinstance(value, str) and value:
            return FieldSpec.template(value)
        if allow_list and isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return FieldSpec.joined(value)
        if isinstance(value, MappingABC):
            return _spec_table(value, what, path)
    except ValueError as exc:
        raise InputError(f"{path}: {what}: {exc}") from None
    raise InputError(
        f"{path}: {what} must be a column name"
        + (" or a list of columns" if allow_list else "")
        + ', a template like "{First} {Last}", or a table { column = "...", transform = [...] }'
    )


def _spec_table(value: MappingABC[str, Any], what: str, path: Path) -> FieldSpec:
    if "value" in value:
        raise InputError(f"{path}: {what}: a fixed value is for metadata only; this field must name a column")
    unknown = set(value) - {"column", "template", "transform", "default", "map", "unmapped"}
    if unknown:
        raise InputError(
            f"{path}: {what}: unknown key(s) {', '.join(sorted(unknown))}; "
            "use column or template, transform, map, unmapped, default"
        )
    if ("column" in value) == ("template" in value):
        raise InputError(f"{path}: {what}: give exactly one of column or template")
    source = value.get("column", value.get("template"))
    if not isinstance(source, str) or not source:
        raise InputError(f"{path}: {what}: column/template must be a non-empty string")
    base = FieldSpec.column(source) if "column" in value else FieldSpec.template(source)
    transforms = value.get("transform", [])
    if isinstance(transforms, str):
        transforms = [transforms]
    if not isinstance(transforms, list) or not all(isinstance(t, str) for t in transforms):
        raise InputError(f"{path}: {what}: transform must be a name or a list of names")
    for t in transforms:
        if t not in TRANSFORMS:
            raise InputError(f"{path}: {what}: unknown transform {t!r}; use one of {', '.join(TRANSFORMS)}")
    default = value.get("default")
    if default is not None and not isinstance(default, str):
        raise InputError(f"{path}: {what}: default must be a string")
    values = value.get("map")
    if values is not None and (
        not isinstance(values, MappingABC) or not all(isinstance(v, str) for v in values.values())
    ):
        raise InputError(f'{path}: {what}: map must be a table of texts, e.g. {{ "Deutschland" = "DE" }}')
    unmapped = value.get("unmapped", "keep")
    if unmapped not in UNMAPPED_CHOICES:
        raise InputError(f'{path}: {what}: unmapped = {unmapped!r}: use "keep" or "invalid"')
    if "unmapped" in value and values is None:
        raise InputError(f"{path}: {what}: unmapped goes with a map")
    return FieldSpec(
        parts=base.parts,
        transforms=tuple(transforms),
        default=default,
        values=dict(values) if values is not None else None,
        unmapped=cast(Unmapped, unmapped),
    )


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise InputError(f"{path}: [{name}] must be a table")
    return value


def _str(value: Any, what: str, path: Path) -> str:
    if not isinstance(value, str):
        raise InputError(f"{path}: {what} must be a string")
    return value
