"""Country names and codes to ISO 3166-1 alpha-2, using pycountry's ISO tables."""

from __future__ import annotations

import unicodedata
from functools import cache

__all__ = ["to_alpha2"]

# Names people write that are not in ISO 3166's own name lists.
_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "russia": "RU",
    "korea": "KR",
    "south korea": "KR",
    "north korea": "KP",
    "turkey": "TR",
    "macedonia": "MK",
    "palestine": "PS",
    "ivory coast": "CI",
    "libyan arab jamahiriya": "LY",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "burma": "MM",
    "holland": "NL",
    "the netherlands": "NL",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "america": "US",
    "united states of america": "US",
    "uae": "AE",
    "czechia": "CZ",
    "vatican": "VA",
    "vatican city": "VA",
    "east timor": "TL",
    "congo-kinshasa": "CD",
    "democratic republic of the congo": "CD",
    "congo-brazzaville": "CG",
    "republic of the congo": "CG",
    "micronesia": "FM",
    "st. lucia": "LC",
    "st lucia": "LC",
    "saint martin": "MF",
    "sint maarten": "SX",
    "kosovo": "XK",
}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().replace("’", "'").split())


@cache
def _index() -> dict[str, str]:
    import pycountry

    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name", "alpha_3"):
            value = getattr(country, attr, None)
            if value:
                index[_fold(value)] = country.alpha_2
        index[_fold(country.alpha_2)] = country.alpha_2
    index.update(_ALIASES)
    return index


@cache
def to_alpha2(value: str) -> str | None:
    """``'Germany'``, ``'DEU'``, ``'de'`` → ``'DE'``; ``'Reunion'`` → ``'RE'``; None if unknown."""
    key = _fold(value)
    found = _index().get(key)
    if found is None and "," in key:
        # "Korea, Republic of" style is indexed; "Virgin Islands, U.S." may not be.
        head, _, tail = key.partition(",")
        found = _index().get(f"{tail.strip()} {head.strip()}")
    return found
