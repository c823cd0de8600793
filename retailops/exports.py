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


def xlsx_bytes(sheets: dict[str, tuple[Sequence[str], Iterable[Sequence]]]) -> bytes:
    """One workbook, one sheet per entry: {title: (header, rows)}. Cells are written as values."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append([safe_cell(h) for h in header])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            values = []
            for v in row:
                v = safe_cell(v)
                values.append(v)
            sheet.append(values)
        for column in sheet.columns:
            width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
            sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 50)
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
