"""Header guessing, mapping files and per-row validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.errors import InputError
from importer.mapping import Mapping
from importer.mapping_file import load_mapping
from importer.readers import SourceRow
from tests.helpers import SAMPLE, write


def mapper_for(columns: tuple[str, ...], mapping: Mapping | None = None):  # type: ignore[no-untyped-def]
    return (mapping or Mapping.guess(columns)).compile(columns, where="in.csv")


@pytest.mark.parametrize("header", ["customer_id", "Customer Id", "external_id", "CustomerID", "customer-id"])
def test_customer_id_synonyms(header: str) -> None:
    m = mapper_for((header, "E-mail"))
    got = m.map(SourceRow(2, ("c1", "a@b.co")))
    assert got.payload == {"customerId": "c1", "email": "a@b.co"}


@pytest.mark.parametrize("header", ["email", "E-mail", "Email Address", "EMAIL"])
def test_email_synonyms(header: str) -> None:
    assert mapper_for(("id", header)).map(SourceRow(2, ("c1", "x@y.org"))).payload == {
        "customerId": "c1",
        "email": "x@y.org",
    }


def test_first_and_last_name_are_joined_and_address_columns_found() -> None:
    cols = ("Customer Id", "First Name", "Last Name", "Street", "City", "Zip", "Country", "Company")
    got = mapper_for(cols).map(
        SourceRow(2, ("c1", " Zoë ", "Müller", "1 Main St", "Berlin", "01234", "Germany", "Acme"))
    )
    assert got.payload == {
        "customerId": "c1",
        "name": "Zoë Müller",
        "billingAddress": {"line1": "1 Main St", "city": "Berlin", "postalCode": "01234", "country": "DE"},
    }


def test_a_name_column_wins_over_company() -> None:
    got = mapper_for(("id", "Company", "Name")).map(SourceRow(2, ("c1", "Acme", "Ada")))
    assert got.payload == {"customerId": "c1", "name": "Ada"}


def test_no_customer_id_column_is_an_input_error_that_says_what_to_do() -> None:
    with pytest.raises(InputError, match=r"in.csv: no customerId column: .*'Email'.*--mapping"):
        mapper_for(("Email", "Name"))


def test_empty_cells_are_left_out_not_sent_as_empty_strings() -> None:
    got = mapper_for(("id", "email", "name", "city")).map(SourceRow(2, ("c1", "", "  ", "")))
    assert got.payload == {"customerId": "c1"}


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        (("", "a@b.co", "DE"), "column 'id': customerId is empty"),
        (("c1", "a@", "DE"), "column 'email': 'a@' is not a valid email address"),
        (("c1", "a b@c.de", "DE"), "is not a valid email address"),
        (("c1", "a@b.co", "Narnia"), "column 'country': 'Narnia' is not a known country"),
    ],
)
def test_invalid_rows_name_the_column(cells: tuple[str, ...], problem: str) -> None:
    got = mapper_for(("id", "email", "country")).map(SourceRow(7, cells))
    assert got.payload is None and got.row == 7
    assert got.problem is not None and problem in got.problem


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("de", "DE"),
        ("DEU", "DE"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("Réunion", "RE"),
        ("Reunion", "RE"),
        ("Korea, Republic of", "KR"),
        ("Cocos (Keeling) Islands", "CC"),
        ("united states", "US"),
        ("Côte d'Ivoire", "CI"),
    ],
)
def test_country_names_become_alpha2(written: str, code: str) -> None:
    got = mapper_for(("id", "country")).map(SourceRow(2, ("c1", written)))
    assert got.payload == {"customerId": "c1", "billingAddress": {"country": code}}


def test_example_mapping_file_maps_the_sample() -> None:
    mapping = load_mapping(SAMPLE / "mapping.example.toml")
    cols = (
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
    )
    m = mapper_for(cols, mapping)
    got = m.map(
        SourceRow(
            2,
            (
                "C-1",
                "Ada",
                "Lovelace",
                "ada@example.com",
                "Analytical, Ltd",
                "1 St",
                "",
                "London",
                "",
                "EC1A 1BB",
                "United Kingdom",
                "pro",
                "2020-01-01",
            ),
        )
    )
    assert got.payload == {
        "customerId": "C-1",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "billingAddress": {"line1": "1 St", "city": "London", "postalCode": "EC1A 1BB", "country": "GB"},
        "metadata": {
            "source": "legacy_crm",
            "company": "Analytical, Ltd",
            "plan": "pro",
            "signup_date": "2020-01-01",
        },
    }


def test_a_mapped_column_missing_from_the_file_stops_before_sending(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", '[fields]\ncustomerId = "Cust No"\nemail = "Mail"\n')
    with pytest.raises(
        InputError, match=r"in.csv: column 'Mail' \(mapped to email by .*m.toml\) is not in the header"
    ):
        mapper_for(("Cust No", "E-mail"), load_mapping(path))


def test_mapping_columns_match_ignoring_case_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", '[fields]\ncustomerId = "cust no"\n')
    assert mapper_for((" Cust No ",), load_mapping(path)).map(SourceRow(2, ("x",))).payload == {
        "customerId": "x"
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fields\n", "not valid TOML"),
        ('[fields]\nphone = "Phone"\n', "'phone' is not a kelviq customer field"),
        ("[fields]\ncustomerId = 3\n", "customerId must be a column name"),
        ('[metadata]\nplan = ["a"]\n', r"\[metadata\] plan must be a column name, a template"),
        ('[colums]\nx = "y"\n', "unknown section"),
    ],
)
def test_bad_mapping_files_are_input_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_mapping(write(tmp_path / "m.toml", text))


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.toml")


def test_templates_transforms_defaults_and_fixed_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        """
[fields]
customerId = { column = "Cust No", transform = ["trim", "upper"] }
name = "{First Name} {Last Name}"
email = { column = "E-mail", transform = "lower" }
billingAddress.city = { column = "Town", transform = "title" }
billingAddress.country = { column = "Land", default = "DE" }
metadata.source = { value = "legacy_crm" }
metadata.label = "{Last Name}, {First Name} ({{vip}})"

[metadata]
segment = { column = "Segment", transform = ["lower"], default = "unknown" }
""",
    )
    cols = ("Cust No", "First Name", "Last Name", "E-mail", "Town", "Land", "Segment")
    m = mapper_for(cols, load_mapping(path))
    got = m.map(SourceRow(2, (" c-7 ", "Ada", "Lovelace", "Ada@Example.COM", "LONDON", "", "")))
    assert got.payload == {
        "customerId": "C-7",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "billingAddress": {"city": "London", "country": "DE"},
        "metadata": {"source": "legacy_crm", "label": "Lovelace, Ada ({vip})", "segment": "unknown"},
    }
    # A template with only some columns filled leaves no stray separators or spaces.
    half = m.map(SourceRow(3, ("c-8", "", "Byron", "", "", "France", "B2B")))
    assert half.payload is not None and half.payload["name"] == "Byron"
    assert half.payload["billingAddress"] == {"country": "FR"}


def test_other_columns_go_into_metadata_with_normalised_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        """
[fields]
customerId = "ID"
email = "Email"

[other_columns]
to_metadata = true
exclude = ["Internal Notes"]
""",
    )
    cols = ("ID", "Email", "Signup Date", "Plan (2024)", "Internal Notes")
    got = mapper_for(cols, load_mapping(path)).map(
        SourceRow(2, ("1", "a@b.co", "2024-01-02", "pro", "secret"))
    )
    assert got.payload == {
        "customerId": "1",
        "email": "a@b.co",
        "metadata": {"signup_date": "2024-01-02", "plan_2024": "pro"},
    }
    clash = write(tmp_path / "c.toml", '[fields]\ncustomerId = "ID"\n[other_columns]\nto_metadata = true\n')
    with pytest.raises(InputError, match=r"column 'plan-x' would go into metadata as 'plan_x'"):
        mapper_for(("ID", "Plan X", "plan-x"), load_mapping(clash))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[fields]\ncustomerId = { column = "a", transform = "shout" }\n', "unknown transform 'shout'"),
        ('[fields]\ncustomerId = { column = "a", template = "{b}" }\n', "exactly one of column or template"),
        ('[fields]\nname = "{First"\n', "unbalanced brace"),
        ('[fields]\nname = "{} x"\n', "empty placeholder"),
        ('[fields]\nemail = { value = "x@y.z" }\n', "a fixed value is for metadata only"),
        ("[other_columns]\nto_metadata = 1\n", "to_metadata must be true or false"),
    ],
)
def test_bad_templates_and_transforms_are_input_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_mapping(write(tmp_path / "m.toml", text))


def test_template_columns_missing_from_the_header_stop_the_run(tmp_path: Path) -> None:
    path = write(tmp_path / "m.toml", '[fields]\ncustomerId = "ID"\nname = "{First} {Surname}"\n')
    with pytest.raises(InputError, match=r"column 'Surname' \(mapped to name by .*\) is not in the header"):
        mapper_for(("ID", "First", "Last"), load_mapping(path))


def test_init_mapping_writes_a_column_with_braces_so_it_reads_back_as_that_column(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from importer.cli import main

    source = write(tmp_path / "b.csv", "id,Notes {internal},Email\n1,x,a@example.com\n")
    draft = CliRunner().invoke(main, ["init-mapping", str(source)])
    assert draft.exit_code == 0
    mapping = write(tmp_path / "m.toml", draft.output.replace("# notes_internal =", "notes_internal ="))
    loaded = load_mapping(mapping)
    assert loaded.metadata["notes_internal"].columns == ("Notes {internal}",)  # a column, not a template
