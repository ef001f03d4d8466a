"""Uploads never reach a temporary file in clear, and an oversized one is cut at one byte over
the limit so that forms and services refuse it as too large."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.test import RequestFactory

from saebom.core.uploads import largest_upload


def post_file(size: int) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("big.pdf", b"%PDF-1.7\n" + b"x" * (size - 9))
    request = RequestFactory().post("/", {"file": upload})
    return request.FILES["file"]


def test_a_large_upload_stays_in_memory(settings: Any, tmp_path: Any) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    received = post_file(5 * 1024 * 1024)  # over Django's 2.5 MB threshold for a temp file
    assert isinstance(received, InMemoryUploadedFile)
    assert received.size == 5 * 1024 * 1024
    assert received.read(9) == b"%PDF-1.7\n"
    assert list(tmp_path.iterdir()) == []


def test_an_oversized_upload_is_cut_one_byte_over_the_limit(settings: Any) -> None:
    settings.SAEBOM_EVIDENCE_MAX_MB = 21
    limit = largest_upload()
    assert limit == 21 * 1024 * 1024
    received = post_file(limit + 3 * 1024 * 1024)
    assert received.size == limit + 1


def test_several_files_share_one_bound(settings: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.SAEBOM_EVIDENCE_MAX_MB = 21
    limit = largest_upload()
    files = {f"f{n}": SimpleUploadedFile(f"{n}.txt", b"x" * (limit // 2)) for n in range(4)}
    received = RequestFactory().post("/", files).FILES
    assert sum(f.size for f in received.values()) == limit + 1
