"""Regenerate sample_data/customers.csv and customers.xlsx (deterministic; needs openpyxl).

    python sample_data/make_samples.py

A few hundred plausible customers from a legacy CRM, with the flaws real exports have:
accented names, postal codes with leading zeros, country names instead of codes, and a
handful of rows that must be rejected (bad email, missing id, unknown country, a duplicate).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

HERE = Path(__file__).parent
COLUMNS = [
    "Customer ID",
    "First Name",
    "Last Name",
    "Email Address",
    "Company",
    "Address",
    "Address 2",
    "City",
    "State",
    "Postal Code",
    "Country",
    "Plan",
    "Signup Date",
]
FIRST = [
    "Anna",
    "José",
    "Zoë",
    "Liam",
    "Chloé",
    "Mateo",
    "Aiko",
    "Øyvind",
    "Priya",
    "Noah",
    "Fatima",
    "Lukas",
    "Sofía",
    "Wei",
    "Olivia",
    "Ömer",
    "Hannah",
    "Rafael",
    "Ingrid",
    "Kwame",
]
LAST = [
    "Müller",
    "García",
    "O'Brien",
    "Nakamura",
    "Dubois",
    "Rossi",
    "Kowalski",
    "Smith",
    "Andersson",
    "Nguyen",
    "da Silva",
    "Patel",
    "Johansson",
    "Schäfer",
    "López",
    "Brown",
]
COMPANIES = [
    "Acme GmbH",
    "Globex, Inc.",
    "Initech",
    "Umbrella Ltd",
    "Stark & Wayne LLP",
    "Hooli",
    "Vandelay Industries",
    "Soylent Corp",
    "",
]
PLACES = [  # city, state, postal code, country as people write it
    ("Boston", "MA", "02108", "United States"),
    ("Newark", "NJ", "07102", "USA"),
    ("Berlin", "", "10115", "Germany"),
    ("München", "Bayern", "80331", "DE"),
    ("Paris", "", "75001", "France"),
    ("Lyon", "", "69001", "FR"),
    ("London", "", "EC1A 1BB", "United Kingdom"),
    ("Manchester", "", "M1 1AE", "UK"),
    ("Bangalore", "Karnataka", "560001", "India"),
    ("Tokyo", "", "100-0001", "Japan"),
    ("São Paulo", "SP", "01310-100", "Brazil"),
    ("Zürich", "ZH", "8001", "Switzerland"),
    ("Oslo", "", "0150", "Norway"),
    ("Madrid", "", "28001", "Spain"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Sydney", "NSW", "2000", "Australia"),
]
STREETS = ["Main St", "Rue de Rivoli", "Hauptstraße", "High Street"]
PLANS = ["free", "starter", "pro", "enterprise"]


def rows(n: int = 300) -> list[list[str]]:
    rnd = random.Random(20261124)
    out: list[list[str]] = []
    for i in range(1, n + 1):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        city, state, postal, country = rnd.choice(PLACES)
        email = f"{first}.{last}{i}".lower().replace("'", "").replace(" ", "")
        email = email.encode("ascii", "ignore").decode() + "@example.com"
        signup = dt.date(2019, 1, 1) + dt.timedelta(days=rnd.randrange(2000))
        line2 = f"Apt {rnd.randrange(1, 40)}" if rnd.random() < 0.3 else ""
        out.append(
            [
                f"CUST-{i:05d}",
                first,
                last,
                email,
                rnd.choice(COMPANIES),
                f"{rnd.randrange(1, 300)} {rnd.choice(STREETS)}",
                line2,
                city,
                state,
                postal,
                country,
                rnd.choice(PLANS),
                signup.isoformat(),
            ]
        )
    # Deliberately bad rows, as a real export has them.
    out[16][3] = "maria.at.example.com"  # no @
    out[41][0] = ""  # no customer id
    out[77][10] = "Narnia"  # not a country
    out[120][3] = "john@@example..com"  # malformed
    out[150][0] = out[149][0]  # the same customer twice
    out[201][3] = "  "  # blank email is allowed: just absent
    out[233][10] = "Atlantis"
    return out


def main() -> None:
    data = rows()
    with (HERE / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(data)
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Customers"
    ws.append(COLUMNS)
    for row in data:
        cells: list[object] = list(row)
        cells[12] = dt.date.fromisoformat(row[12])  # a real date cell, as Excel users have
        ws.append(cells)
    for cell in ws["J"][1:]:
        cell.number_format = "@"  # postal codes kept as text, leading zeros and all
    wb.save(HERE / "customers.xlsx")


if __name__ == "__main__":
    main()
