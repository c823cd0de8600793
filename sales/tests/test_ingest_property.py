"""Property: each row of any file ends accepted, rejected (reported) or duplicate — never lost, never twice."""

import csv
import io

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sales.models import ImportBatch, ImportRowError, SaleLine, StockAdjustmentLine
from sales.tests.test_ingest_files import UCI_HEADER, assert_ledger_invariant, run_import

pytestmark = pytest.mark.django_db

invoices = st.sampled_from(["536001", "536002", "536003", "C536004", "C536005", "A536006", "536007", ""])
skus = st.sampled_from(["85123A", "71053", "POST", "M", "gift_0001_20", "22423", "", "=1+1", "x" * 50])
quantities = st.one_of(
    st.integers(min_value=-30, max_value=30).map(str), st.sampled_from(["", "six", "1.5", "1e3", "=2*3", "99999999"])
)
prices = st.one_of(
    st.decimals(min_value=0, max_value=100, places=2).map(str), st.sampled_from(["", "-1", "abc", "0", "0.001"])
)
dates = st.sampled_from(
    ["12/1/2010 8:26", "12/1/2010 9:41", "6/30/2011 23:59", "2010-12-02 10:00", "13/45/2010 8:26", "", "tomorrow"]
)
customers = st.sampled_from(["", "17850", "12583", "x" * 60])
descriptions = st.sampled_from(["MUG", "damaged", "Café £5", "", "=HYPERLINK()"])
row = st.tuples(invoices, skus, descriptions, quantities, dates, prices, customers, st.just("United Kingdom"))


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def to_csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(UCI_HEADER.split(","))
    writer.writerows(rows)
    return buffer.getvalue().encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=25), repeat=st.lists(st.integers(0, 24), max_size=4))
def test_every_row_is_accepted_rejected_or_duplicate_exactly_once(rows, repeat):
    rows = rows + [rows[i] for i in repeat if i < len(rows)]  # exact duplicates, as real exports have
    content = to_csv(rows)
    with transaction.atomic():
        batch = run_import(content)

        line_numbers = set(range(2, len(rows) + 2))
        accepted = list(SaleLine.objects.filter(sale__import_batch=batch).values_list("source_line", flat=True))
        accepted += list(
            StockAdjustmentLine.objects.filter(adjustment__import_batch=batch).values_list("source_line", flat=True)
        )
        rejected = set(ImportRowError.objects.filter(batch=batch).values_list("line_number", flat=True))
        assert batch.status == ImportBatch.Status.DONE, batch.message
        assert batch.rows_read == len(rows)
        assert len(accepted) == len(set(accepted)), "a row was posted twice"
        assert not set(accepted) & rejected, "a row was both posted and rejected"
        assert batch.rows_accepted == len(accepted)
        assert batch.rows_rejected == len(rejected)
        assert batch.rows_accepted + batch.rows_rejected + batch.rows_duplicate == batch.rows_read
        # A row that is neither posted nor reported must be an exact copy of an earlier row of its receipt.
        for line_no in sorted(line_numbers - set(accepted) - rejected):
            assert rows[line_no - 2] in rows[: line_no - 2], f"row {line_no} was lost"
        assert_ledger_invariant()

        again = run_import(content)
        assert again.rows_accepted == 0
        assert SaleLine.objects.count() + StockAdjustmentLine.objects.count() == len(accepted)
        transaction.set_rollback(True)
