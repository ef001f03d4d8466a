"""Testimony search: tokens, matching, facets and filters, who matches what, and what the index
keeps. A hand-built set of five testimonies, recorded through the services (which reindex)."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection, transaction

from saebom.accounts.models import Agency, User
from saebom.core.actors import system_actor
from saebom.core.exceptions import SaebomError
from saebom.demo import testimonies as demo
from saebom.testimony import models, search, services

MakeTestimony = Callable[..., models.Testimony]
SECRET_WORD = "Zorblaxian"  # only in a transcript
SECRET_NAME = "나래"  # a two-syllable name, only in a transcript


@dataclass
class Corpus:
    t1: models.Testimony  # alpha, published: 요덕수용소 in summary; 나래, Zorblaxian in transcript
    t2: models.Testimony  # alpha, internal: Chongjin in English
    t3: models.Testimony  # alpha, shared: 청진; 요덕 only in its transcript
    t4: models.Testimony  # beta, published: Yodok camp
    t5: models.Testimony  # beta, internal: Yodok too


def code(
    actor: User,
    testimony: models.Testimony,
    *,
    year: int | None,
    place: str | None,
    acts: list[tuple[str, str | None]],
    institutions: tuple[str, ...] = (),
) -> None:
    perpetrators = [
        services.individual_add(
            actor=actor, testimony=testimony, role="perpetrator", institution=institution
        )
        for institution in institutions
    ]
    incident = services.incident_add(
        actor=actor,
        testimony=testimony,
        date_start=date(year, 1, 1) if year else None,
        date_precision="year" if year else "",
        place=place,
    )
    for act_type, act_place in acts:
        services.act_add(
            actor=actor,
            incident=incident,
            act_type=act_type,
            connection="experienced",
            reliability="b",
            credibility="2",
            place=act_place,
            perpetrators=[(p.pk, "direct") for p in perpetrators],
        )


@pytest.fixture
def corpus(documenter: User, other_documenter: User, make_testimony: MakeTestimony) -> Corpus:
    t1 = make_testimony(
        documenter,
        interview_date=date(2024, 3, 1),
        summary="요덕수용소에서의 강제노동에 관한 증언",
        transcript=f"그날 {SECRET_NAME}가 보위부에 끌려갔습니다. The {SECRET_WORD} guard laughed.",
        consent_scope="publish_anonymised",
    )
    code(
        documenter,
        t1,
        year=1998,
        place="yodok",
        acts=[("forced_labour", "kwanliso_15"), ("detention", "kwanliso_15")],
        institutions=("mss",),
    )
    t2 = make_testimony(
        documenter,
        interview_date=date(2024, 2, 1),
        language="en",
        summary="Detention and torture in Chongjin",
        transcript="The guard took my brother away at night.",
        consent_scope="internal",
    )
    code(
        documenter,
        t2,
        year=2003,
        place="chongjin",
        acts=[("torture", None), ("arrest", "kwanliso_25")],
        institutions=("mss", "mps"),
    )
    code(documenter, t2, year=2005, place=None, acts=[("forced_repatriation", None)])
    t3 = make_testimony(
        documenter,
        interview_date=date(2024, 1, 1),
        summary="청진 장마당 공개 처형 목격",
        transcript="요덕에 대해서는 들은 이야기만 있습니다.",
        consent_scope="share_with_mechanisms",
        consent_mechanisms=["ohchr_seoul"],
    )
    code(documenter, t3, year=1998, place="chongjin", acts=[("public_execution", None)])
    t4 = make_testimony(
        other_documenter,
        interview_date=date(2023, 6, 1),
        language="en",
        summary="Forced repatriation through Onsong, then the Yodok camp",
        transcript="Nothing here about Chongjin.",
        consent_scope="publish_named",
    )
    code(
        other_documenter,
        t4,
        year=2010,
        place="kwanliso_15",
        acts=[("forced_repatriation", None)],
        institutions=("kpa",),
    )
    t5 = make_testimony(
        other_documenter,
        interview_date=date(2023, 5, 1),
        language="en",
        summary="Yodok, internal to the other agency",
        transcript="Chongjin and Yodok.",
        consent_scope="internal",
    )
    code(other_documenter, t5, year=2011, place="kwanliso_15", acts=[("detention", None)])
    return Corpus(t1, t2, t3, t4, t5)


def ids(result: search.SearchResult) -> list[str]:
    return [t.public_id for t in result.results]


def found(actor: Any, query: str, **kwargs: Any) -> set[str]:
    return set(ids(search.search(actor, query, **kwargs)))


class TestTokens:
    def test_hangul_runs_become_overlapping_bigrams(self) -> None:
        assert search.tokens("요덕수용소") == ["요덕", "덕수", "수용", "용소"]
        assert search.tokens("요덕") == ["요덕"]
        assert search.tokens("집 에") == ["집", "에"]  # a one-syllable run stands for itself

    def test_words_are_normalised_and_split_from_hangul(self) -> None:
        assert search.tokens("Yodok CAMP, No.15") == ["yodok", "camp", "no", "15"]
        assert search.tokens("ＹＯＤＯＫ") == ["yodok"]  # NFKC: full-width letters
        assert search.tokens("GPS위치") == ["gps", "위치"]
        assert search.tokens("kwanliso_15 T-1") == ["kwanliso", "15", "t", "1"]

    def test_punctuation_and_syntax_are_not_tokens(self) -> None:
        assert search.tokens('"*()-:^{}') == []
        assert search.tokens("NEAR(a b)") == ["near", "a", "b"]


@pytest.mark.django_db
class TestMatching:
    def test_two_korean_syllables_find_the_longer_word(
        self, corpus: Corpus, documenter: User, researcher: User
    ) -> None:
        assert found(researcher, "요덕") == {corpus.t1.public_id}  # inside 요덕수용소
        assert found(researcher, "수용소") == {corpus.t1.public_id}
        assert found(documenter, "요덕") == {corpus.t1.public_id, corpus.t3.public_id}

    def test_two_syllable_name_inside_a_sentence(self, corpus: Corpus, documenter: User) -> None:
        assert found(documenter, SECRET_NAME) == {corpus.t1.public_id}  # "나래가" in the text

    def test_english_by_word_whatever_the_case(self, corpus: Corpus, researcher: User) -> None:
        for query in ("chongjin", "CHONGJIN", "Chongjin"):
            assert found(researcher, query) == {corpus.t2.public_id}
        assert found(researcher, "Yodok") == {corpus.t4.public_id}  # t5 is beta's, internal
        assert found(researcher, "chong") == set()  # words, not prefixes

    def test_every_token_must_match(self, corpus: Corpus, documenter: User) -> None:
        assert found(documenter, "요덕 강제노동") == {corpus.t1.public_id}
        assert found(documenter, "detention chongjin") == {corpus.t2.public_id}
        assert found(documenter, "detention 요덕") == set()

    def test_results_newest_interview_first_with_total_and_paging(
        self, corpus: Corpus, documenter: User
    ) -> None:
        result = search.search(documenter, "")
        assert ids(result) == [corpus.t1.public_id, corpus.t2.public_id, corpus.t3.public_id]
        assert result.total == 3
        page = search.search(documenter, "", limit=1, offset=1)
        assert ids(page) == [corpus.t2.public_id] and page.total == 3

    def test_reindex_replaces_the_entry(self, corpus: Corpus, documenter: User) -> None:
        services.testimony_update(
            actor=documenter,
            testimony=corpus.t2,
            expected_version=corpus.t2.version,
            summary="Arrest in Hoeryong",
        )
        assert found(documenter, "hoeryong") == {corpus.t2.public_id}
        assert found(documenter, "chongjin") == set()

    def test_query_syntax_never_raises(self, corpus: Corpus, documenter: User) -> None:
        queries = [
            '"',
            '""',
            "'",
            "*",
            "yodok*",
            "AND",
            "OR",
            "NOT",
            "yodok AND",
            "AND yodok",
            "NEAR(요덕 강제)",
            "NEAR/2",
            "(",
            ")",
            "((요덕",
            "-요덕",
            "요덕 -청진",
            "summary:요덕",
            "transcript : zorblaxian",
            "{summary transcript}: x",
            "^요덕",
            "요덕 + 청진",
            "a & b | !c",
            "'요덕':*",
            "\\",
            "%_",
            "'; DROP TABLE testimony_search; --",
            "\x00",
            "요덕\x00",
        ]
        for query in queries:
            result = search.search(documenter, query)
            assert isinstance(result, search.SearchResult), query
        assert ids(search.search(documenter, '"요덕"')) == ids(search.search(documenter, "요덕"))
        assert found(documenter, "(요덕) 강제*") == {corpus.t1.public_id}
        assert found(documenter, '"*()') == set()  # no token: nothing, not everything

    def test_letters_sqlite_splits_are_still_one_token(
        self, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        # U+19B0 (New Tai Lue) is a letter to Python but a separator to FTS5's unicode61
        word = "q\u19b0q"
        testimony = make_testimony(documenter, summary=f"About {word} and \u19b1.")
        assert found(documenter, word) == {testimony.public_id}
        assert found(documenter, "\u19b1") == {testimony.public_id}
        assert found(documenter, "q") == set()

    def test_unknown_filter_is_refused(self, documenter: User) -> None:
        with pytest.raises(SaebomError):
            search.search(documenter, "", filters={"agency": "alpha"})


@pytest.mark.django_db
class TestFacets:
    def test_counts_distinct_testimonies_per_value(self, corpus: Corpus, documenter: User) -> None:
        result = search.search(documenter, "")
        assert result.facets == {
            "act_type": {
                "arrest": 1,
                "detention": 1,
                "forced_labour": 1,
                "forced_repatriation": 1,
                "public_execution": 1,
                "torture": 1,
            },
            "coi_category": {"e": 3, "c": 1},
            "facility": {"kwanliso_15": 1, "kwanliso_25": 1},
            "institution": {"mss": 2, "mps": 1},
            # t1's county and camp are both in South Hamgyong: counted once
            "province": {"north_hamgyong": 2, "south_hamgyong": 1},
            "year": {"1998": 2, "2003": 1, "2005": 1},
        }

    def test_facets_of_the_matches_only(self, corpus: Corpus, researcher: User) -> None:
        result = search.search(researcher, "yodok")  # t4 only
        assert result.total == 1
        assert result.facets["facility"] == {"kwanliso_15": 1}  # an incident's facility
        assert result.facets["institution"] == {"kpa": 1}
        assert result.facets["province"] == {"south_hamgyong": 1}
        assert result.facets["year"] == {"2010": 1}
        everything = search.search(researcher, "")  # t1, t2, t3 and beta's published t4
        assert everything.total == 4
        assert everything.facets["facility"] == {"kwanliso_15": 2, "kwanliso_25": 1}

    @pytest.mark.parametrize(
        ("key", "value", "expected"),
        [
            ("act_type", "detention", {"t1"}),
            ("coi_category", "e", {"t1", "t2", "t3"}),
            ("coi_category", "c", {"t2"}),
            ("facility", "kwanliso_15", {"t1"}),
            ("facility", "kwanliso_25", {"t2"}),
            ("institution", "mss", {"t1", "t2"}),
            ("province", "north_hamgyong", {"t2", "t3"}),
            ("year", "1998", {"t1", "t3"}),
            ("year", "1999", set()),
        ],
    )
    def test_each_filter_narrows(
        self, corpus: Corpus, documenter: User, key: str, value: str, expected: set[str]
    ) -> None:
        result = search.search(documenter, "", filters={key: value})
        assert set(ids(result)) == {getattr(corpus, name).public_id for name in expected}
        assert result.total == len(expected)
        if expected:
            assert result.facets[key][value] == len(expected)

    def test_filters_combine_with_each_other_and_the_query(
        self, corpus: Corpus, documenter: User
    ) -> None:
        both = {"province": "north_hamgyong", "year": "1998"}
        assert found(documenter, "", filters=both) == {corpus.t3.public_id}
        assert found(documenter, "청진", filters={"act_type": "public_execution"}) == {
            corpus.t3.public_id
        }
        assert found(documenter, "chongjin", filters={"act_type": "public_execution"}) == set()
        assert found(documenter, "", filters={"year": ""}) == found(documenter, "")

    def test_facets_follow_new_coding(self, corpus: Corpus, documenter: User) -> None:
        code(documenter, corpus.t3, year=2001, place="kwanliso_14", acts=[("starvation", None)])
        result = search.search(documenter, "", filters={"facility": "kwanliso_14"})
        assert ids(result) == [corpus.t3.public_id]
        assert result.facets["year"] == {"1998": 1, "2001": 1}
        assert result.facets["province"] == {"north_hamgyong": 1, "south_pyongan": 1}


@pytest.mark.django_db
class TestWhoMatchesWhat:
    def test_researcher_never_matches_transcripts(
        self, corpus: Corpus, researcher: User, documenter: User
    ) -> None:
        for word in (SECRET_NAME, SECRET_WORD, "guard", "보위부", "끌려갔습니다"):
            assert found(researcher, word) == set(), word
            assert corpus.t1.public_id in found(documenter, word), word
        assert found(researcher, "요덕") == {corpus.t1.public_id}  # summary, not t3's transcript

    def test_documenters_match_their_own_agency_transcripts_only(
        self, corpus: Corpus, other_documenter: User, documenter: User
    ) -> None:
        assert found(other_documenter, SECRET_WORD) == set()
        assert found(other_documenter, "chongjin") == {corpus.t4.public_id, corpus.t5.public_id}
        assert found(documenter, "yodok") == set()  # beta's, even t4 published
        assert found(system_actor(), SECRET_WORD) == {corpus.t1.public_id}

    def test_researcher_never_sees_other_agencies_internal_testimonies(
        self, corpus: Corpus, researcher: User, other_researcher: User
    ) -> None:
        assert found(other_researcher, "") == {
            corpus.t1.public_id,
            corpus.t4.public_id,
            corpus.t5.public_id,
        }
        assert found(researcher, "internal") == set()  # t5's summary
        assert corpus.t5.public_id not in found(researcher, "", filters={"year": "2011"})
        assert search.search(researcher, "", filters={"year": "2011"}).facets["year"] == {}

    def test_withdrawn_consent_vanishes_at_once(
        self, corpus: Corpus, researcher: User, documenter: User
    ) -> None:
        assert found(researcher, "요덕") == {corpus.t1.public_id}
        services.consent_withdraw(actor=documenter, testimony=corpus.t1)
        assert found(researcher, "요덕") == set()
        assert found(documenter, "요덕") == {corpus.t3.public_id}
        result = search.search(documenter, "", filters={"facility": "kwanliso_15"})
        assert result.total == 0 and result.facets["facility"] == {}

    def test_withdrawal_is_checked_at_query_time_not_read_from_the_index(
        self, corpus: Corpus, researcher: User
    ) -> None:
        models.Testimony.objects.filter(pk=corpus.t1.pk).update(
            consent_withdrawn_on=date(2024, 6, 1)
        )
        assert found(researcher, "요덕") == set()

    def test_roles_without_testimony_access_find_nothing(
        self, corpus: Corpus, make_user: Callable[..., User]
    ) -> None:
        caseworker = make_user("caseworker")
        result = search.search(caseworker, "")
        assert result.total == 0 and result.results == []


def raw_index_text() -> str:
    """Everything the index tables hold, as text (SQLite: the content table and the FTS5
    shadow tables, blobs included; PostgreSQL: the table)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT testimony_id, facets::text, document::text FROM testimony_search"
            )
            return repr(cursor.fetchall())
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'testimony_search%'"
        )
        parts = []
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    parts.append(raw.decode("utf-8", "replace"))
        return "\n".join(parts)


def index_rows() -> tuple[int, int]:
    """(testimonies in the index, facet rows) (on SQLite after FTS5's own consistency check)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT COUNT(*), SUM(cardinality(facets)) FROM testimony_search")
            entries, facets = cursor.fetchone()
            return int(entries), int(facets or 0)
        cursor.execute("INSERT INTO testimony_search (testimony_search) VALUES ('integrity-check')")
        cursor.execute("SELECT COUNT(*) FROM testimony_searchdoc")
        entries = cursor.fetchone()[0]
        cursor.execute("SELECT facet_values FROM testimony_searchfacet")
        values = [v for (text,) in cursor.fetchall() for v in text.split("\n") if v]
        return int(entries), len(values)


@pytest.mark.django_db
class TestIndexContents:
    def test_no_transcript_text_in_the_index(self, corpus: Corpus, agency: Agency) -> None:
        text = raw_index_text().lower()
        assert "요덕수용소" not in text  # summaries are kept as tokens, not as text...
        assert "요덕" in text and "chongjin" in text  # ...but in clear
        for word in (SECRET_WORD.lower(), SECRET_NAME, "끌려", "guard", "laughed", "brother"):
            assert word not in text, word
        hashed = search.TokenHasher(agency.pk)(SECRET_WORD.lower())
        assert len(hashed) == search.HASH_CHARS and hashed in text

    def test_same_word_hashes_differently_per_agency(
        self, agency: Agency, other_agency: Agency
    ) -> None:
        assert search.TokenHasher(agency.pk)("chongjin") != search.TokenHasher(other_agency.pk)(
            "chongjin"
        )

    def test_transcript_kept_as_a_set_of_hashes(self, agency: Agency) -> None:
        hasher = search.TokenHasher(agency.pk)
        hashes = search.hashed_tokens("요덕 요덕 요덕 camp CAMP", hasher)
        assert hashes == sorted([hasher("요덕"), hasher("camp")])


@pytest.mark.django_db(transaction=True)
class TestFlush:
    """Django empties tables between transactional tests with DELETE (SQLite) or TRUNCATE
    (PostgreSQL): the index must follow, whichever test runs first."""

    @pytest.mark.parametrize("run", [1, 2])
    def test_index_emptied_with_the_testimonies(
        self, run: int, documenter: User, make_testimony: MakeTestimony
    ) -> None:
        assert index_rows() == (0, 0)
        testimony = make_testimony(documenter, summary=f"flush run {run}")
        services.incident_add(
            actor=documenter,
            testimony=testimony,
            date_start=date(2001, 1, 1),
            date_precision="year",
        )
        assert index_rows() == (1, 1)
        assert found(documenter, "flush", filters={"year": "2001"}) == {testimony.public_id}


def index_snapshot() -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT testimony_id, facets, document::text FROM testimony_search ORDER BY 1"
            )
            return list(cursor.fetchall())
        cursor.execute("SELECT * FROM testimony_searchdoc ORDER BY 1")
        rows = list(cursor.fetchall())
        cursor.execute("SELECT * FROM testimony_searchfacet ORDER BY 1, 2")
        return rows + list(cursor.fetchall())


@pytest.mark.django_db
class TestSyntheticTestimonies:
    def test_bulk_index_equals_reindex_and_data_is_marked(
        self, gazetteer: None, agency: Agency, other_agency: Agency, documenter: User
    ) -> None:
        counts = demo.testimonies_bulk_create(agencies=[agency, other_agency], count=30, seed=3)
        assert counts.testimonies == counts.indexed == 30
        bulk = index_snapshot()
        assert search.reindex_all() == 30
        assert index_snapshot() == bulk
        testimonies = models.Testimony.objects.all()
        assert all(t.is_synthetic and t.summary.startswith(demo.MARK) for t in testimonies)
        assert {t.language for t in testimonies} == {"ko", "en"}
        assert all(len(t.transcript) >= 2000 for t in testimonies)
        assert (
            search.search(documenter, "합성").total
            == testimonies.filter(agency=agency, consent_withdrawn_on=None).count()
        )

    def test_demo_load_once(self, gazetteer: None, agency: Agency) -> None:
        assert demo.demo_testimonies_load(agency, 5) == 5
        assert demo.demo_testimonies_load(agency, 5) == 0
        assert models.Testimony.objects.filter(agency=agency).count() == 5


def bitmaps() -> dict[str, bytes]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, bits FROM testimony_facetbitmap")
        return {value: bytes(bits) for value, bits in cursor.fetchall()}


def counted_from_entries() -> dict[str, dict[str, int]]:
    """Facet counts over every testimony, counted from each index entry's stored values."""
    counts: dict[str, dict[str, int]] = {key: {} for key in search.FACETS}
    with connection.cursor() as cursor:
        for values in search._stored_facets(
            cursor, list(models.Testimony.objects.values_list("pk", flat=True))
        ).values():
            for value in values:
                key, _sep, code = value.partition(":")
                counts[key][code] = counts[key].get(code, 0) + 1
    return {key: dict(sorted(v.items(), key=lambda p: (-p[1], p[0]))) for key, v in counts.items()}


@pytest.mark.django_db
class TestFacetBitmaps:
    def test_bitmaps_count_what_the_entries_hold(self, corpus: Corpus) -> None:
        every = list(models.Testimony.objects.values_list("pk", flat=True))
        assert search.facet_counts(every) == counted_from_entries()
        assert search.facet_counts(every)["facility"] == {"kwanliso_15": 3, "kwanliso_25": 1}
        assert search.facet_counts([corpus.t2.pk])["year"] == {"2003": 1, "2005": 1}
        assert search.facet_counts([]) == {key: {} for key in search.FACETS}

    def test_bits_are_cleared_when_coding_goes(self, corpus: Corpus, documenter: User) -> None:
        models.Act.objects.filter(incident__testimony=corpus.t2, act_type="arrest").delete()
        search.reindex(models.Testimony.objects.get(pk=corpus.t2.pk))
        result = search.search(documenter, "")
        assert "kwanliso_25" not in result.facets["facility"]
        assert "arrest" not in result.facets["act_type"]
        assert "kwanliso_25" not in " ".join(bitmaps())  # an emptied bitmap is dropped
        assert result.facets["act_type"]["torture"] == 1  # the testimony's other coding stays

    def test_reindex_all_and_the_migration_rebuild_the_same_bitmaps(self, corpus: Corpus) -> None:
        kept = bitmaps()
        assert search.reindex_all() == 5
        assert bitmaps() == kept
        built = importlib.import_module("saebom.testimony.migrations.0007_facet_bitmaps")
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM testimony_facetbitmap")
        built._build(SimpleNamespace(connection=connection))  # all it reads of a schema editor
        assert bitmaps() == kept

    def test_stale_bitmaps_are_repaired_by_reindex_all(self, corpus: Corpus) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE testimony_facetbitmap SET bits = %s", [b"\xff" * 64])
        search.reindex_all()
        every = list(models.Testimony.objects.values_list("pk", flat=True))
        assert search.facet_counts(every) == counted_from_entries()


@pytest.mark.django_db(transaction=True)
def test_concurrent_indexing_loses_no_bit(
    monkeypatch: pytest.MonkeyPatch, documenter: User, make_testimony: MakeTestimony
) -> None:
    """Four testimonies with the same coding are indexed at once, from their index entries
    and bitmaps emptied. Each writer pauses between reading the bitmaps and writing them
    back: without one writer at a time, the last to write would drop the others' bits. (The
    services also serialise on the audit chain; this calls the index directly.)"""
    writers = 4
    testimonies = [make_testimony(documenter, summary=f"race {n}") for n in range(writers)]
    for testimony in testimonies:
        code(documenter, testimony, year=1999, place="kwanliso_15", acts=[("torture", None)])
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM testimony_facetbitmap")
        if connection.vendor == "postgresql":
            cursor.execute("UPDATE testimony_search SET facets = '{}'")
        else:
            cursor.execute("UPDATE testimony_searchfacet SET facet_values = ''")
    real = search._move_bits

    def slow(cursor: Any, changes: Any) -> None:
        time.sleep(0.2)
        real(cursor, changes)

    monkeypatch.setattr(search, "_move_bits", slow)
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def index_one(testimony: models.Testimony) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                search.reindex(testimony)
        except BaseException as error:  # handed to the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=index_one, args=(t,)) for t in testimonies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    facets = search.search(documenter, "race").facets
    assert facets["year"] == {"1999": writers}
    assert facets["facility"] == {"kwanliso_15": writers}
    assert facets["act_type"] == {"torture": writers}
