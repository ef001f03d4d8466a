"""Uploads stay in memory, never in a temporary file.

Django writes uploads over 2.5 MB to the system's temporary directory, in clear, before any
view sees them; evidence files and import files must not touch the disk unencrypted. This handler
keeps every uploaded file in memory and stops keeping bytes once the request's files together
pass the largest size any form accepts (the rest of the request is still read and discarded), so
the form or service then refuses the file as too large. Memory stays bounded by that size per
request, whoever sends it: the body is parsed before any login check (by the CSRF middleware).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler

IMPORT_MAX_BYTES = 20 * 1024 * 1024  # arrival import files (registry/forms.py)


def largest_upload() -> int:
    return max(settings.SAEBOM_EVIDENCE_MAX_MB * 1024 * 1024, IMPORT_MAX_BYTES)


class BoundedMemoryUploadHandler(MemoryFileUploadHandler):
    """One instance per request, so ``kept`` counts the bytes of all the request's files."""

    kept = 0

    def handle_raw_input(self, *args: Any, **kwargs: Any) -> None:
        self.activated = True  # whatever the request's size: never a temporary file

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        room = largest_upload() + 1 - self.kept  # one byte over: enough to be refused
        if room > 0:
            self.file.write(raw_data[:room])
            self.kept += min(room, len(raw_data))
        return None

    def file_complete(self, file_size: int) -> Any:
        return super().file_complete(self.file.tell())  # the bytes kept, not the bytes sent
