"""CSV exports neutralise formulas for readers that split on ``,`` and on ``;`` alike."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from touchpoints.entrypoints.reports_api import CsvStyle, csv_document, neutralise_formulas

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
STYLES = [CsvStyle(",", "."), CsvStyle(";", ",")]

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "x;=cmd|' /C calc'!A0",
    "x,=1+2",
    "ok;+SUM(A1:A9)",
    "note,-2+3",
    "mail;@SUM(1)",
    'x;"=HYPERLINK(""http://evil"")"',
    "x; =1",
    'x;  "  =1',
    "line\n=1",
    "line\r\n@A1",
    "tab\t=1",
    "x;\t=1",
    "x,\r=1",
    "=;=,=",
    ";;=1",
]


def _cells(document: bytes, delimiter: str) -> list[str]:
    text = document.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text), delimiter=delimiter) for cell in row]


def _naive_cells(document: bytes) -> list[str]:
    """What a careless importer sees: any separator or line break starts a cell."""
    text = document.decode("utf-8-sig")
    for separator in (",", ";", "\t", "\r"):
        text = text.replace(separator, "\n")
    return text.split("\n")


def _dangerous(cell: str) -> bool:
    return cell.lstrip(' "').startswith(TRIGGERS)


@pytest.mark.parametrize("style", STYLES, ids=["comma", "semicolon"])
@pytest.mark.parametrize("reader", [",", ";"], ids=["comma-reader", "semicolon-reader"])
def test_no_reader_of_either_separator_sees_a_cell_starting_a_formula(
    style: CsvStyle, reader: str
) -> None:
    document = csv_document(["Note"], [[value] for value in HOSTILE], style)
    cells = _cells(document, reader)
    assert [cell for cell in cells if _dangerous(cell)] == []


@pytest.mark.parametrize("style", STYLES, ids=["comma", "semicolon"])
def test_a_naive_splitting_reader_sees_no_formula_either(style: CsvStyle) -> None:
    document = csv_document(["Note"], [[value] for value in HOSTILE], style)
    assert [cell for cell in _naive_cells(document) if _dangerous(cell)] == []


@pytest.mark.parametrize("style", STYLES, ids=["comma", "semicolon"])
def test_the_matching_reader_reads_each_value_back_with_only_apostrophes_added(
    style: CsvStyle,
) -> None:
    document = csv_document(["Note"], [[value] for value in HOSTILE], style)
    rows = list(csv.reader(io.StringIO(document.decode("utf-8-sig")), delimiter=style.delimiter))
    assert [row[0].replace("'", "") for row in rows[1:]] == [
        value.replace("'", "") for value in HOSTILE
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1", "'=1"),
        ("x;=cmd", "x;'=cmd"),
        ("x,=cmd", "x,'=cmd"),
        ('x;"=1"', 'x;"\'=1"'),
        ("a, -5", "a, '-5"),
        ("tab\t=1", "tab\t'=1"),
        ("Call back, ask about price", "Call back, ask about price"),
        ("2026-09-01 10:00", "2026-09-01 10:00"),
        ("e-mail: a@b.co", "e-mail: a@b.co"),
        ('Договорились; "скидка" 5%,\nперезвонить', 'Договорились; "скидка" 5%,\nперезвонить'),
    ],
)
def test_an_apostrophe_goes_only_before_triggers_at_a_cell_start(text: str, expected: str) -> None:
    assert neutralise_formulas(text) == expected


@given(st.text(alphabet=st.sampled_from("=+-@\t\r\n,; \"'ab"), max_size=40))
@example("x;=1")
def test_any_text_leaves_no_reader_a_formula(text: str) -> None:
    for style in STYLES:
        document = csv_document(["h"], [[text]], style)
        for reader in (",", ";"):
            assert not any(_dangerous(cell) for cell in _cells(document, reader))
        assert not any(_dangerous(cell) for cell in _naive_cells(document))


def test_numbers_are_not_touched() -> None:
    document = csv_document(["n", "f"], [[-5, -0.5]], CsvStyle(";", ","))
    assert document.decode("utf-8-sig").splitlines()[1] == "-5;-0,5"
