"""Background work of the registry: imports started from the web."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import asdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django_tasks import task

from saebom.core.exceptions import SaebomError
from saebom.registry.importing import ImportRejected, ImportReport, arrivals_import
from saebom.registry.models import ImportJob

logger = logging.getLogger(__name__)
PROGRESS_EVERY = 500


@task()
def run_import(job_id: int) -> str:
    job = ImportJob.objects.select_related("agency", "created_by__agency").get(pk=job_id)
    if job.state != ImportJob.State.QUEUED:
        return job.state
    ImportJob.objects.filter(pk=job_id).update(state=ImportJob.State.RUNNING)
    with translation.override(job.language or settings.LANGUAGE_CODE):
        _run(job)
    return "finished"


def _run(job: ImportJob) -> None:
    job_id = job.pk
    try:
        report = arrivals_import(
            actor=job.created_by,
            data=base64.b64decode(job.content or ""),
            filename=job.filename,
            agency_code=job.agency.code,
            dry_run=job.dry_run,
            skip_invalid=job.skip_invalid,
            progress=lambda phase, done, total: _progress(job_id, phase, done, total),
        )
    except ImportRejected as rejected:
        _finish(job_id, ImportJob.State.REJECTED, {"errors": [asdict(e) for e in rejected.errors]})
    except SaebomError as refused:
        _finish(
            job_id,
            ImportJob.State.REJECTED,
            {"errors": [{"row": 0, "column": "", "message": refused.message}]},
        )
    except Exception:
        logger.exception("import %s failed", job_id)  # the message holds no cell values
        _finish(job_id, ImportJob.State.FAILED, {"errors": []})
        raise
    else:
        _finish(job_id, ImportJob.State.DONE, _report_json(report))


def _progress(job_id: int, phase: str, done: int, total: int) -> None:
    """Visible to the page while rows are checked; the writing happens in one transaction, so
    the page shows "writing" until it commits."""
    if phase == "checking" and done % PROGRESS_EVERY:
        return
    ImportJob.objects.filter(pk=job_id).update(phase=phase, done_rows=done, total_rows=total)


def _report_json(report: ImportReport) -> dict[str, object]:
    return {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "skipped": report.skipped,
        "written": report.written,
        "dry_run": report.dry_run,
        "errors": [asdict(e) for e in report.errors],
    }


def _finish(job_id: int, state: str, report: dict[str, object]) -> None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        job.state, job.report, job.content = state, json.dumps(report, ensure_ascii=False), None
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "report", "content", "finished_at"])
