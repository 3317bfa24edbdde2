"""Turn input rows into kelviq customer payloads: ``SourceRow -> payload | problems``.

A ``Mapping`` says how each kelviq field is made from the row: a column, a template over
columns (``"{First Name} {Last Name}"``), then transforms, a value map and a default. It is
read from a TOML file (mapping_file.py) or guessed from the header (synonyms.py).
``Mapping.compile(columns)``
checks it against the file's header once and returns a ``RowMapper`` that does the per-row
work. Mapping never raises for a row: a row becomes a payload or a problem.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from .config import Empty
from .contract import NULLABLE, Payload, customer_id_problem, email_problem
from .countries import to_alpha2
from .errors import InputError
from .problems import Problem, render_all
from .readers import REPORT_COLUMNS, SourceRow
from .synonyms import guess_columns, norm_header

__all__ = [
    "TRANSFORMS",
    "FieldSpec",
    "Mapped",
    "Mapping",
    "RowMapper",
    "create_payload",
    "metadata_key",
]

# A value that a field's map has no entry for: sent as it is, or the row is invalid.
Unmapped = Literal["keep", "invalid"]
UNMAPPED_CHOICES: tuple[Unmapped, ...] = ("keep", "invalid")


def _fold_value(value: str) -> str:
    return " ".join(value.split()).casefold()


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_COUNTRY_HELP = "use an ISO 3166-1 alpha-2 code such as DE or US"


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
    # A database input (INPUT `db`): where its URL is (never the password itself in this file)
    # and what to read from it; a query_file is read when the mapping is.
    url: str | None = None
    url_file: Path | None = None
    table: str | None = None
    query: str | None = None


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
        found = guess_columns(columns)
        fields: dict[str, FieldSpec] = {}
        for target, col in found.items():
            if target in ("first_name", "last_name"):
                continue
            fields[target] = FieldSpec.column(col)
        split = tuple(found[t] for t in ("first_name", "last_name") if t in found)
        if split and ("name" not in fields or norm_header(found["name"]).startswith("company")):
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


def _list(columns: tuple[str, ...]) -> str:
    shown = ", ".join(repr(c) for c in columns[:12])
    return shown + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")


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

    def cleared(self, payload: Payload) -> tuple[str, ...]:
        """With empty = "clear": the address and metadata fields the mapping covers that this
        payload leaves out, as ``billingAddress.city``/``metadata.tier``. kelviq should hold
        nothing there; a server that merges a PATCH keeps the old value, which verify shows."""
        if not self.clear:
            return ()
        address = payload.get("billingAddress") or {}
        meta = payload.get("metadata") or {}
        left = [s.target for s in self.address if s.target[15:] not in address]
        left += [s.target for s in self.metadata if s.target[9:] not in meta]
        return tuple(left)

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
