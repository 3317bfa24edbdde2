"""Country names and codes to ISO 3166-1 alpha-2."""

from __future__ import annotations

import string

import pytest

from importer.countries import to_alpha2


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Germany", "DE"), ("DEU", "DE"), ("de", "DE"), ("Deutschland", "DE"), ("Allemagne", "DE"),
        ("Alemania", "DE"), ("Germania", "DE"), ("Duitsland", "DE"), ("Alemanha", "DE"),
        ("Österreich", "AT"), ("Autriche", "AT"), ("Schweiz", "CH"), ("Suíça", "CH"),
        ("Frankreich", "FR"), ("Países Bajos", "NL"), ("Paesi Bassi", "NL"), ("Nederland", "NL"),
        ("UK", "GB"), ("Réunion", "RE"), ("Korea, Republic of", "KR"), ("  united   states ", "US"),
    ],
)  # fmt: skip
def test_names_in_six_languages_and_codes(name: str, code: str) -> None:
    assert to_alpha2(name) == code


@pytest.mark.parametrize("name", ["Narnia", "Atlantis", "", "XX"])
def test_unknown_countries_are_none(name: str) -> None:
    assert to_alpha2(name) is None


def test_every_code_the_module_produces_is_read_back_as_itself() -> None:
    """Issue 20, case 10: "Kosovo" was sent as XK while an input of XK was refused."""
    from importer.countries import _ALIASES, _index

    produced = set(_index().values()) | set(_ALIASES.values())
    assert {code for code in produced if to_alpha2(code) != code} == set()
    assert to_alpha2("xk") == "XK" and to_alpha2("Kosovo") == "XK"


def test_every_two_letter_input_reads_as_the_names_index_reads_it() -> None:
    """Codes are answered without the index of names (start-up time): the same answer for any
    two letters in any case, "UK" (no ISO code, an alias of GB) and user-assigned XK included."""
    from importer.countries import _fold, _index

    pairs = [a + b for a in string.ascii_letters for b in string.ascii_letters]
    assert [to_alpha2(p) for p in pairs] == [_index().get(_fold(p)) for p in pairs]
    assert to_alpha2(" gb ") == "GB"
