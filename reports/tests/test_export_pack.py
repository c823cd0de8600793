"""The accountant's export pack: each report's figures, the ZIP's summary tying out, formula safety."""

import csv
import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from inventory.tests.factories import PASSWORD
from reports import export_pack
from reports.filters import parse_filters
from reports.tests.test_dashboard_numbers import build_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(world):
    """The hand-computed chain of test_dashboard_numbers."""
    return build_chain(world)


D = Decimal
JUNE = "start=2025-06-01&end=2025-06-30"


def pack_filters(user, query=JUNE):
    return parse_filters(user=user, params=QueryDict(f"period=custom&{query}"))


def download(user, name, query=JUNE, **kwargs):
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client.get(f"{reverse(name, kwargs=kwargs or None)}?{query}")


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def total_line(rows: list[list[str]]) -> list[str]:
    return next(r for r in rows if r and r[0] == "TOTAL")


def test_sales_journal_and_gross_profit_tie_out(chain):
    f = pack_filters(chain.accountant)

    journal = export_pack.sales_journal(f)
    profit = export_pack.gross_profit(f)

    assert journal.totals == {
        "Receipts": 4,
        "Gross sales": D("26.90"),
        "Returns": D("4.00"),
        "Net sales": D("22.90"),
        "Discounts": D("1.10"),
    }
    assert profit.totals["Net sales"] == journal.totals["Net sales"]
    assert profit.totals["Cost of sales"] == D("10.20") and profit.totals["Gross profit"] == D("12.70")
    # one journal line per day × store × payment method
    assert [r[:4] for r in journal.rows] == [
        ["2025-06-03", "OWN", "Own Street", "card"],
        ["2025-06-04", "OTH", "Other Road", "card"],
        ["2025-06-04", "OWN", "Own Street", "card"],
        ["2025-06-05", "OWN", "Own Street", "cash"],
        ["2025-06-06", "OWN", "Own Street", "cash"],
    ]


def test_other_reports(chain):
    f = pack_filters(chain.accountant)

    valuation = export_pack.inventory_valuation(f)
    adjustments = export_pack.stock_adjustments(f)
    purchases = export_pack.purchases(f)
    points = export_pack.points_liability_report(f)

    assert valuation.totals == {"On hand": D("387"), "Value at cost": D("467.30")}
    assert [(r[5], r[8]) for r in adjustments.rows] == [
        ("count correction", D("-4.00")),
        ("write-off", D("-0.40")),
        ("adjustment", D("0.40")),
        ("adjustment", D("2.50")),
    ]
    assert adjustments.rows[1][10] == "crushed"
    assert purchases.totals["Paid in period"] == D("40.00") and purchases.totals["Order value"] == D("40.00")
    # the member earned 10 points on 10.00 at OTH; a point is worth 0.01
    assert points.totals == {"Points outstanding": 10, "Value": D("0.10")}
    assert points.rows == [["OTH", "Other Road", 10, D("0.10")]]


def test_zip_holds_every_report_and_a_summary_that_ties_out(chain):
    response = download(chain.accountant, "reports:export_zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    for name in ["summary", *export_pack.REPORTS]:
        assert any(n.endswith(f"{name}.csv") for n in names), name
        assert any(n.endswith(f"{name}.xlsx") for n in names), name
    assert "pack.xlsx" in names

    summary = read_csv(archive.read("00_summary.csv"))
    checks = {r[0]: r for r in summary[1:] if len(r) > 5 and r[5] in {"yes", "NO"}}
    assert checks, "the summary has tie-out lines"
    assert {label: r[5] for label, r in checks.items()} == {label: "yes" for label in checks}
    assert checks["Net sales"][1] == "22.90" and checks["Net sales"][4] == "22.90"
    assert checks["Purchases paid in period"][1] == "40.00"
    assert checks["Count corrections and write-offs (value)"][1] == "-4.40"

    journal = read_csv(archive.read("01_sales_journal.csv"))
    profit = read_csv(archive.read("02_gross_profit.csv"))
    assert total_line(journal)[journal[0].index("Net sales")] == total_line(profit)[profit[0].index("Net sales")]

    workbook = openpyxl.load_workbook(io.BytesIO(archive.read("pack.xlsx")))
    assert workbook.sheetnames[0] == "Summary"
    assert len(workbook.sheetnames) == 7


def test_exports_neutralise_formulas(chain):
    f = pack_filters(chain.accountant)

    profit_csv = export_pack.report_csv(export_pack.gross_profit(f)).decode("utf-8-sig")
    purchases_xlsx = export_pack.report_xlsx(export_pack.purchases(f))

    assert "'=SUM(A1)" in profit_csv  # the product named =SUM(A1)
    sheet = openpyxl.load_workbook(io.BytesIO(purchases_xlsx)).active
    reference = sheet.cell(row=2, column=2)
    assert reference.value == "'=cmd|calc" and reference.data_type == "s"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


@pytest.mark.parametrize("report", ["summary", *export_pack.REPORTS])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_report_downloads(chain, report, fmt):
    response = download(chain.accountant, "reports:export_report", report=report, fmt=fmt)

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'_20250601_20250630.{fmt}"')


def test_store_set_limits_every_report(chain):
    response = download(
        chain.accountant,
        "reports:export_report",
        query=f"{JUNE}&store={chain.store_own.pk}",
        report="sales_journal",
        fmt="csv",
    )

    rows = read_csv(response.content)
    assert {r[1] for r in rows[1:] if r and r[0] != "TOTAL"} == {"OWN"}
    assert total_line(rows)[7] == "12.90"


def test_export_page_shows_the_summary(chain):
    response = download(chain.owner, "reports:export_pack")

    body = response.content.decode()
    assert response.status_code == 200
    assert "Download all (ZIP)" in body
    assert "£22.90" in body and 'class="bad"' not in body


def test_export_page_defaults_to_last_month(chain):
    response = download(chain.accountant, "reports:export_pack", query="")

    f = response.context["f"]
    assert (f.start, f.end) == export_pack.default_export_period()
    assert f.start.day == 1 and (f.end + timedelta(days=1)).day == 1


def test_unknown_report_or_format_is_404(chain):
    assert download(chain.accountant, "reports:export_report", report="payroll", fmt="csv").status_code == 404
    assert download(chain.accountant, "reports:export_report", report="purchases", fmt="pdf").status_code == 404


def test_reversed_period_is_swapped_for_exports(chain):
    response = download(
        chain.accountant,
        "reports:export_report",
        query="start=2025-06-30&end=2025-06-01",
        report="sales_journal",
        fmt="csv",
    )

    assert total_line(read_csv(response.content))[7] == "22.90"
