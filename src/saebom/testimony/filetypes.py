"""What an uploaded evidence file is, judged by its bytes, and a name that is safe to show.

Only formats documenters need for testimony evidence are accepted: documents (PDF, plain UTF-8
text), images (PNG, JPEG, GIF, WebP, TIFF) and audio/video (MP3, WAV, Ogg, FLAC, M4A/MP4).
Refused on purpose: executables and scripts; HTML, SVG and XML (they can carry script that runs
if the file is ever opened in a browser); ZIP and the office formats built on it (containers
whose parts cannot be checked here, and macro carriers). The name's extension must agree with
the detected type, so an executable renamed ``.pdf`` or a PDF renamed ``.png`` is refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

DISPLAY_NAME_MAX = 120
_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r\f")
# Markup or script in a "text" file: refused so it can never be rendered as a page or an image.
_MARKUP = re.compile(
    rb"<\s*(?:script|html|svg|\?xml|!doctype|iframe|body|object|embed|meta|a\s)", re.IGNORECASE
)
_MP4_BRANDS = {
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"isom": "video/mp4",
    b"iso2": "video/mp4",
    b"mp41": "video/mp4",
    b"mp42": "video/mp4",
    b"avc1": "video/mp4",
    b"M4V ": "video/mp4",
}
EXTENSIONS: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({".pdf"}),
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/gif": frozenset({".gif"}),
    "image/webp": frozenset({".webp"}),
    "image/tiff": frozenset({".tif", ".tiff"}),
    "audio/mpeg": frozenset({".mp3"}),
    "audio/wav": frozenset({".wav"}),
    "audio/ogg": frozenset({".ogg", ".oga", ".opus"}),
    "audio/flac": frozenset({".flac"}),
    "audio/mp4": frozenset({".m4a", ".m4b", ".mp4"}),
    "video/mp4": frozenset({".mp4", ".m4v", ".m4a"}),
    "text/plain": frozenset({".txt"}),
}


@dataclass(frozen=True)
class Refused:
    reason: str


def detect(data: bytes) -> str | Refused:
    """The media type of ``data`` by its content, or why it is refused."""
    head = data[:64]
    if not data:
        return Refused("the file is empty")
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head[4:8] == b"ftyp":
        brand = _MP4_BRANDS.get(head[8:12])
        return brand or Refused("this MP4-family format is not accepted")
    if head.startswith((b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"#!")):
        return Refused("executables and scripts are not accepted")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return Refused("ZIP archives and office documents are not accepted; upload a PDF")
    return _text(data)


def _text(data: bytes) -> str | Refused:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Refused("unknown or unsupported file type")
    if any((ord(c) < 32 and c not in _TEXT_CONTROLS_ALLOWED) or c == "\x7f" for c in text):
        return Refused("unknown or unsupported file type (binary data)")
    if _MARKUP.search(data):
        return Refused("HTML, SVG and XML files are not accepted (they can carry script)")
    return "text/plain"


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def extension_agrees(media_type: str, name: str) -> bool:
    return extension(name) in EXTENSIONS.get(media_type, frozenset())


def safe_display_name(name: str) -> str:
    """The last path part of ``name``: NFC, without control, format (bidi override) or
    separator characters, no leading dots, white space folded, at most 120 characters with the
    extension kept. Empty when nothing usable is left."""
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    kept = "".join(
        " " if c.isspace() else c
        for c in name
        if unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
        or c in "\t\n\r"
    )
    kept = " ".join(kept.split()).lstrip(". ").rstrip(" .")
    if len(kept) > DISPLAY_NAME_MAX:
        ext = extension(kept)
        ext = ext if len(ext) <= 10 else ""
        kept = kept[: DISPLAY_NAME_MAX - len(ext)].rstrip(" .") + ext
    return kept
