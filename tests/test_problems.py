"""Problems as values: rendered once, grouped by kind and column, examples with their values."""

from __future__ import annotations

from importer.problems import Problem, ProblemTally, render_all, render_examples


def test_a_problem_renders_its_column_value_and_detail() -> None:
    p = Problem(kind="is not a valid email address", column="'Email'", value="a@", detail="no domain")
    assert p.render() == "column 'Email': 'a@' is not a valid email address (no domain)"
    assert p.key == "column 'Email': … is not a valid email address"
    assert Problem(kind="customerId is empty", column="'Id'").render() == "column 'Id': customerId is empty"
    assert render_all(()) is None
    assert render_all((p, Problem(kind="x"))) == p.render() + "; x"


def test_grouping_never_splits_on_what_a_value_holds() -> None:
    """A value with '; ' or a column named 'Phone 1' and 'Phone 2' stays its own kind."""
    tally = ProblemTally()
    tally.add(2, Problem(kind="is not a known country", column="'Address 1'", value="a; b"))
    tally.add(3, Problem(kind="is not a known country", column="'Address 2'", value="c"))
    tally.add(4, Problem(kind="is not a known country", column="'Address 1'", value="d"))
    kinds = {k["kind"]: k for k in tally.as_json()}
    assert set(kinds) == {
        "column 'Address 1': … is not a known country",
        "column 'Address 2': … is not a known country",
    }
    first = kinds["column 'Address 1': … is not a known country"]
    assert first["rows"] == 2 and first["examples"] == [{"row": 2, "value": "a; b"}, {"row": 4, "value": "d"}]
    assert render_examples(first["examples"], 3) == "rows 2 'a; b', 4 'd', …"


def test_examples_are_capped_but_rows_counted() -> None:
    tally = ProblemTally()
    for row in range(2, 20):
        tally.add(row, Problem(kind="customerId is empty", column="'Id'"))
    [kind] = tally.as_json()
    assert kind["rows"] == 18 and len(kind["examples"]) == 5
