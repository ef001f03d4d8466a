"""The whole check of the evidence store, for ``saebom evidence verify`` and ``saebom restore``:
every stored file decrypted and re-hashed, then every record, chain of custody and link checked
against the audit chain (``testimony/custody.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext

from saebom.core import blobs
from saebom.testimony import custody
from saebom.testimony.models import EvidenceFile


@dataclass
class EvidenceCheck:
    files: int = 0  # evidence records (two agencies' records of one blob are two)
    problems: list[str] = field(default_factory=list)
    record_problems: int = 0  # of those, found in the records rather than the stored files
    orphans: int = 0  # blobs no record names: left by uploads whose transaction failed


def evidence_check(progress: Callable[[int], None] | None = None) -> EvidenceCheck:
    """``progress`` is called with the number of stored files re-hashed so far."""
    names: dict[str, list[str]] = {}
    for sha, display_name in EvidenceFile.objects.values_list("sha256", "display_name"):
        names.setdefault(sha, []).append(display_name)
    check = EvidenceCheck(files=sum(len(shown) for shown in names.values()))
    for sha, problem in blobs.verify_all(names, progress=progress):
        if problem == blobs.ORPHAN:
            check.orphans += 1
            continue
        shown = ", ".join(names.get(sha, [])) or gettext("(no record)")
        check.problems.append(f"{sha} {shown}: {problem}")
    records = custody.verify()
    check.record_problems = len(records)
    check.problems.extend(str(problem) for problem in records)
    return check
