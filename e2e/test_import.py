"""The owner uploads a POS CSV on the import page and reads the result with its row errors (Chromium).

The Celery task runs eagerly inside the upload request (task_always_eager), so no broker or worker
is needed; the page then shows the finished batch: progress bar, counts, time, and rejected rows.
"""

import pytest

from e2e.conftest import login, screenshot
from inventory.tests.factories import PASSWORD
from retailops.celery import app

pytestmark = [pytest.mark.e2e]

CSV = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
    "536365,POST,POSTAGE,1,12/1/2010 8:26,18,17850,United Kingdom\n"
    "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,12/1/2010 9:41,2.55,17850,United Kingdom\n"
    "536380,22423,REGENCY CAKESTAND 3 TIER,two,12/1/2010 9:45,12.75,,United Kingdom\n"
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom\n"
)


@pytest.fixture
def eager_tasks(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.parametrize("width", [1280, 375])
def test_owner_uploads_a_file_and_sees_the_result_with_row_errors(page_factory, world_tx, eager_tasks, tmp_path, width):
    path = tmp_path / "till-export.csv"
    path.write_text(CSV)
    page = page_factory(width=width, height=900)
    login(page, world_tx.owner.username, PASSWORD)

    page.goto("/sales/imports/")
    page.set_input_files("input[name=file]", str(path))
    page.click("text=Mapping, store and options")
    page.check("input[name=create_stores]")  # the file's store ONLINE does not exist yet
    page.click("text=Upload and preview")
    page.wait_for_selector("[data-testid=import-preview]")  # nothing is posted before “Post import”
    assert page.inner_text("[data-testid=preview-rows-accepted]") == "3"
    assert page.inner_text("[data-testid=preview-stores]") == "1"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"import-preview-{width}")
    page.click("[data-testid=post-import]")
    page.wait_for_selector("[data-testid=import-status][data-status=done]")

    assert page.inner_text("[data-testid=rows-read]") == "5"
    assert page.inner_text("[data-testid=rows-accepted]") == "3"
    assert page.inner_text("[data-testid=rows-rejected]") == "2"
    assert page.get_attribute("[data-testid=import-progress]", "aria-valuenow") == "100"
    errors = page.inner_text("[data-testid=row-errors]")
    assert "not a number" in errors and "bad-debt adjustment" in errors
    assert page.is_visible("[data-testid=errors-csv]")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"import-result-{width}")

    page.goto("/sales/imports/")
    assert "till-export.csv" in page.inner_text("[data-testid=batch-table]")
    screenshot(page, f"import-list-{width}")
