"""Turn input rows into kelviq customer payloads: ``SourceRow -> payload | problem``.

A ``Mapping`` says which column feeds which kelviq field. It comes from a TOML mapping file or
is guessed from the header with common synonyms. ``Mapping.compile(columns)`` checks it
against the file's header once and returns a ``RowMapper`` that does the per-row work.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .countries import to_alpha2
from .errors import InputError
from .readers import SourceRow

__all__ = ["Mapping", "Mapped", "RowMapper", "ADDRESS_FIELDS", "load_mapping"]

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postalCode", "country")
TOP_FIELDS = ("customerId", "email", "name")

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
        "id",
    ),
    "email": ("email", "emailaddress", "mail", "emailid", "contactemail", "primaryemail"),
    "name": (
        "name",
        "fullname",
        "customername",
        "contactname",
        "displayname",
        "company",
        "companyname",
        "accountname",
    ),
    "first_name": ("firstname", "givenname", "forename", "first"),
    "last_name": ("lastname", "surname", "familyname", "last"),
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
    ),
    "billingAddress.line2": ("address2", "addressline2", "line2", "street2", "billingaddress2"),
    "billingAddress.city": ("city", "town", "billingcity", "locality"),
    "billingAddress.state": ("state", "province", "region", "stateprovince", "county", "billingstate"),
    "billingAddress.postalCode": (
        "postalcode",
        "postcode",
        "zip",
        "zipcode",
        "postal",
        "billingpostalcode",
        "billingzip",
    ),
    "billingAddress.country": ("country", "countrycode", "countryname", "billingcountry"),
}

# A pragmatic check, not RFC 5322: one @, no spaces, a dot in the domain, no empty labels.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _norm(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


@dataclass(frozen=True)
class Mapping:
    """Target field -> source column(s). ``name`` may join several columns with a space."""

    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)  # metadata key -> column
    static_metadata: dict[str, str] = field(default_factory=dict)
    source: str = "header"  # where it came from, for messages

    @classmethod
    def guess(cls, columns: tuple[str, ...]) -> Mapping:
        """Pick columns by synonym; earlier synonyms win, and a column feeds one field."""
        by_norm: dict[str, str] = {}
        for col in columns:
            by_norm.setdefault(_norm(col), col)
        taken: set[str] = set()
        found: dict[str, str] = {}
        for target, names in _SYNONYMS.items():
            for syn in names:
                col = by_norm.get(syn)
                if col is not None and col not in taken:
                    found[target] = col
                    taken.add(col)
                    break
        fields: dict[str, tuple[str, ...]] = {}
        for target, col in found.items():
            if target in ("first_name", "last_name"):
                continue
            fields[target] = (col,)
        split = tuple(found[t] for t in ("first_name", "last_name") if t in found)
        if split and ("name" not in fields or _norm(fields["name"][0]).startswith("company")):
            fields["name"] = split
        return cls(fields=fields, source="header")

    def compile(self, columns: tuple[str, ...], *, where: str) -> RowMapper:
        index = {c: i for i, c in enumerate(columns)}
        # Header cells are matched as written, then ignoring case and surrounding spaces.
        loose = {c.strip().lower(): i for i, c in reversed(list(enumerate(columns)))}

        def col(name: str, what: str) -> tuple[str, int]:
            i = index.get(name, loose.get(name.strip().lower()))
            if i is None:
                raise InputError(
                    f"{where}: column {name!r} (mapped to {what} by the {self.source}) "
                    f"is not in the header; the file has {_list(columns)}"
                )
            return columns[i], i

        if "customerId" not in self.fields:
            raise InputError(
                f"{where}: no customerId column: none of the headers {_list(columns)} looks like "
                'one; name it in a mapping file (--mapping) under [fields]: customerId = "..."'
            )
        top: list[tuple[str, tuple[tuple[str, int], ...]]] = []
        address: list[tuple[str, tuple[str, int]]] = []
        for target, cols in self.fields.items():
            located = tuple(col(c, target) for c in cols)
            if target.startswith("billingAddress."):
                address.append((target.split(".", 1)[1], located[0]))
            else:
                top.append((target, located))
        meta = tuple((key, col(c, f"metadata.{key}")) for key, c in self.metadata.items())
        return RowMapper(
            where=where,
            width=len(columns),
            top=tuple(top),
            address=tuple(address),
            metadata=meta,
            static_metadata=dict(self.static_metadata),
        )

    def describe(self) -> str:
        parts = [f"{t} <- {' + '.join(cs)}" for t, cs in self.fields.items()]
        parts += [f"metadata.{k} <- {c}" for k, c in self.metadata.items()]
        return "; ".join(parts)


def _list(columns: tuple[str, ...]) -> str:
    shown = ", ".join(repr(c) for c in columns[:12])
    return shown + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")


def load_mapping(path: Path | str) -> Mapping:
    """Read a TOML mapping file (format in sample_data/mapping.example.toml)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: mapping file cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"fields", "metadata", "static_metadata"}
    if unknown:
        raise InputError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
            "expected [fields], [metadata], [static_metadata]"
        )
    fields: dict[str, tuple[str, ...]] = {}
    allowed = set(TOP_FIELDS) | {f"billingAddress.{f}" for f in ADDRESS_FIELDS}
    raw_fields = _table(data, "fields", path)
    # TOML dotted keys (billingAddress.city = ...) arrive as a nested table.
    flat: dict[str, Any] = {}
    for key, value in raw_fields.items():
        if isinstance(value, MappingABC):
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    for target, value in flat.items():
        if target not in allowed:
            raise InputError(
                f"{path}: [fields] {target!r} is not a kelviq customer field; "
                f"use one of {', '.join(sorted(allowed))}"
            )
        if isinstance(value, str) and value:
            fields[target] = (value,)
        elif (
            target == "name"
            and isinstance(value, list)
            and value
            and all(isinstance(v, str) and v for v in value)
        ):
            fields[target] = tuple(value)
        else:
            raise InputError(
                f"{path}: [fields] {target} must be a column name"
                + (" or a list of columns" if target == "name" else "")
            )
    metadata = {k: _str(v, f"[metadata] {k}", path) for k, v in _table(data, "metadata", path).items()}
    static = {
        k: _str(v, f"[static_metadata] {k}", path) for k, v in _table(data, "static_metadata", path).items()
    }
    return Mapping(fields=fields, metadata=metadata, static_metadata=static, source=str(path))


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
    """A row after mapping: a payload ready to send, or the reason it cannot be sent."""

    row: int
    customer_id: str
    payload: dict[str, Any] | None
    problem: str | None
    cells: tuple[str, ...]


@dataclass(frozen=True)
class RowMapper:
    """The compiled, per-row half of a Mapping: column positions resolved once."""

    where: str
    width: int
    top: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    address: tuple[tuple[str, tuple[str, int]], ...]
    metadata: tuple[tuple[str, tuple[str, int]], ...]
    static_metadata: dict[str, str]

    @property
    def id_index(self) -> int:
        for target, located in self.top:
            if target == "customerId":
                return located[0][1]
        raise AssertionError("compile() guarantees a customerId column")

    def customer_id(self, src: SourceRow) -> str:
        cells = src.cells
        i = self.id_index
        return cells[i].strip() if i < len(cells) else ""

    def map(self, src: SourceRow) -> Mapped:
        cells = src.cells
        if src.problem is not None:
            cid = self.customer_id(src)
            return Mapped(src.row, cid, None, src.problem, cells)
        payload: dict[str, Any] = {}
        problems: list[str] = []
        for target, located in self.top:
            if len(located) == 1:
                value = cells[located[0][1]].strip()
            else:
                value = " ".join(v for v in (cells[i].strip() for _, i in located) if v)
            if not value:
                continue
            if target == "email" and not _EMAIL.match(value):
                problems.append(f"column {located[0][0]!r}: {value!r} is not a valid email address")
                continue
            payload[target] = value
        if "customerId" not in payload:
            ((col, _),) = [loc[0] for t, loc in self.top if t == "customerId"]
            problems.insert(0, f"column {col!r}: customerId is empty")
        address: dict[str, str] = {}
        for target, (col, i) in self.address:
            value = cells[i].strip()
            if not value:
                continue
            if target == "country":
                code = to_alpha2(value)
                if code is None:
                    problems.append(
                        f"column {col!r}: {value!r} is not a known country; "
                        "use an ISO 3166-1 alpha-2 code such as DE or US"
                    )
                    continue
                value = code
            address[target] = value
        if address:
            payload["billingAddress"] = address
        if self.metadata or self.static_metadata:
            meta = dict(self.static_metadata)
            for key, (_col, i) in self.metadata:
                value = cells[i].strip()
                if value:
                    meta[key] = value
            if meta:
                payload["metadata"] = meta
        cid = payload.get("customerId", "")
        if problems:
            return Mapped(src.row, cid, None, "; ".join(problems), cells)
        return Mapped(src.row, cid, payload, None, cells)
