"""Importing testimonies from a Saebom JSON export (docs/testimony.md, "Import").

All or nothing: the whole file is read and checked first, collecting every problem found (up to
``MAX_ERRORS``); then each testimony is written through the services (so policy, audit events and
the search index apply) in one transaction. Any problem, found before or while writing, means
nothing is written. Each problem names the record (``testimonies[INDEX]`` and its id), the field
path inside it (``events[0].acts[1].act_type``) and the reason.

An import never replaces a testimony: an id already recorded is an error. Places must already be
in the gazetteer, interviewers must be accounts of the importing agency, and registry links must
name persons the importer may see. Evidence files are not in the file: each one listed is linked
when the agency holds a file with the same SHA-256, and reported as not held otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from saebom.accounts.models import Agency, User
from saebom.core import vocab
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.exceptions import SaebomError
from saebom.core.policy import Action
from saebom.registry.models import PUBLIC_ID_ALPHABET
from saebom.registry.services import agency_for
from saebom.testimony import selectors, services
from saebom.testimony.exporting import FORMAT, FORMAT_VERSION
from saebom.testimony.models import Act, EvidenceFile, Place, Testimony

MAX_FILE_BYTES = 100 * 2**20
MAX_ERRORS = 100
MAX_TEXT_CHARS = 500_000  # a transcript can be long; nothing else comes near
UNIT_CHARS, RANK_CHARS, LABEL_CHARS = 200, 100, 200  # the columns' sizes
TESTIMONY_ID = re.compile(f"^T-[{PUBLIC_ID_ALPHABET}]{{8}}$")

TOP_KEYS = frozenset(
    {
        "format",
        "version",
        "generated_at",
        "agency",
        "scope",
        "mechanism",
        "synthetic",
        "note",
        "count",
        "corroborations",
        "testimonies",
    }
)
TESTIMONY_KEYS = frozenset(
    {
        "id",
        "agency",
        "synthetic",
        "deidentified",
        "sealed",
        "version",
        "interview",
        "witness",
        "consent",
        "summary",
        "transcript",
        "individuals",
        "events",
        "places",  # derived from the events: not read
        "sources",  # derived from the acts: not read
        "evidence",
    }
)
INTERVIEW_KEYS = frozenset({"date", "language", "place", "interviewers"})
WITNESS_KEYS = frozenset({"sex", "person", "identity"})
CONSENT_KEYS = frozenset({"scope", "mechanisms", "given_on"})
INDIVIDUAL_KEYS = frozenset(
    {
        "ref",
        "role",
        "sex",
        "approx_age",
        "relation_to_witness",
        "institution",
        "unit",
        "rank",
        "name",
        "person",
    }
)
EVENT_KEYS = frozenset(
    {"ref", "date_start", "date_precision", "date_end", "place", "place_detail", "description"}
    | {"acts"}
)
ACT_KEYS = frozenset(
    {
        "ref",
        "act_type",
        "coi_category",
        "huridocs_code",  # follows from the act type: not read
        "place",
        "victims",
        "perpetrators",
        "connection",
        "reliability",
        "credibility",
        "corroboration",
        "notes",
    }
)
PERPETRATOR_KEYS = frozenset({"individual", "degree"})
EVIDENCE_KEYS = frozenset({"id", "sha256", "media_type", "size", "display_name", "working_copy_of"})
CORROBORATION_KEYS = frozenset({"id", "label"})
SHA256 = re.compile("^[0-9a-f]{64}$")
# Text no database column takes: NUL (PostgreSQL) and halves of surrogate pairs (UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Where a field a service names sits in the file, for each kind of record.
TESTIMONY_FIELDS = {
    "interview_date": "interview.date",
    "language": "interview.language",
    "interview_place": "interview.place",
    "interviewers": "interview.interviewers",
    "witness_person": "witness.person",
    "witness_identity": "witness.identity",
    "witness_sex": "witness.sex",
    "consent_scope": "consent.scope",
    "consent_mechanisms": "consent.mechanisms",
    "consent_given_on": "consent.given_on",
    "agency": "",
}
INDIVIDUAL_FIELDS = {"witness_person": "person"}


@dataclass(frozen=True)
class RecordError:
    """One problem: the record (``index`` in ``testimonies``, None for the file as a whole),
    the record's id when known, the field path inside the record and the reason."""

    index: int | None
    record: str
    field: str
    message: str

    @property
    def where(self) -> str:
        if self.index is None:
            return gettext("file")
        return f"testimonies[{self.index}]" + (f" ({self.record})" if self.record else "")

    def __str__(self) -> str:
        return f"{self.where}, {self.field or '-'}: {self.message}"


class ImportRejected(SaebomError):
    """The file cannot be imported as it is; nothing was written."""

    def __init__(self, errors: list[RecordError]) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = len(errors) - 5
        super().__init__(shown + (f" (+{more})" if more > 0 else ""))
        self.errors = errors


@dataclass
class ImportReport:
    testimonies: list[str] = field(default_factory=list)
    sealed: int = 0
    corroborations: int = 0
    corroborations_dropped: list[str] = field(default_factory=list)
    evidence_linked: int = 0
    evidence_not_held: list[str] = field(default_factory=list)
    dry_run: bool = False


# -- reading ------------------------------------------------------------------------------------


@dataclass
class _IndividualIn:
    path: str
    ref: str
    role: str
    values: dict[str, Any]


@dataclass
class _ActIn:
    path: str
    values: dict[str, Any]
    victims: list[str]
    perpetrators: list[tuple[str, str]]
    corroboration: str


@dataclass
class _EventIn:
    path: str
    values: dict[str, Any]
    acts: list[_ActIn]


@dataclass
class _Record:
    index: int
    public_id: str
    create: dict[str, Any]
    sealed: bool
    individuals: list[_IndividualIn]
    events: list[_EventIn]
    evidence: list[tuple[str, str]]  # (id in the file, sha256)


@dataclass
class _References:
    """Values to check against the database once for the whole file: (index, id, path, value)."""

    places: list[tuple[int, str, str, str]] = field(default_factory=list)
    persons: list[tuple[int, str, str, str]] = field(default_factory=list)
    interviewers: list[tuple[int, str, str, str]] = field(default_factory=list)
    corroborations: list[tuple[int, str, str, str]] = field(default_factory=list)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Reader:
    """Reads one testimony record, noting every problem with its path."""

    def __init__(self, errors: list[RecordError], refs: _References, index: int) -> None:
        self.errors = errors
        self.refs = refs
        self.index = index
        self.record = ""

    def fail(self, path: str, message: str) -> None:
        self.errors.append(RecordError(self.index, self.record, path, message))

    def mapping(self, value: Any, path: str, allowed: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, gettext("must be an object"))
            return {}
        for key in sorted(set(value) - allowed):
            self.fail(_join(path, key), gettext("not a field of this format"))
        return value

    def items(self, obj: dict[str, Any], key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(_join(path, key), gettext("must be a list"))
            return []
        return value

    def text(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = False,
        max_chars: int = MAX_TEXT_CHARS,
    ) -> str:
        value = obj.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(_join(path, key), gettext("must be text"))
            return ""
        if len(value) > max_chars:
            self.fail(_join(path, key), gettext("longer than %(n)d characters") % {"n": max_chars})
        if required and not value.strip():
            self.fail(_join(path, key), gettext("required"))
        return value

    def day(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool = False
    ) -> date | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(_join(path, key), gettext("required"))
            return None
        try:
            if isinstance(value, str):
                return date.fromisoformat(value)
        except ValueError:
            pass
        self.fail(_join(path, key), gettext("not a date (YYYY-MM-DD)"))
        return None

    def code(
        self, obj: dict[str, Any], key: str, vocabulary: str, path: str, *, required: bool = False
    ) -> str:
        return self.term(obj.get(key), vocabulary, _join(path, key), required=required)

    def term(self, value: Any, vocabulary: str, path: str, *, required: bool = False) -> str:
        """A vocabulary code, written as a term object (its ``code`` is read) or as text."""
        if isinstance(value, dict):
            value = value.get("code")
        if value is None or value == "":
            if required:
                self.fail(path, gettext("required"))
            return ""
        if not isinstance(value, str):
            self.fail(path, gettext("must be a code"))
            return ""
        try:
            return vocab.resolve(vocabulary, value)
        except vocab.UnknownTerm as unknown:
            self.fail(path, str(unknown))
            return ""

    def flag(self, obj: dict[str, Any], key: str, path: str) -> bool:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            self.fail(_join(path, key), gettext("must be true or false"))
            return False
        return value

    def place(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(_join(path, key), gettext("must be a place code"))
            return None
        self.refs.places.append((self.index, self.record, _join(path, key), value))
        return value

    def person(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(_join(path, key), gettext("must be a registry id"))
            return None
        self.refs.persons.append((self.index, self.record, _join(path, key), value))
        return value


def _read_identity(reader: _Reader, record: dict[str, Any], known: set[str]) -> str:
    value = record.get("id")
    if not isinstance(value, str) or not TESTIMONY_ID.match(value):
        reader.fail("id", gettext("required: a testimony id such as T-7K3M9QX2"))
        return ""
    reader.record = value
    if value in known:
        reader.fail("id", gettext("appears twice in the file"))
    known.add(value)
    return value


def _read_testimony(reader: _Reader, record: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``services.testimony_create`` (without actor, agency and id)."""
    interview = reader.mapping(record.get("interview"), "interview", INTERVIEW_KEYS)
    witness = reader.mapping(record.get("witness", {}), "witness", WITNESS_KEYS)
    consent = reader.mapping(record.get("consent"), "consent", CONSENT_KEYS)
    interviewers = []
    for n, name in enumerate(reader.items(interview, "interviewers", "interview")):
        path = _join("interview.interviewers", n)
        if isinstance(name, str) and name.strip():
            reader.refs.interviewers.append((reader.index, reader.record, path, name.strip()))
            interviewers.append(name.strip())
        else:
            reader.fail(path, gettext("must be a user name"))
    mechanisms = [
        reader.term(value, "mechanism", _join("consent.mechanisms", n), required=True)
        for n, value in enumerate(reader.items(consent, "mechanisms", "consent"))
    ]
    return {
        "interview_date": reader.day(interview, "date", "interview", required=True),
        "language": reader.code(
            interview, "language", "interview_language", "interview", required=True
        ),
        "interview_place": reader.text(interview, "place", "interview"),
        "interviewers": interviewers,
        "witness_sex": reader.code(witness, "sex", "sex", "witness"),
        "witness_person": reader.person(witness, "person", "witness"),
        "witness_identity": reader.text(witness, "identity", "witness"),
        "consent_scope": reader.code(consent, "scope", "consent_scope", "consent", required=True),
        "consent_mechanisms": mechanisms,
        "consent_given_on": reader.day(consent, "given_on", "consent", required=True),
        "summary": reader.text(record, "summary", "", required=True),
        "transcript": reader.text(record, "transcript", ""),
    }


def _read_individuals(reader: _Reader, record: dict[str, Any]) -> list[_IndividualIn]:
    individuals: list[_IndividualIn] = []
    seen: set[str] = set()
    for n, raw in enumerate(reader.items(record, "individuals", "")):
        path = _join("individuals", n)
        item = reader.mapping(raw, path, INDIVIDUAL_KEYS)
        ref = item.get("ref")
        if not isinstance(ref, str) or not ref or ref in seen:
            reader.fail(_join(path, "ref"), gettext("required, and unique in the testimony"))
            ref = ""
        seen.add(ref)
        age = item.get("approx_age")
        if age is not None and (isinstance(age, bool) or not isinstance(age, int)):
            reader.fail(_join(path, "approx_age"), gettext("must be a whole number"))
            age = None
        role = reader.code(item, "role", "individual_role", path, required=True)
        values = {
            "role": role,
            "sex": reader.code(item, "sex", "sex", path),
            "approx_age": age,
            "relation_to_witness": reader.code(
                item, "relation_to_witness", "witness_relation", path
            ),
            "institution": reader.code(item, "institution", "institution", path),
            "unit": reader.text(item, "unit", path, max_chars=UNIT_CHARS),
            "rank": reader.text(item, "rank", path, max_chars=RANK_CHARS),
            "name": reader.text(item, "name", path),
            "person": reader.person(item, "person", path),
        }
        individuals.append(_IndividualIn(path, ref, role, values))
    return individuals


def _read_people(
    reader: _Reader, act: dict[str, Any], path: str, roles: dict[str, str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The act's victims and perpetrators, as references to the testimony's individuals."""
    victims = []
    for n, ref in enumerate(reader.items(act, "victims", path)):
        if isinstance(ref, str) and roles.get(ref) == "victim":
            victims.append(ref)
        else:
            reader.fail(
                _join(_join(path, "victims"), n),
                gettext("must be the ref of a victim in this testimony's individuals"),
            )
    perpetrators = []
    for n, raw in enumerate(reader.items(act, "perpetrators", path)):
        where = _join(_join(path, "perpetrators"), n)
        item = reader.mapping(raw, where, PERPETRATOR_KEYS)
        ref = item.get("individual")
        degree = reader.code(item, "degree", "involvement", where, required=True)
        if not isinstance(ref, str) or roles.get(ref) != "perpetrator":
            reader.fail(
                _join(where, "individual"),
                gettext("must be the ref of a perpetrator in this testimony's individuals"),
            )
        else:
            perpetrators.append((ref, degree))
    return victims, perpetrators


def _read_act(reader: _Reader, raw: Any, path: str, roles: dict[str, str]) -> _ActIn:
    act = reader.mapping(raw, path, ACT_KEYS)
    victims, perpetrators = _read_people(reader, act, path, roles)
    group = act.get("corroboration")
    if group is not None and not isinstance(group, str):
        reader.fail(_join(path, "corroboration"), gettext("must be a corroboration id"))
        group = None
    if group:
        reader.refs.corroborations.append(
            (reader.index, reader.record, _join(path, "corroboration"), group)
        )
    values = {
        "act_type": reader.code(act, "act_type", "act_type", path, required=True),
        "coi_category": reader.code(act, "coi_category", "coi_category", path),
        "place": reader.place(act, "place", path),
        "connection": reader.code(act, "connection", "source_connection", path, required=True),
        "reliability": reader.code(act, "reliability", "reliability", path, required=True),
        "credibility": reader.code(act, "credibility", "credibility", path, required=True),
        "notes": reader.text(act, "notes", path),
    }
    return _ActIn(path, values, victims, perpetrators, group or "")


def _read_events(
    reader: _Reader, record: dict[str, Any], individuals: list[_IndividualIn]
) -> list[_EventIn]:
    roles = {i.ref: i.role for i in individuals if i.ref}
    events = []
    for n, raw in enumerate(reader.items(record, "events", "")):
        path = _join("events", n)
        event = reader.mapping(raw, path, EVENT_KEYS)
        values = {
            "date_start": reader.day(event, "date_start", path),
            "date_precision": reader.code(event, "date_precision", "date_precision", path),
            "date_end": reader.day(event, "date_end", path),
            "place": reader.place(event, "place", path),
            "place_detail": reader.text(event, "place_detail", path),
            "description": reader.text(event, "description", path),
        }
        acts = [
            _read_act(reader, act, _join(_join(path, "acts"), k), roles)
            for k, act in enumerate(reader.items(event, "acts", path))
        ]
        events.append(_EventIn(path, values, acts))
    return events


def _read_evidence(reader: _Reader, record: dict[str, Any]) -> list[tuple[str, str]]:
    listed = []
    for n, raw in enumerate(reader.items(record, "evidence", "")):
        path = _join("evidence", n)
        item = reader.mapping(raw, path, EVIDENCE_KEYS)
        sha = item.get("sha256")
        if not isinstance(sha, str) or not SHA256.match(sha):
            reader.fail(_join(path, "sha256"), gettext("must be 64 lowercase hexadecimal digits"))
            continue
        listed.append((str(item.get("id") or sha[:12]), sha))
    return listed


def _read_record(
    errors: list[RecordError], refs: _References, index: int, raw: Any, known: set[str]
) -> _Record:
    reader = _Reader(errors, refs, index)
    public_id = _read_identity(reader, raw if isinstance(raw, dict) else {}, known)
    record = reader.mapping(raw, "", TESTIMONY_KEYS)
    create = _read_testimony(reader, record)
    create["is_synthetic"] = reader.flag(record, "synthetic", "")
    individuals = _read_individuals(reader, record)
    return _Record(
        index=index,
        public_id=public_id,
        create=create,
        sealed=reader.flag(record, "sealed", ""),
        individuals=individuals,
        events=_read_events(reader, record, individuals),
        evidence=_read_evidence(reader, record),
    )


# -- the file -----------------------------------------------------------------------------------


def _file_error(message: str, path: str = "") -> RecordError:
    return RecordError(None, "", path, message)


def _parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_FILE_BYTES:
        limit = {"mb": MAX_FILE_BYTES // 2**20}
        raise ImportRejected([_file_error(gettext("larger than %(mb)d MiB") % limit)])
    try:
        document = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_object)
    except UnicodeDecodeError:
        raise ImportRejected([_file_error(gettext("not UTF-8 text"))]) from None
    except _DuplicateKey as duplicate:  # which of the two would count is anyone's guess
        message = gettext("the key %(key)s appears twice in one object") % {"key": duplicate.key}
        raise ImportRejected([_file_error(message)]) from None
    except json.JSONDecodeError as exc:
        where = {"line": exc.lineno, "column": exc.colno, "reason": exc.msg}
        message = gettext("not valid JSON: %(reason)s at line %(line)d, column %(column)d")
        raise ImportRejected([_file_error(message % where)]) from None
    except RecursionError:
        raise ImportRejected([_file_error(gettext("nested too deeply"))]) from None
    except ValueError:  # an integer of more digits than Python converts
        raise ImportRejected([_file_error(gettext("holds a number too long to read"))]) from None
    if not isinstance(document, dict):
        raise ImportRejected([_file_error(gettext("must be a JSON object"))])
    unstorable = _unstorable(document)
    if unstorable is not None:
        message = gettext("contains a character that cannot be stored (NUL or a lone surrogate)")
        raise ImportRejected([_file_error(message, unstorable)])
    return document


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = repr(key[:40])


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats (``json`` would keep the last silently)."""
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


def _unstorable(document: dict[str, Any]) -> str | None:
    """The path of the first key or text holding an ``UNSTORABLE`` character (None if none):
    JSON escapes (``\\u0000``, ``\\ud800``) can write them, and they would fail in the
    database, not here."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:  # not recursive: the document may be nested as deeply as json allows
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if UNSTORABLE.search(key):
                    return path or "-"
                pending.append((_join(path, key), item))
        elif isinstance(value, list):
            pending.extend((_join(path, n), item) for n, item in enumerate(value))
        elif isinstance(value, str) and UNSTORABLE.search(value):
            return path
    return None


def _check_header(document: dict[str, Any]) -> list[RecordError]:
    """The format and version, and the shape of the lists; nothing else is read without them."""
    if document.get("format") != FORMAT:
        return [_file_error(gettext("not a %(format)s file") % {"format": FORMAT}, "format")]
    if document.get("version") != FORMAT_VERSION:
        message = gettext("version %(found)s is not supported; this release reads version %(v)d")
        return [_file_error(message % {"found": document.get("version"), "v": 1}, "version")]
    errors = [
        _file_error(gettext("not a field of this format"), key)
        for key in sorted(set(document) - TOP_KEYS)
    ]
    for key in ("testimonies", "corroborations"):
        if not isinstance(document.get(key, []), list):
            errors.append(_file_error(gettext("must be a list"), key))
    if "testimonies" not in document:
        errors.append(_file_error(gettext("required"), "testimonies"))
    count = document.get("count")
    if count is not None and count != len(document.get("testimonies") or []):
        message = gettext("the file says it holds %(count)s testimonies: is it complete?")
        errors.append(_file_error(message % {"count": count}, "count"))
    return errors


def _labels(document: dict[str, Any], errors: list[RecordError]) -> dict[str, tuple[int, str]]:
    """The corroboration groups' places in the list and labels, by the ids the acts use."""
    labels: dict[str, tuple[int, str]] = {}
    for n, raw in enumerate(document.get("corroborations") or []):
        path = _join("corroborations", n)
        group = raw if isinstance(raw, dict) else {}
        identity, label = group.get("id"), group.get("label")
        if set(group) - CORROBORATION_KEYS or not isinstance(identity, str) or not identity:
            errors.append(_file_error(gettext("must be an object with id and label"), path))
        elif not isinstance(label, str) or not label.strip() or len(label) > LABEL_CHARS:
            message = gettext("required, at most %(n)d characters") % {"n": LABEL_CHARS}
            errors.append(_file_error(message, _join(path, "label")))
        else:
            labels[identity] = (n, label)
    return labels


def _check_references(
    refs: _References, labels: dict[str, tuple[int, str]], actor: Actor, agency: Agency
) -> list[RecordError]:
    """Everything the records name that must already exist here (one query each)."""
    errors: list[RecordError] = []
    places = set(
        Place.objects.filter(code__in={c for *_, c in refs.places}).values_list("code", flat=True)
    )
    for index, record, path, code in refs.places:
        if code not in places:
            message = gettext("no place %(code)s in the gazetteer (an administrator adds it)")
            errors.append(RecordError(index, record, path, message % {"code": code}))
    persons = set(
        selectors.persons_linkable_by(actor)
        .filter(public_id__in={p for *_, p in refs.persons})
        .values_list("public_id", flat=True)
    )
    for index, record, path, person in refs.persons:
        if person not in persons:
            message = gettext("no person %(id)s in your agency's registry")
            errors.append(RecordError(index, record, path, message % {"id": person}))
    users = set(
        User.objects.filter(
            agency=agency, username__in={u for *_, u in refs.interviewers}
        ).values_list("username", flat=True)
    )
    for index, record, path, name in refs.interviewers:
        if name not in users:
            message = gettext("no account %(name)s in agency %(agency)s")
            errors.append(
                RecordError(index, record, path, message % {"name": name, "agency": agency.code})
            )
    for index, record, path, group in refs.corroborations:
        if group not in labels:
            message = gettext("%(id)s is not listed in the file's corroborations")
            errors.append(RecordError(index, record, path, message % {"id": group}))
    return errors


def _check_new(records: list[_Record]) -> list[RecordError]:
    """An import never replaces a testimony: ids already recorded (in any agency) are refused,
    with one message whoever holds them."""
    taken = set(
        Testimony.objects.filter(public_id__in=[r.public_id for r in records]).values_list(
            "public_id", flat=True
        )
    )
    message = gettext("a testimony with this id is already recorded; an import never replaces one")
    return [
        RecordError(r.index, r.public_id, "id", message) for r in records if r.public_id in taken
    ]


def read_document(
    data: bytes, actor: Actor, agency: Agency
) -> tuple[dict[str, Any], list[_Record], dict[str, tuple[int, str]]]:
    """The file's records, checked; :class:`ImportRejected` listing every problem otherwise."""
    document = _parse(data)
    errors = _check_header(document)
    if errors:
        raise ImportRejected(errors)
    labels = _labels(document, errors)
    refs, known = _References(), set[str]()
    top_synthetic = document.get("synthetic") is True
    records = []
    for index, raw in enumerate(document["testimonies"]):
        record = _read_record(errors, refs, index, raw, known)
        record.create["is_synthetic"] = record.create["is_synthetic"] or top_synthetic
        records.append(record)
        if len(errors) >= MAX_ERRORS:
            break
    errors += _check_references(refs, labels, actor, agency)
    errors += _check_new([r for r in records if r.public_id])
    if errors:
        errors.sort(key=lambda e: -1 if e.index is None else e.index)
        raise ImportRejected(errors[:MAX_ERRORS])
    return document, records, labels


# -- writing ------------------------------------------------------------------------------------


@contextmanager
def _at(record: _Record | None, path: str, renamed: dict[str, str] | None = None) -> Iterator[None]:
    """Report a service's refusal as a problem of the record, at the field's path in the file."""
    try:
        yield
    except ImportRejected:
        raise
    except SaebomError as refused:
        name = refused.field or ""
        reason = refused.message.removeprefix(f"{name}: ") if name else refused.message
        if renamed and name in renamed:
            name = renamed[name]
        where = _join(path, name) if name else path
        index, identity = (record.index, record.public_id) if record else (None, "")
        raise ImportRejected([RecordError(index, identity, where, reason)]) from None


@dataclass
class _Written:
    testimony: Testimony
    grouped: list[tuple[str, Act]]  # acts with the corroboration id the file gives them


def _write(actor: Actor, agency: Agency, record: _Record) -> _Written:
    with _at(record, "", TESTIMONY_FIELDS):
        testimony = services.testimony_create(
            actor=actor, agency_code=agency.code, public_id=record.public_id, **record.create
        )
    people: dict[str, int] = {}
    for individual in record.individuals:
        with _at(record, individual.path, INDIVIDUAL_FIELDS):
            added = services.individual_add(actor=actor, testimony=testimony, **individual.values)
        people[individual.ref] = added.pk
    grouped: list[tuple[str, Act]] = []
    for event in record.events:
        with _at(record, event.path):
            incident = services.incident_add(actor=actor, testimony=testimony, **event.values)
        for act in event.acts:
            with _at(record, act.path):
                made = services.act_add(
                    actor=actor,
                    incident=incident,
                    victims=[people[ref] for ref in act.victims],
                    perpetrators=[(people[ref], degree) for ref, degree in act.perpetrators],
                    **act.values,
                )
            if act.corroboration:
                grouped.append((act.corroboration, made))
    return _Written(testimony, grouped)


def _write_all(actor: Actor, agency: Agency, records: list[_Record]) -> list[_Written]:
    """Each testimony in a savepoint of its own, so that one refused by a service does not hide
    the problems of the next; any problem then undoes them all (the caller's transaction)."""
    written, errors = [], []
    for record in records:
        try:
            with transaction.atomic():
                written.append(_write(actor, agency, record))
        except ImportRejected as rejected:
            errors += rejected.errors
            if len(errors) >= MAX_ERRORS:
                break
    if errors:
        raise ImportRejected(errors)
    return written


def _corroborate(
    actor: Actor,
    written: list[_Written],
    labels: dict[str, tuple[int, str]],
    report: ImportReport,
) -> None:
    """Groups whose acts come from two testimonies or more of the file are recorded again
    (with new ids); a group left with one testimony here is dropped, as it corroborates
    nothing in this archive."""
    groups: dict[str, list[Act]] = {}
    for item in written:
        for group, act in item.grouped:
            groups.setdefault(group, []).append(act)
    for group, acts in sorted(groups.items()):
        if len({a.incident.testimony_id for a in acts}) < 2:
            report.corroborations_dropped.append(group)
            continue
        position, label = labels[group]
        with _at(None, _join("corroborations", position)):
            services.acts_corroborate(actor=actor, acts=acts, label=label)
        report.corroborations += 1


def _link_evidence(
    actor: Actor, agency: Agency, record: _Record, testimony: Testimony, report: ImportReport
) -> None:
    for n, (listed, sha) in enumerate(record.evidence):
        held = EvidenceFile.objects.filter(agency=agency, sha256=sha).first()
        if held is None:
            report.evidence_not_held.append(listed)
            continue
        with _at(record, _join("evidence", n)):
            services.evidence_link(actor=actor, evidence=held, testimony=testimony)
        report.evidence_linked += 1


def _finish(
    actor: Actor,
    agency: Agency,
    records: list[_Record],
    written: list[_Written],
    report: ImportReport,
) -> None:
    """Evidence links, then seals: a testimony sealed in the file is sealed here too."""
    for record, item in zip(records, written, strict=True):
        _link_evidence(actor, agency, record, item.testimony, report)
        if record.sealed:
            with _at(record, "sealed"):
                services.testimony_seal(
                    actor=actor, testimony=item.testimony, expected_version=item.testimony.version
                )
            report.sealed += 1
        report.testimonies.append(item.testimony.public_id)


def testimonies_import(
    *, actor: Actor, data: bytes, agency_code: str | None = None, dry_run: bool = False
) -> ImportReport:
    """Import a testimonies export (JSON) for the actor's agency (the operator: ``agency_code``,
    by default the operating agency): everything, or nothing and :class:`ImportRejected`.
    ``dry_run`` checks everything, the services' checks included, and writes nothing."""
    agency = agency_for(actor, Action.TESTIMONY_IMPORT, agency_code)
    document, records, labels = read_document(data, actor, agency)
    report = ImportReport(dry_run=dry_run)
    with transaction.atomic():
        written = _write_all(actor, agency, records)
        _corroborate(actor, written, labels, report)
        _finish(actor, agency, records, written, report)
        audit_record(
            actor=actor,
            action="import",
            object_type="testimony",
            agency_code=agency.code,
            detail={
                "count": len(report.testimonies),
                "testimony_ids": report.testimonies,
                "source_scope": str(document.get("scope") or "")[:64],  # not read otherwise
                "sealed": report.sealed,
                "corroborations": report.corroborations,
                "evidence_linked": report.evidence_linked,
                "evidence_not_held": len(report.evidence_not_held),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
        if dry_run:
            transaction.set_rollback(True)
    return report
