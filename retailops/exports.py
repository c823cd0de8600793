"""CSV and XLSX writers that neutralise spreadsheet formulas (DESIGN §9). Imports no app."""

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.http import HttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Return a value a spreadsheet will show as text, never run as a formula.

    Numbers stay numbers (a negative amount is data, not a formula); text that starts with one of
    `= + - @ TAB CR` gets a leading apostrophe.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


# Column widths are sized from the header and this many first rows (a streamed sheet sets them up front).
WIDTH_SAMPLE_ROWS = 500


def xlsx_bytes(sheets: dict[str, tuple[Sequence[str], Iterable[Sequence]]]) -> bytes:
    """One workbook, one sheet per entry: {title: (header, rows)}. Cells are written as values.

    Written in openpyxl's write-only (streaming) mode: a sheet of a year's journal for hundreds of
    stores is written row by row rather than built as a grid of cell objects first."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title=title[:31])
        header = [safe_cell(h) for h in header]
        rows = [[safe_cell(v) for v in row] for row in rows]
        widths: dict[int, int] = {}
        for row in (header, *rows[:WIDTH_SAMPLE_ROWS]):
            for i, value in enumerate(row):
                if value != "":
                    widths[i] = max(widths.get(i, 0), len(str(value)))
        for i, width in widths.items():
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(max(width + 2, 8), 50)
        head = []
        for value in header:
            cell = WriteOnlyCell(sheet, value=value)
            cell.font = bold
            head.append(cell)
        sheet.append(head)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_response(*, filename: str, fmt: str, header: Sequence[str], rows: Iterable[Sequence]) -> HttpResponse:
    """An HTTP download of one table as CSV or XLSX (fmt = "csv" | "xlsx")."""
    if fmt == "xlsx":
        content = xlsx_bytes({filename[:31]: (header, rows)})
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        fmt = "csv"
        content = csv_bytes(header, rows)
        content_type = "text/csv; charset=utf-8"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
