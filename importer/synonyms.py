"""Which header names mean which kelviq field, in English, German, French and Spanish, and
the guess made from them when there is no mapping file."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["SYNONYMS", "guess_columns", "norm_header"]

# Normalised header (lowercase, letters and digits only) -> target field.
SYNONYMS: dict[str, tuple[str, ...]] = {
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


def norm_header(header: str) -> str:
    """``"Straße"`` -> ``"strasse"``, ``"E-Mail"`` -> ``"email"``, ``"Prénom"`` -> ``"prenom"``."""
    folded = unicodedata.normalize("NFKD", header.casefold())
    return re.sub(r"[^0-9a-z]", "", folded)


# A nested record's dotted column (``address.city``, ``contact.email`` from JSON or Parquet) is
# also known by its last part, under these parents only (``plan.name`` is no customer's name),
# the address ones first: billing.city wins over shipping.city, which is never guessed.
ADDRESS_PARENTS = ("billingaddress", "billing", "address")
PARENTS = (*ADDRESS_PARENTS, "customer", "contact", "account")


def guess_columns(columns: tuple[str, ...]) -> dict[str, str]:
    by_norm: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(norm_header(column), column)
    parents = {c: norm_header(c.rsplit(".", 1)[0].rsplit(".", 1)[-1]) for c in columns if "." in c.strip(".")}
    for column in sorted(
        (c for c in parents if parents[c] in PARENTS), key=lambda c: parents[c] not in ADDRESS_PARENTS
    ):
        by_norm.setdefault(norm_header(column.rsplit(".", 1)[1]), column)
    taken: set[str] = set()
    found: dict[str, str] = {}
    for target, names in SYNONYMS.items():
        for syn in names:
            col = by_norm.get(syn)
            if col is not None and col not in taken:
                found[target] = col
                taken.add(col)
                break
    return found
