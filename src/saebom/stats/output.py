"""A report in every format: terminal table, CSV, JSON, XLSX and a standalone HTML page with an
SVG chart. CSV and JSON use codes (``year,sex,count``); the rest show labels."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from html import escape

from django.utils import translation
from django.utils.translation import gettext as _

from saebom.stats.charts import report_chart
from saebom.stats.reports import Report, ministry_layout

FORMATS = ("table", "csv", "json", "xlsx", "html")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "table": "text/plain; charset=utf-8",
}


def render(report: Report, fmt: str, *, lang: str = "en") -> bytes:
    with translation.override(lang):
        return RENDERERS[fmt](report)


def _csv(report: Report) -> bytes:
    buffer = io.StringIO()
    for note in report.notes:
        buffer.write(f"# {note}\n")  # comment lines before the header, as in the registry's files
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*report.codes, "count"])
    writer.writerows([*row.keys, row.display] for row in report.rows)
    return buffer.getvalue().encode()


def _json(report: Report) -> bytes:
    items = []
    for row in report.rows:
        item: dict[str, object] = dict(zip(report.codes, row.keys, strict=True))
        item["count"] = row.count
        item["suppressed"] = row.suppressed
        if row.suppressed:
            item["display"] = row.display
        if report.synthetic:
            item["synthetic"] = True
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=1).encode()


def _header(report: Report) -> list[str]:
    return [str(d.label) for d in report.dimensions] + [_("Arrivals")]


def _table(report: Report) -> bytes:
    from rich.console import Console
    from rich.table import Table

    if report.codes == ["year", "sex"]:
        table = _layout_rich(report)
    else:
        table = Table(*_header(report))
        for row in report.rows:
            table.add_row(*report.labels(row), row.display)
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None)
    console.print(table)
    for note in report.notes:
        console.print(note)
    return buffer.getvalue().encode()


def _layout_rich(report: Report) -> object:
    from rich.table import Table

    table = Table(
        _("Period"),
        _("Male"),
        _("Female"),
        _("Total"),
        _("Female share"),
        _("Cumulative"),
        title=_("Arrivals by year and sex"),
    )
    for row in ministry_layout(report):
        table.add_row(
            row.period,
            row.male,
            row.female,
            row.total_display,
            row.female_share,
            row.cumulative_display,
        )
    return table


def _xlsx(report: Report) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Arrivals"))
    sheet.append([*report.codes, "count"])
    for row in report.rows:
        sheet.append([*row.keys, row.count if row.count is not None else row.display])
    about = book.create_sheet(_("About"))
    for note in report.notes or [_("Exact counts.")]:
        about.append([note])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _html(report: Report) -> bytes:
    chart = report_chart(report)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{escape(label)}</td>" for label in report.labels(row))
        + f"<td class=n>{escape(row.display)}</td></tr>"
        for row in report.rows
    )
    head = "".join(f"<th scope=col>{escape(h)}</th>" for h in _header(report))
    notes = "".join(f"<p>{escape(n)}</p>" for n in report.notes)
    title = escape(
        _("Arrivals by %(dims)s") % {"dims": ", ".join(str(d.label) for d in report.dimensions)}
    )
    page = f"""<!doctype html><html lang="{translation.get_language()}"><head><meta charset="utf-8">
<title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2430}}
table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ccc;padding:.3rem .6rem;text-align:left}}
td.n{{text-align:right}}figure{{margin:1rem 0}}</style></head><body>
<h1>{title}</h1>{notes}
<figure>{chart.svg}<figcaption>{escape(chart.description)}</figcaption></figure>
<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>"""
    return page.encode()


RENDERERS: dict[str, Callable[[Report], bytes]] = {
    "table": _table,
    "csv": _csv,
    "json": _json,
    "xlsx": _xlsx,
    "html": _html,
}
