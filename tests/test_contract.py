"""The kelviq contract as data: the e-mail rule, how refusals and answers are read.

The spec declares only success codes; each case below names the API behaviour it stands for.
"""

from __future__ import annotations

import re

import jsonschema
import pytest

from importer.contract import (
    Answer,
    check_customer,
    customer_id_problem,
    differences,
    email_problem,
    error_text,
    refusal,
)
from tests.helpers import REFUSED_EMAILS, examples, schema

# ajv-formats' "email" (full mode), the check Stoplight Prism applies to ``format: email``:
# an independent validator of the spec's rule, copied from ajv-formats/dist/formats.js.
AJV_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
    re.IGNORECASE,
)
STRICT = jsonschema.FormatChecker()
STRICT.checks("email")(lambda value: not isinstance(value, str) or bool(AJV_EMAIL.match(value)))

REFUSED_BY_THE_SPEC = [
    *REFUSED_EMAILS,
    "trailing.@example.com",
    "no-at-sign.example.com",
    "two@@example.com",
    "user@localhost",
    "sp ace@example.com",
]


def answer(
    status: int, body: object = None, text: str = "", content_type: str = "application/json"
) -> Answer:
    return Answer(status=status, body=body, content_type=content_type, raw=text.encode())


@pytest.mark.parametrize("address", REFUSED_BY_THE_SPEC)
def test_addresses_the_specs_validator_refuses_are_never_valid(address: str) -> None:
    assert not AJV_EMAIL.match(address)  # the independent check does refuse it...
    sent, why = email_problem(address)
    assert sent is None and why  # ...and so does the importer, with a reason


def test_the_strict_format_checker_can_fail() -> None:
    validator = jsonschema.Draft202012Validator(schema("CustomerCreateRequest"), format_checker=STRICT)
    assert not validator.is_valid({"customerId": "x", "email": "a..b@example.com"})
    assert validator.is_valid({"customerId": "x", "email": "a.b@example.com"})


def test_an_internationalised_domain_is_sent_in_idna_form() -> None:
    sent, why = email_problem("user@münchen.de")
    assert why is None and sent == "user@xn--mnchen-3ya.de"
    assert AJV_EMAIL.match(sent)


@pytest.mark.parametrize(
    "address", ["Ada.Lovelace+crm@Example.COM", "o'brien@example.ie", "x@sub.example.co.uk"]
)
def test_ascii_addresses_are_sent_exactly_as_written(address: str) -> None:
    assert email_problem(address) == (address, None)


@pytest.mark.parametrize("cid", [".", "..", "a\nb", "tab\there"])
def test_ids_that_cannot_be_addressed_safely_are_refused(cid: str) -> None:
    assert customer_id_problem(cid)


@pytest.mark.parametrize("cid", ["a/b", "100%", "with space", "#7", "?q", "…"])
def test_odd_but_addressable_ids_are_fine(cid: str) -> None:
    assert customer_id_problem(cid) is None


@pytest.mark.parametrize(
    ("behaviour", "status", "body", "expected"),
    [
        ("409 Conflict", 409, {"message": "exists"}, "exists"),
        (
            "DRF UniqueValidator",
            400,
            {"customerId": ["customer with this customerId already exists."]},
            "exists",
        ),
        ("DRF, other wording", 400, {"customerId": ["This field must be unique."]}, "exists"),
        ("nested errors", 400, {"errors": {"customerId": ["has already been taken"]}}, "exists"),
        (
            "422 validation list",
            422,
            {"detail": [{"loc": ["body", "customerId"], "msg": "duplicate id"}]},
            "exists",
        ),
        (
            "ErrorResponse message",
            400,
            {"status": "Bad request", "message": "Customer already exists"},
            "exists",
        ),
        ("DRF 404", 404, {"detail": "Not found."}, "unknown"),
        (
            "400 does not exist",
            400,
            {"status": "Bad request", "message": "Customer does not exist."},
            "unknown",
        ),
        ("DRF field errors", 400, {"email": ["Enter a valid email address."]}, "invalid"),
        # Issue 20, case 6: what the customerId field says in words not recognised is looked up.
        ("German", 400, {"customerId": ["Kunde mit dieser customerId ist bereits vorhanden."]}, "unclear"),
        ("French", 422, {"detail": [{"loc": ["body", "customerId"], "msg": "déjà utilisé"}]}, "unclear"),
        ("reworded", 400, {"customerId": ["is taken by another record"], "email": ["bad"]}, "unclear"),
        ("field list", 400, [{"field": "customerId", "message": "conflicts with record 12"}], "unclear"),
        ("plain message", 400, {"message": "bad"}, "unclear"),
        ("HTML 404", 404, None, "unclear"),
        ("405", 405, {"detail": 'Method "PATCH" not allowed.'}, "unclear"),
    ],
)
def test_refusals_are_read_in_every_dialect(behaviour: str, status: int, body: object, expected: str) -> None:
    assert refusal(answer(status, body)) == expected, behaviour


def test_error_texts_keep_field_level_detail() -> None:
    drf = answer(
        400, {"email": ["Enter a valid email address."], "billingAddress": {"country": ["Invalid."]}}
    )
    assert error_text(drf) == "400 email: Enter a valid email address.; billingAddress.country: Invalid."
    mixed = answer(400, {"detail": "Invalid input.", "name": ["Too long."]})
    assert error_text(mixed) == "400 Invalid input.; name: Too long."
    fastapi = answer(422, {"detail": [{"loc": ["body", "email"], "msg": "value is not a valid email"}]})
    assert error_text(fastapi) == "422 email: value is not a valid email"
    html = answer(502, None, "<html>Bad gateway</html>", "text/html")
    assert error_text(html) == "502 (text/html) <html>Bad gateway</html>"


def test_a_2xx_must_be_the_customer_that_was_sent() -> None:
    assert check_customer(answer(201, {"id": "u", "customerId": "c-1"}), "c-1") is None
    other = check_customer(answer(201, {"id": "u", "customerId": "c-2"}), "c-1")
    assert other is not None and "'c-2'" in other
    page = check_customer(answer(200, None, "<html>maintenance</html>", "text/html"), "c-1")
    assert page is not None and "text/html" in page and "maintenance" in page


def test_differences_compare_cleared_fields_too() -> None:
    record = {"name": "Ada", "email": "a@example.com", "metadata": {"k": "v"}, "billingAddress": None}
    assert differences({"customerId": "c", "name": "Ada"}, record) == []
    assert differences({"customerId": "c", "email": None}, record) == [
        "email: file None, kelviq 'a@example.com'"
    ]
    assert differences({"customerId": "c", "metadata": None}, record) == [
        "metadata: file (cleared), kelviq {'k': 'v'}"
    ]
    assert differences({"customerId": "c", "billingAddress": None, "metadata": {"k": "v"}}, record) == []


def test_the_fast_path_agrees_with_email_validator() -> None:
    """The regex that skips email-validator for everyday addresses must never accept what it
    refuses (checked over generated addresses against the library itself)."""
    from email_validator import EmailNotValidError, validate_email
    from hypothesis import given, settings
    from hypothesis import strategies as st

    atoms = st.text(alphabet="abcXYZ09.-_+'", min_size=1, max_size=12)
    labels = st.text(alphabet="abz09-", min_size=1, max_size=8)
    tlds = st.sampled_from(["com", "de", "test", "local", "x", "co", "invalid", "c0m", "museum"])

    @settings(max_examples=examples(600), deadline=None)
    @given(local=atoms, domain=st.lists(labels, min_size=1, max_size=3), tld=tlds)
    def agree(local: str, domain: list[str], tld: str) -> None:
        address = f"{local}@{'.'.join(domain)}.{tld}"
        try:
            validate_email(address, check_deliverability=False, allow_smtputf8=False)
            library_ok = True
        except EmailNotValidError:
            library_ok = False
        sent, _why = email_problem(address)
        assert (sent is not None) == library_ok, address

    agree()
