"""Bounce reports: what came back after the relay said 250, with what processing did, and each
report as received (escaped: everything in it comes from outside)."""

from __future__ import annotations

from flask import render_template

from ..extensions import db
from ..inputs import int_arg
from ..models import AdminRole, BounceReport
from . import queries
from .blueprint import bp
from .roles import allow

PAGE_SIZE = 50
#: The most of a report shown on its page (a DSN may quote a whole mail).
SHOWN_BYTES = 64 * 1024


@bp.get("/bounce-reports")
@allow(AdminRole.ADMIN)
def report_list():
    reports = queries.recent_reports(PAGE_SIZE + 1, before_id=int_arg("before"))
    older = reports[PAGE_SIZE - 1].id if len(reports) > PAGE_SIZE else None
    return render_template("admin/reports/list.html", reports=reports[:PAGE_SIZE], older=older)


@bp.get("/bounce-reports/<int:report_id>")
@allow(AdminRole.ADMIN)
def report_detail(report_id: int):
    report = db.get_or_404(BounceReport, report_id)
    text = report.raw[:SHOWN_BYTES].decode("utf-8", "replace")
    return render_template(
        "admin/reports/detail.html", report=report, text=text, cut=len(report.raw) > SHOWN_BYTES
    )
