"""Turn input rows into kelviq customer payloads: ``SourceRow -> payload | problem``.

A ``Mapping`` says how each kelviq field is made from the row: a column, a template over
columns (``"{First Name} {Last Name}"``), then transforms and a default. It comes from a TOML
mapping file or is guessed from the header with common synonyms. ``Mapping.compile(columns)``
checks it against the file's header once and returns a ``RowMapper`` that does the per-row
work. Mapping never raises for a row: a row becomes a payload or a problem.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from .contract import ADDRESS_FIELDS, NULLABLE, TOP_FIELDS, Payload, customer_id_problem, email_problem
from .countries import to_alpha2
from .errors import InputError
from .problems import Problem, render_all
from .readers import REPORT_COLUMNS, SourceRow

__all__ = [
    "EMPTY_CHOICES",
    "TRANSFORMS",
    "Empty",
    "FieldSpec",
    "Mapped",
    "Mapping",
    "RowMapper",
    "create_payload",
    "load_mapping",
]

# What an empty cell in a mapped column means: keep what kelviq has, or clear it (null).
Empty = Literal["keep", "clear"]
EMPTY_CHOICES: tuple[Empty, ...] = ("keep", "clear")
# A value that a field's map has no entry for: sent as it is, or the row is invalid.
Unmapped = Literal["keep", "invalid"]
UNMAPPED_CHOICES: tuple[Unmapped, ...] = ("keep", "invalid")


def _fold_value(value: str) -> str:
    return " ".join(value.split()).casefold()


# Normalised header (lowercase, letters and digits only) -> target field.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customerId": (
        "customerid",
        "customer",
        "customerno",
        "customernumber",
        "customerref",
        "externalid",
        "clientid",
        "accountid",
        "accountnumber",
        "crmid",
        "kundennummer",
        "kundennr",
        "numeroclient",
        "idcliente",
        "id",
    ),
    "email": (
        "email",
        "emailaddress",
        "mail",
        "emailid",
        "contactemail",
        "primaryemail",
        "courriel",
        "correo",
        "correoelectronico",
    ),
    "name": (
        "name",
        "fullname",
        "customername",
        "contactname",
        "displayname",
        "company",
        "companyname",
        "accountname",
        "firma",
        "firmenname",
        "unternehmen",
        "societe",
        "entreprise",
        "empresa",
        "bedrijf",
        "bedrijfsnaam",
        "azienda",
    ),
    "first_name": ("firstname", "givenname", "forename", "first", "vorname", "prenom", "nombre"),
    "last_name": (
        "lastname",
        "surname",
        "familyname",
        "last",
        "nachname",
        "nomdefamille",
        "apellido",
        "apellidos",
    ),
    "billingAddress.line1": (
        "address",
        "address1",
        "addressline1",
        "line1",
        "street",
        "streetaddress",
        "street1",
        "billingaddress",
        "billingaddress1",
        "billingstreet",
        "strasse",
        "adresse",
        "direccion",
    ),
    "billingAddress.line2": ("address2", "addressline2", "line2", "street2", "billingaddress2"),
    "billingAddress.city": ("city", "town", "billingcity", "locality", "ort", "stadt", "ville", "ciudad"),
    "billingAddress.state": ("state", "province", "region", "stateprovince", "county", "billingstate"),
    "billingAddress.postalCode": (
        "postalcode",
        "postcode",
        "zip",
        "zipcode",
        "postal",
        "billingpostalcode",
        "billingzip",
        "plz",
        "postleitzahl",
        "codepostal",
        "codigopostal",
    ),
    "billingAddress.country": (
        "country",
        "countrycode",
        "countryname",
        "billingcountry",
        "land",
        "pays",
        "pais",
    ),
}

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_COUNTRY_HELP = "use an ISO 3166-1 alpha-2 code such as DE or US"


def _norm(header: str) -> str:
    """``"Straße"`` -> ``"strasse"``, ``"E-Mail"`` -> ``"email"``, ``"Prénom"`` -> ``"prenom"``."""
    folded = unicodedata.normalize("NFKD", header.casefold())
    return re.sub(r"[^0-9a-z]", "", folded)


def metadata_key(column: str) -> str:
    """``"Signup Date"`` -> ``"signup_date"``: the key an unmapped column gets in metadata."""
    key = re.sub(r"[^0-9a-zA-Z]+", "_", column).strip("_").lower()
    return key or "column"


def _collapse(value: str) -> str:
    return " ".join(value.split())


# Transforms a mapping file may name, applied in the order written. "country" turns a name or
# code into ISO 3166-1 alpha-2 and makes an unknown country a row problem.
TRANSFORMS: dict[str, Any] = {
    "trim": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "collapse_spaces": _collapse,
    "digits": lambda v: re.sub(r"\D", "", v),
    "country": None,  # handled by the mapper: it can fail
}


@dataclass(frozen=True)
class FieldSpec:
    """How one value is made: literal text and column references, then transforms, default.

    ``parts`` is a sequence of (text, is_column). A plain column is one part; a template
    ``"{First Name} {Last Name}"`` is three. Empty columns leave no stray spaces behind.
    """

    parts: tuple[tuple[str, bool], ...]
    transforms: tuple[str, ...] = ()
    default: str | None = None
    # A value map (``map = { "Deutschland" = "DE" }``), matched ignoring case and extra spaces,
    # applied after the transforms; ``unmapped``: a value not in it is kept, or the row invalid.
    values: dict[str, str] | None = None
    unmapped: Unmapped = "keep"

    @classmethod
    def column(cls, name: str) -> FieldSpec:
        return cls(((name, True),))

    @classmethod
    def joined(cls, names: tuple[str, ...] | list[str]) -> FieldSpec:
        parts: list[tuple[str, bool]] = []
        for i, name in enumerate(names):
            if i:
                parts.append((" ", False))
            parts.append((name, True))
        return cls(tuple(parts))

    @classmethod
    def template(cls, text: str) -> FieldSpec:
        """``"{A} {B}"`` -> parts; ``{{`` and ``}}`` are literal braces; no braces: a column."""
        if "{" not in text and "}" not in text:
            return cls.column(text)
        parts: list[tuple[str, bool]] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(text):
            if m.start() > pos:
                parts.append((text[pos : m.start()], False))
            if m.group(1) is None:
                parts.append((m.group(0)[0], False))
            else:
                if not m.group(1).strip():
                    raise ValueError(f"empty placeholder {{}} in template {text!r}")
                parts.append((m.group(1), True))
            pos = m.end()
        if pos < len(text):
            parts.append((text[pos:], False))
        if any(("{" in t or "}" in t) and not c and t not in "{}" for t, c in parts):
            raise ValueError(f"unbalanced brace in template {text!r}")
        return cls(tuple(parts))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(t for t, is_col in self.parts if is_col)

    def describe(self) -> str:
        cols = self.columns
        if len(self.parts) == 1 and cols:
            text = cols[0]
        else:
            text = "".join("{" + t + "}" if c else t for t, c in self.parts)
        if self.transforms:
            text += " | " + " | ".join(self.transforms)
        if self.default is not None:
            text += f" (default {self.default!r})"
        if self.values is not None:
            text += f" | map of {len(self.values)}" + (
                " (others invalid)" if self.unmapped == "invalid" else ""
            )
        return text


@dataclass(frozen=True)
class InputSettings:
    """How to read the input, from a mapping file's ``[input]``: a cron line then needs only
    ``run FILE --mapping M``. Command-line flags win over these."""

    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None
    sheet: str | None = None


@dataclass(frozen=True)
class Mapping:
    """Target field -> FieldSpec, metadata key -> FieldSpec, fixed metadata, and whether the
    columns nobody mapped go into metadata too."""

    fields: dict[str, FieldSpec] = field(default_factory=dict)
    metadata: dict[str, FieldSpec] = field(default_factory=dict)
    static_metadata: dict[str, str] = field(default_factory=dict)
    other_columns: bool = False  # every unmapped column into metadata, keys like "signup_date"
    exclude: tuple[str, ...] = ()  # columns kept out of other_columns
    source: str = "header"  # where it came from, for messages
    empty: Empty = "keep"
    input: InputSettings = field(default_factory=InputSettings)

    @classmethod
    def guess(cls, columns: tuple[str, ...]) -> Mapping:
        """Pick columns by synonym; earlier synonyms win, and a column feeds one field."""
        found = _guess_columns(columns)
        fields: dict[str, FieldSpec] = {}
        for target, col in found.items():
            if target in ("first_name", "last_name"):
                continue
            fields[target] = FieldSpec.column(col)
        split = tuple(found[t] for t in ("first_name", "last_name") if t in found)
        if split and ("name" not in fields or _norm(found["name"]).startswith("company")):
            fields["name"] = FieldSpec.joined(split)
        return cls(fields=fields, source="header")

    def compile(self, columns: tuple[str, ...], *, where: str, empty: Empty | None = None) -> RowMapper:
        """Resolve the columns against the header; ``empty`` overrides the file's choice."""
        index = {c: i for i, c in enumerate(columns)}
        # Header cells are matched as written, then ignoring case and surrounding spaces.
        loose = {c.strip().lower(): i for i, c in reversed(list(enumerate(columns)))}
        used: set[int] = set()

        def col(name: str, what: str) -> int:
            if name in REPORT_COLUMNS:
                raise InputError(
                    f"{where}: column {name!r} (mapped to {what} by the {self.source}) is written by "
                    "kelviq-import into failed.csv and is never sent; map the input's own columns"
                )
            i = index.get(name, loose.get(name.strip().lower()))
            if i is None:
                raise InputError(
                    f"{where}: column {name!r} (mapped to {what} by the {self.source}) "
                    f"is not in the header; the file has {_list(columns)}"
                )
            used.add(i)
            return i

        def compiled(spec: FieldSpec, what: str) -> _Compiled:
            parts = tuple((t, col(t, what) if is_col else -1) for t, is_col in spec.parts)
            values = {_fold_value(k): v for k, v in spec.values.items()} if spec.values is not None else None
            return _Compiled(what, parts, spec.transforms, spec.default, values, spec.unmapped)

        if "customerId" not in self.fields:
            raise InputError(
                f"{where}: no customerId column: none of the headers {_list(columns)} looks like "
                'one; name it in a mapping file (--mapping) under [fields]: customerId = "..."'
            )
        top = tuple(compiled(spec, target) for target, spec in self.fields.items() if "." not in target)
        address = tuple(
            compiled(spec, target)
            for target, spec in self.fields.items()
            if target.startswith("billingAddress.")
        )
        meta = [compiled(spec, f"metadata.{key}") for key, spec in self.metadata.items()]
        if self.other_columns:
            excluded = {col(c, "exclude") for c in self.exclude}
            taken = {m.target for m in meta}
            for i, name in enumerate(columns):
                if i in used or i in excluded or name in REPORT_COLUMNS:
                    continue
                key = f"metadata.{metadata_key(name)}"
                if key in taken:
                    raise InputError(
                        f"{where}: column {name!r} would go into metadata as {key[9:]!r}, which another "
                        "column already fills; map it explicitly under [metadata] or list it in exclude"
                    )
                taken.add(key)
                meta.append(_Compiled(key, ((name, i),), (), None))
        sent = used | {i for m in meta for _, i in m.parts if i >= 0}
        return RowMapper(
            where=where,
            width=len(columns),
            unused=tuple(c for i, c in enumerate(columns) if i not in sent and c not in REPORT_COLUMNS),
            top=top,
            address=address,
            metadata=tuple(meta),
            static_metadata=dict(self.static_metadata),
            clear=(empty or self.empty) == "clear",
        )

    def describe(self) -> str:
        parts = [f"{t} <- {spec.describe()}" for t, spec in self.fields.items()]
        parts += [f"metadata.{k} <- {spec.describe()}" for k, spec in self.metadata.items()]
        parts += [f"metadata.{k} = {v!r}" for k, v in self.static_metadata.items()]
        if self.other_columns:
            parts.append("metadata.* <- every other column")
        if self.empty == "clear":
            parts.append("empty cells clear the field")
        return "; ".join(parts)


def draft_mapping(columns: tuple[str, ...], source: str, settings: InputSettings | None = None) -> str:
    """A commented starting mapping file for ``columns``: what was recognised, filled in;
    what was not, commented out and marked, so a person finishes it in a minute. ``settings``:
    how the file was read, written as ``[input]`` so no command needs those flags again."""
    columns = tuple(c for c in columns if c not in REPORT_COLUMNS)
    mapping = Mapping.guess(columns)
    placed = {c for spec in mapping.fields.values() for c in spec.columns}
    q = _toml_string
    out = [
        f"# kelviq-import mapping for {source}, drafted by `kelviq-import init-mapping`.",
        "# Check every line, then: kelviq-import validate INPUT --mapping THIS_FILE --preview 3",
        '# Values: a column name, a template "{First} {Last}", or',
        '#   { column = "...", transform = ["trim", "lower"], default = "..." }',
        f'# Transforms: {", ".join(TRANSFORMS)}. A value map: map = {{ "Deutschland" = "DE" }},',
        '#   unmapped = "keep" or "invalid".  empty = "clear" (top level): an empty cell clears the field.',
        "",
    ]
    if settings is not None:
        out.append("[input]   # how the file is read; command-line flags win")
        for key in ("encoding", "delimiter", "header_row", "sheet"):
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


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_column(name: str) -> str:
    # A plain string with braces would read as a template.
    return f"{{ column = {_toml_string(name)} }}" if "{" in name or "}" in name else _toml_string(name)


def _guess_columns(columns: tuple[str, ...]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(_norm(column), column)
    taken: set[str] = set()
    found: dict[str, str] = {}
    for target, names in _SYNONYMS.items():
        for syn in names:
            col = by_norm.get(syn)
            if col is not None and col not in taken:
                found[target] = col
                taken.add(col)
                break
    return found


def _list(columns: tuple[str, ...]) -> str:
    shown = ", ".join(repr(c) for c in columns[:12])
    return shown + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")


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


def _input_settings(table: dict[str, Any], path: Path) -> InputSettings:
    unknown = set(table) - {"encoding", "delimiter", "header_row", "sheet"}
    if unknown:
        raise InputError(
            f"{path}: [input] knows encoding, delimiter, header_row and sheet, "
            f"not {', '.join(sorted(unknown))}"
        )
    for key in ("encoding", "delimiter", "sheet"):
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
    return InputSettings(
        encoding=table.get("encoding"), delimiter=delimiter, header_row=header_row, sheet=table.get("sheet")
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


@dataclass(frozen=True, slots=True)
class Mapped:
    """A row after mapping: a payload ready to send, or the reason it cannot be sent.

    ``skipped`` marks a row left out on purpose (a duplicate under --on-duplicate first/last).
    """

    row: int
    customer_id: str
    payload: Payload | None
    problems: tuple[Problem, ...]
    cells: tuple[str, ...]
    skipped: bool = False

    @property
    def problem(self) -> str | None:
        """The problems as one line of text, for a report cell."""
        return render_all(self.problems)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A FieldSpec with its columns resolved to positions (-1: literal text)."""

    target: str
    parts: tuple[tuple[str, int], ...]
    transforms: tuple[str, ...]
    default: str | None
    values: dict[str, str] | None = None  # folded source value -> value sent
    unmapped: Unmapped = "keep"

    @property
    def column_names(self) -> str:
        return ", ".join(repr(t) for t, i in self.parts if i >= 0) or "(fixed text)"

    def value(self, cells: tuple[str, ...]) -> str:
        parts = self.parts
        if len(parts) == 1 and parts[0][1] >= 0:
            value = cells[parts[0][1]].strip()
        # A template: literal text only counts where a column next to it has a value,
        # so "{First} {Last}" with no first name gives "Last", not " Last".
        elif not any(cells[i].strip() for _, i in parts if i >= 0):
            value = ""
        else:
            value = _collapse("".join(cells[i] if i >= 0 else t for t, i in parts))
        for name in self.transforms:
            fn = TRANSFORMS[name]
            if fn is not None:
                value = fn(value)
        if not value and self.default is not None:
            value = self.default
        return value

    @property
    def wants_country(self) -> bool:
        return self.target == "billingAddress.country" or "country" in self.transforms


@dataclass(frozen=True)
class RowMapper:
    """The compiled, per-row half of a Mapping: column positions resolved once."""

    where: str
    width: int
    unused: tuple[str, ...]  # input columns sent nowhere: named in every summary, never silently
    top: tuple[_Compiled, ...]
    address: tuple[_Compiled, ...]
    metadata: tuple[_Compiled, ...]
    static_metadata: dict[str, str]
    clear: bool = False  # an empty cell sends null where the spec allows it

    @property
    def id_column(self) -> str:
        """The column(s) the customerId comes from, as messages name them: ``'Customer ID'``."""
        return self._id.column_names

    @functools.cached_property
    def _id(self) -> _Compiled:
        for spec in self.top:
            if spec.target == "customerId":
                return spec
        raise AssertionError("compile() guarantees a customerId field")

    def customer_id(self, src: SourceRow) -> str:
        if len(src.cells) != self.width:
            return ""
        return self._id.value(src.cells)

    def _check(self, spec: _Compiled, value: str, problems: list[Problem]) -> str | None:
        column = spec.column_names
        if spec.values is not None:
            mapped = spec.values.get(_fold_value(value))
            if mapped is not None:
                value = mapped
            elif spec.unmapped == "invalid":
                problems.append(Problem(kind="has no entry in the mapping's map", column=column, value=value))
                return None
        if spec.wants_country:
            code = to_alpha2(value)
            if code is None:
                problems.append(
                    Problem(kind="is not a known country", column=column, value=value, detail=_COUNTRY_HELP)
                )
            return code
        if spec.target == "email":
            sent, why = email_problem(value)
            if why is not None:
                problems.append(
                    Problem(kind="is not a valid email address", column=column, value=value, detail=why)
                )
            return sent
        if spec.target == "customerId" and (why := customer_id_problem(value)) is not None:
            problems.append(Problem(kind=why, column=column, value=value))
            return None
        return value

    def map(self, src: SourceRow) -> Mapped:
        cells = src.cells
        if src.problem is not None or len(cells) != self.width:
            problem = src.problem or Problem(kind="row is incomplete")
            return Mapped(
                row=src.row, customer_id=self.customer_id(src), payload=None, problems=(problem,), cells=cells
            )
        payload: dict[str, Any] = {}
        problems: list[Problem] = []
        clear = self.clear
        for spec in self.top:
            value = spec.value(cells)
            if value:
                if (checked := self._check(spec, value, problems)) is not None:
                    payload[spec.target] = checked
            elif clear and spec.target in NULLABLE:
                payload[spec.target] = None
        if "customerId" not in payload and not any(p.column == self._id.column_names for p in problems):
            problems.insert(0, Problem(kind="customerId is empty", column=self._id.column_names))
        address: dict[str, str | None] = {}
        for spec in self.address:
            value = spec.value(cells)
            if value:
                if (checked := self._check(spec, value, problems)) is not None:
                    address[spec.target[15:]] = checked
            elif clear and spec.target in NULLABLE:
                address[spec.target[15:]] = None
        if any(v is not None for v in address.values()):
            payload["billingAddress"] = address
        elif clear and self.address:
            payload["billingAddress"] = None
        if self.metadata or self.static_metadata:
            meta = dict(self.static_metadata)
            for spec in self.metadata:
                value = spec.value(cells)
                if value and (checked := self._check(spec, value, problems)) is not None:
                    meta[spec.target[9:]] = checked
            if meta:
                payload["metadata"] = meta
            elif clear:
                payload["metadata"] = None
        cid = payload.get("customerId", "")
        if problems:
            return Mapped(
                row=src.row,
                customer_id=cid or self.customer_id(src),
                payload=None,
                problems=tuple(problems),
                cells=cells,
            )
        return Mapped(row=src.row, customer_id=cid, payload=cast(Payload, payload), problems=(), cells=cells)


def create_payload(payload: Payload) -> Payload:
    """What a POST sends: a new customer has nothing to clear, so no nulls."""
    if not any(v is None for v in payload.values()) and not (
        (address := payload.get("billingAddress")) and None in address.values()
    ):
        return payload
    out: dict[str, Any] = {k: v for k, v in payload.items() if v is not None}
    if isinstance(out.get("billingAddress"), dict):
        out["billingAddress"] = {k: v for k, v in out["billingAddress"].items() if v is not None}
    return cast(Payload, out)
