"""Country names and codes to ISO 3166-1 alpha-2, using pycountry's ISO tables."""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache

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
    "xkx": "XK",  # Kosovo's user-assigned alpha-3, as the EU and IMF write it
}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().replace("’", "'").split())


# Country names in these languages too (pycountry ships ISO 3166's translations): a legacy CRM
# export says "Deutschland", "Autriche", "Países Bajos".
LANGUAGES = ("de", "fr", "es", "it", "nl", "pt")


@cache
def _index() -> dict[str, str]:
    import gettext

    import pycountry

    translations = []
    for lang in LANGUAGES:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue  # a pycountry without that catalogue: English names still work
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                for translation in translations:
                    index.setdefault(_fold(translation.gettext(value)), country.alpha_2)
    for country in pycountry.countries:  # English and the codes win where a translation clashes
        for attr in ("name", "official_name", "common_name", "alpha_3"):
            value = getattr(country, attr, None)
            if value:
                index[_fold(value)] = country.alpha_2
        index[_fold(country.alpha_2)] = country.alpha_2
    index.update(_ALIASES)
    for code in _ALIASES.values():  # every code this module can produce is also read as input
        index[_fold(code)] = code
    return index


@cache
def _codes() -> frozenset[str]:
    import pycountry

    return frozenset(country.alpha_2 for country in pycountry.countries) | frozenset(_ALIASES.values())


@lru_cache(maxsize=4096)  # a column holds few distinct countries; a bound keeps odd input from growing it
def to_alpha2(value: str) -> str | None:
    """``'Germany'``, ``'DEU'``, ``'de'`` → ``'DE'``; ``'Reunion'`` → ``'RE'``; None if unknown."""
    code = value.strip().upper()
    if len(code) == 2 and code in _codes():
        # Most exports hold codes already: the index of names in seven languages costs 25 ms,
        # a twentieth of a runner's start-up, built for the first name only.
        return code
    key = _fold(value)
    found = _index().get(key)
    if found is None and "," in key:
        # "Korea, Republic of" style is indexed; "Virgin Islands, U.S." may not be.
        head, _, tail = key.partition(",")
        found = _index().get(f"{tail.strip()} {head.strip()}")
    return found
