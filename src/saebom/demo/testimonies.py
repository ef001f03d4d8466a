"""Synthetic testimonies for the demo and the search benchmark: interviews in Korean and English
of about 2,000 characters, built from template sentences that name places of the gazetteer
(요덕, Yodok, 청진...), institutions and kinds of acts, with their incidents, acts, victims and
perpetrators, and consent of every scope (a few withdrawn).

Nothing here is real. Every testimony is flagged ``is_synthetic`` and its summary begins with
``[합성 SYNTHETIC]``; people are named by code only ("가상인물 K-0417", "Person K-0417"); the
events are assembled at random from sentence templates. Towns and camps are real places: they
are public knowledge and what a search has to find. The same seed gives the same data.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.apps import apps as django_apps
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from saebom.accounts.models import Agency
from saebom.core.actors import Actor, system_actor
from saebom.core.audit import audit_record
from saebom.testimony import search
from saebom.testimony.acttypes import act_types
from saebom.testimony.models import (
    Act,
    ConsentEvent,
    Incident,
    Individual,
    Involvement,
    Place,
    Testimony,
    new_testimony_id,
)

MARK = "[합성 SYNTHETIC]"
TEXT_CHARS = 2000
FIRST_INTERVIEW = date(2005, 1, 1)
LAST_INTERVIEW = date(2025, 12, 31)
LANGUAGES = {"ko": 70, "en": 30}
SCOPES: dict[str, int] = {
    Testimony.Scope.INTERNAL: 40,
    Testimony.Scope.SHARE_WITH_MECHANISMS: 20,
    Testimony.Scope.PUBLISH_ANONYMISED: 32,
    Testimony.Scope.PUBLISH_NAMED: 8,
}
MECHANISMS = ("ohchr_seoul", "special_rapporteur_dprk", "wgad", "nkhr_record_center")
WITHDRAWN_SHARE = 0.03
INSTITUTIONS = {"mss": 35, "mps": 30, "kpa": 8, "prosecutor": 7, "court": 6, "wpk": 9, "other": 5}
# Act types weighted as testimonies tend to report them: detention and its company first.
ACT_WEIGHTS = {
    "detention": 30,
    "arrest": 22,
    "torture": 16,
    "forced_labour": 16,
    "forced_repatriation": 12,
    "starvation": 8,
    "public_execution": 6,
    "family_punishment": 6,
    "movement_restriction": 5,
    "sexual_violence": 4,
    "expression_punished": 4,
    "religious_persecution": 3,
    "forced_abortion": 2,
    "songbun_discrimination": 3,
    "gender_discrimination": 2,
    "killing": 3,
    "forced_transfer": 2,
    "disappearance": 3,
    "abduction": 1,
}
# Places that the text mentions besides the incident's own (public knowledge; not coded).
TOWNS = (
    ("회령", "Hoeryong"),
    ("무산", "Musan"),
    ("혜산", "Hyesan"),
    ("신의주", "Sinuiju"),
    ("함흥", "Hamhung"),
    ("온성", "Onsong"),
    ("길주", "Kilju"),
    ("단천", "Tanchon"),
    ("강계", "Kanggye"),
    ("원산", "Wonsan"),
    ("남양", "Namyang"),
    ("삼지연", "Samjiyon"),
    ("김책", "Kimchaek"),
    ("평성", "Pyongsong"),
    ("사리원", "Sariwon"),
    ("해주", "Haeju"),
)
CHINA = (("연길", "Yanji"), ("도문", "Tumen"), ("장백", "Changbai"), ("심양", "Shenyang"))

ACT_WORDS = {
    "religious_persecution": ("성경을 가지고 있었다는 이유로 처벌", "punished for keeping a Bible"),
    "expression_punished": (
        "한국 드라마를 보았다는 이유로 처벌",
        "punished for watching South Korean dramas",
    ),
    "songbun_discrimination": ("출신 성분 때문에 차별", "discriminated against for their songbun"),
    "gender_discrimination": ("여성이라는 이유로 차별", "discriminated against as women"),
    "movement_restriction": (
        "여행증 없이 이동했다고 단속",
        "stopped for travelling without a permit",
    ),
    "forced_transfer": ("가족 전체가 강제 이주", "banished with the whole family"),
    "forced_repatriation": ("중국에서 강제 북송", "forcibly repatriated from China"),
    "starvation": ("식량을 받지 못해 굶주림", "starved because no food was given"),
    "arrest": ("보위원에게 체포", "arrested by security officers"),
    "detention": ("구류장에 구금", "held in detention"),
    "torture": ("조사 과정에서 구타와 고문", "subjected to beatings and torture in interrogation"),
    "sexual_violence": ("구금 중 성폭력", "subjected to sexual violence in custody"),
    "forced_abortion": ("강제 낙태", "forced to undergo an abortion"),
    "forced_labour": ("강제 노동", "made to do forced labour"),
    "killing": ("구금 중 사망", "killed in custody"),
    "public_execution": ("공개 처형", "publicly executed"),
    "family_punishment": ("연좌제로 가족이 처벌", "punished for a relative's deeds"),
    "disappearance": ("행방불명", "disappeared without trace"),
    "abduction": ("납치", "abducted"),
}
INSTITUTION_WORDS = {
    "mss": ("보위부", "the State Security (bowibu)"),
    "mps": ("안전부", "the Social Security police (anjeonbu)"),
    "kpa": ("인민군 군인들", "soldiers of the Korean People's Army"),
    "prosecutor": ("검찰소", "the public prosecutor's office"),
    "court": ("재판소", "the court"),
    "wpk": ("당 간부들", "officials of the Workers' Party"),
    "other": ("규찰대", "a patrol unit"),
}
RELATIVES = (
    ("어머니", "my mother"),
    ("아버지", "my father"),
    ("남동생", "my younger brother"),
    ("언니", "my elder sister"),
    ("남편", "my husband"),
    ("딸", "my daughter"),
    ("이웃", "a neighbour"),
    ("친구", "a friend"),
)

KO_EVENT = (
    "{year}년 {month}월에 {place}에서 {inst}에 의해 {act} 사건이 있었습니다.",
    "그때 {relative}도 함께 {place}에 있었는데 {inst}에서 사람들이 찾아왔습니다.",
    "{place}에서 있었던 {act} 사건의 피해자는 {person}(이)라고 불리던 사람입니다.",
    "{inst} 조사실에서 며칠 동안 잠을 재우지 않았습니다.",
    "{facility}로 끌려간 사람들은 다시 돌아오지 못했다고 들었습니다.",
    "{year}년 겨울 {facility}에서 {act} 사건이 있었다는 소문이 돌았습니다.",
    "{person}, 그 사람은 {place} 출신이었고 {inst}에 끌려간 뒤 소식이 끊겼습니다.",
    "{relative}도 {facility}에 있었다는 것을 나중에 알게 되었습니다.",
    "{inst} 간부가 {relative}에게 자백서를 쓰라고 강요했습니다.",
    "{place} 장마당에서 {act} 장면을 모든 주민이 보도록 했습니다.",
    "{town}에서 {place}까지 걸어서 사흘이 걸렸습니다.",
    "{china}에서 붙잡혀 {place}의 집결소로 넘겨졌습니다.",
    "{facility} 안에서는 하루에 옥수수 몇 알만 주었습니다.",
    "{inst}에서 나온 사람은 계급장이 없는 옷을 입고 있었습니다.",
    "{person}, {person2} 두 사람은 같은 감방에 있었습니다.",
)
KO_FILLER = (
    "그 무렵에는 배급이 거의 끊겨서 장사를 하지 않으면 살 수 없었습니다.",
    "우리 집은 강가에서 가까운 작은 마을에 있었습니다.",
    "겨울이 되면 땔감을 구하러 산에 올라가야 했습니다.",
    "아침마다 인민반장이 집집마다 돌아다니며 사람 수를 확인했습니다.",
    "학교를 마친 뒤에는 농촌 동원에 나가 모내기를 했습니다.",
    "밤에는 전기가 들어오지 않아서 일찍 잠자리에 들었습니다.",
    "시장에서는 쌀 한 킬로그램 값이 하루가 다르게 올랐습니다.",
    "그 일이 있은 뒤로 이웃들은 서로 말을 아꼈습니다.",
    "기억이 정확하지 않은 부분도 있지만 본 대로 말씀드리겠습니다.",
    "그때 일을 생각하면 지금도 잠을 이루기 어렵습니다.",
    "국경 경비대는 밤마다 강변을 순찰했습니다.",
    "생활총화 시간에는 서로의 잘못을 비판해야 했습니다.",
    "장사를 하려면 단속을 피해 새벽에 길을 나서야 했습니다.",
    "친척 중 한 사람이 중국에서 돈을 보내 주기도 했습니다.",
    "그 뒤로 가족은 여러 번 이사를 다녀야 했습니다.",
    "몸이 약한 사람들은 겨울을 넘기지 못했습니다.",
)
EN_EVENT = (
    "In {month_name} {year} at {place_en}, {inst_en} came and people were {act_en}.",
    "I was in {place_en} with {relative_en} when men from {inst_en} arrived.",
    "The one who was {act_en} in {place_en} was known to us as {person_en}.",
    "At {inst_en} they kept us awake for days during questioning.",
    "People taken to {facility_en} never came back, I was told.",
    "In the winter of {year} we heard that people in {facility_en} were {act_en}.",
    "{person_en} came from {place_en} and was never heard of again after {inst_en} took them.",
    "Only later did I learn that {relative_en} had been held in {facility_en}.",
    "An officer of {inst_en} forced {relative_en} to write a confession.",
    "In the market of {place_en} everyone was made to watch as people were {act_en}.",
    "It took three days on foot to get from {town_en} to {place_en}.",
    "I was caught in {china_en} and handed over to the holding centre in {place_en}.",
    "Inside {facility_en} they gave us only a few grains of corn a day.",
    "The man from {inst_en} wore clothes without any insignia.",
    "{person_en} and {person2_en} were in the same cell.",
)
EN_FILLER = (
    "By then the rations had all but stopped, and without trading in the market nobody could live.",
    "Our house stood in a small village not far from the river.",
    "In winter we had to climb the hills to gather firewood.",
    "Every morning the head of the people's unit went from house to house counting heads.",
    "After school we were sent to the farms to plant rice.",
    "There was no electricity at night, so we went to bed early.",
    "The price of a kilogram of rice in the market rose from one day to the next.",
    "After that the neighbours were careful about what they said to each other.",
    "I may not remember every detail exactly, but I will tell you what I saw.",
    "When I think of those days I still cannot sleep.",
    "Border guards patrolled the riverbank every night.",
    "At the weekly criticism sessions we had to point out each other's faults.",
    "To trade we had to leave before dawn to avoid the inspections.",
    "A relative in China sometimes sent us money.",
    "After that the family had to move house several times.",
    "Those who were weak did not live through the winter.",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class Spot:
    """A gazetteer place as the text names it."""

    place_id: int
    kind: str
    ko: str
    en: str


@dataclass
class Counts:
    testimonies: int = 0
    incidents: int = 0
    acts: int = 0
    individuals: int = 0
    indexed: int = 0


@dataclass
class Draft:
    """One testimony before it is written: its row and its coding."""

    testimony: Testimony
    incidents: list[tuple[Incident, list[Act]]] = field(default_factory=list)
    victims: list[Individual] = field(default_factory=list)
    perpetrators: list[Individual] = field(default_factory=list)


def ensure_gazetteer() -> None:
    """The shipped places, loaded again if a test flush has emptied the table."""
    if not Place.objects.exists():
        module = importlib.import_module(
            "saebom.testimony.migrations.0004_places_and_append_only_history"
        )
        module.load_places(django_apps, None)


def _short_ko(name: str) -> str:
    """요덕군 -> 요덕, 청진시 -> 청진; provinces keep their names (함경북도)."""
    return name[:-1] if len(name) > 2 and name[-1] in "군시" else name


def gazetteer_spots() -> tuple[list[Spot], list[Spot]]:
    """(places, facilities) of the gazetteer, named as a witness would say them."""
    places, facilities = [], []
    for place in Place.objects.select_related("parent").order_by("pk"):
        if place.kind == "facility":
            town = place.parent.name_ko if place.parent else place.name_ko
            town_en = place.parent.name_en if place.parent else place.name_en
            number = place.facility_number
            ko = f"{_short_ko(town)}수용소(제{number}호 관리소)" if number else place.name_ko
            en = f"the {town_en} camp (Kwanliso No. {number})" if number else place.name_en
            facilities.append(Spot(place.pk, place.kind, ko, en))
        else:
            places.append(Spot(place.pk, place.kind, _short_ko(place.name_ko), place.name_en))
    return places, facilities


class Writer:
    """Draws testimonies from one seeded random generator."""

    def __init__(self, seed: int, agencies: Sequence[Agency], weights: Sequence[int]) -> None:
        self.rng = random.Random(seed)
        self.agencies = list(agencies)
        self.weights = list(weights)
        self.places, self.facilities = gazetteer_spots()
        self.codes = act_types()
        self.serial = 0
        self.today = timezone.localdate()

    def pick(self, weights: Mapping[str, int]) -> str:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def person(self) -> str:
        return f"K-{self.rng.randrange(10_000):04d}"

    def draft(self) -> Draft:
        rng = self.rng
        self.serial += 1
        language = self.pick(LANGUAGES)
        scope = self.pick(SCOPES)
        last = min(LAST_INTERVIEW, self.today)
        interview = FIRST_INTERVIEW + timedelta(rng.randrange((last - FIRST_INTERVIEW).days))
        given = interview + timedelta(rng.randrange(3))
        withdrawn = (
            min(given + timedelta(rng.randrange(30, 900)), self.today)
            if rng.random() < WITHDRAWN_SHARE
            else None
        )
        testimony = Testimony(
            public_id=new_testimony_id(),
            agency=rng.choices(self.agencies, self.weights)[0],
            is_synthetic=True,
            witness_identity=f"합성 증인 / Synthetic witness W-{self.serial:06d}",
            witness_sex=rng.choice("FFFM"),
            interview_date=interview,
            interview_place="합성 면담 장소 / Synthetic interview room",
            language=language,
            consent_scope=scope,
            consent_mechanisms=rng.sample(MECHANISMS, 2)
            if scope == Testimony.Scope.SHARE_WITH_MECHANISMS
            else [],
            consent_given_on=given,
            consent_withdrawn_on=withdrawn,
            sealed_at=None,
        )
        draft = Draft(testimony)
        self.code(draft, interview)
        testimony.transcript = self.transcript(draft, language)
        testimony.summary = self.summary(draft, language)
        return draft

    def code(self, draft: Draft, interview: date) -> None:
        rng = self.rng
        draft.victims = [
            Individual(role="victim", name=f"가상인물 {self.person()}", sex=rng.choice("FM"))
            for _ in range(rng.randint(1, 3))
        ]
        draft.perpetrators = [
            Individual(
                role="perpetrator",
                name=f"가상인물 {self.person()}",
                sex="M",
                institution=self.pick(INSTITUTIONS),
                unit=f"합성 부대 {rng.randint(1, 99)} / Synthetic unit {rng.randint(1, 99)}",
            )
            for _ in range(rng.randint(0, 2))
        ]
        for _ in range(rng.choices((1, 2, 3), (55, 33, 12))[0]):
            start = date(rng.randint(1995, min(2023, interview.year)), rng.randint(1, 12), 1)
            place = rng.choice(self.places) if rng.random() < 0.9 else None
            incident = Incident(
                date_start=min(start, interview),
                date_precision=rng.choice(("year", "month", "month", "day")),
                place_id=place.place_id if place else None,
            )
            acts = []
            for _ in range(rng.choices((1, 2, 3), (50, 35, 15))[0]):
                act_type = self.pick(ACT_WEIGHTS)
                at = rng.choice(self.facilities) if rng.random() < 0.25 else place
                acts.append(
                    Act(
                        act_type=act_type,
                        coi_category=self.codes[act_type].coi_category,
                        place_id=at.place_id if at else None,
                        connection=rng.choice(("experienced", "witnessed", "heard")),
                        reliability=rng.choice("abbcf"),
                        credibility=rng.choice("12233"),
                    )
                )
            draft.incidents.append((incident, acts))

    def _slots(self, draft: Draft) -> dict[str, str]:
        rng = self.rng
        incident, acts = rng.choice(draft.incidents)
        act = rng.choice(acts)
        place = self._spot(incident.place_id) or rng.choice(self.places)
        facility = self._spot(act.place_id, facility=True) or rng.choice(self.facilities)
        institution = (
            rng.choice(draft.perpetrators).institution
            if draft.perpetrators
            else self.pick(INSTITUTIONS)
        )
        town, china, relative = rng.choice(TOWNS), rng.choice(CHINA), rng.choice(RELATIVES)
        year = incident.date_start.year if incident.date_start else rng.randint(1995, 2020)
        month = rng.randint(1, 12)
        return {
            "year": str(year),
            "month": str(month),
            "month_name": MONTHS[month - 1],
            "place": place.ko,
            "place_en": place.en,
            "facility": facility.ko,
            "facility_en": facility.en,
            "inst": INSTITUTION_WORDS[institution][0],
            "inst_en": INSTITUTION_WORDS[institution][1],
            "act": ACT_WORDS[act.act_type][0],
            "act_en": ACT_WORDS[act.act_type][1],
            "person": f"가상인물 {self.person()}",
            "person2": f"가상인물 {self.person()}",
            "person_en": f"Person {self.person()}",
            "person2_en": f"Person {self.person()}",
            "relative": relative[0],
            "relative_en": relative[1],
            "town": town[0],
            "town_en": town[1],
            "china": china[0],
            "china_en": china[1],
        }

    def _spot(self, place_id: int | None, facility: bool = False) -> Spot | None:
        if place_id is None:
            return None
        for spot in self.facilities if facility else self.places:
            if spot.place_id == place_id:
                return spot
        return None

    def transcript(self, draft: Draft, language: str) -> str:
        events, filler = (KO_EVENT, KO_FILLER) if language == "ko" else (EN_EVENT, EN_FILLER)
        opening = (
            f"{MARK} 이 녹취록은 합성 자료입니다. "
            if language == "ko"
            else f"{MARK} This transcript is synthetic. "
        )
        parts, length = [opening], len(opening)
        while length < TEXT_CHARS:
            if self.rng.random() < 0.55:
                sentence = self.rng.choice(events).format(**self._slots(draft)) + " "
            else:
                sentence = self.rng.choice(filler) + " "
            parts.append(sentence)
            length += len(sentence)
        return "".join(parts).strip()

    def summary(self, draft: Draft, language: str) -> str:
        incident, acts = draft.incidents[0]
        place = self._spot(incident.place_id)
        facility = next(
            (s for a in acts if (s := self._spot(a.place_id, facility=True)) is not None), None
        )
        year = incident.date_start.year if incident.date_start else None
        if language == "ko":
            what = ", ".join(ACT_WORDS[a.act_type][0] for a in acts)
            where = " ".join(s.ko for s in (place, facility) if s)
            return f"{MARK} {year}년 {where} 관련 증언: {what}.".replace("  ", " ")
        what = "; ".join(ACT_WORDS[a.act_type][1] for a in acts)
        where = ", ".join(s.en for s in (place, facility) if s) or "an unnamed place"
        return f"{MARK} Testimony about {where} in {year}: people were {what}."


def _write(drafts: Sequence[Draft], history: bool) -> Counts:
    """The drafts' rows, in bulk, in the caller's transaction."""
    rows = [d.testimony for d in drafts]
    if history:
        bulk_create_with_history(rows, Testimony, batch_size=500)
    else:
        Testimony.objects.bulk_create(rows, batch_size=500)
    ConsentEvent.objects.bulk_create(_consents(drafts), batch_size=1000)
    individuals = []
    for draft in drafts:
        for person in (*draft.victims, *draft.perpetrators):
            person.testimony = draft.testimony
            individuals.append(person)
    Individual.objects.bulk_create(individuals, batch_size=1000)
    incidents = []
    for draft in drafts:
        for incident, _acts in draft.incidents:
            incident.testimony = draft.testimony
            incidents.append(incident)
    Incident.objects.bulk_create(incidents, batch_size=1000)
    acts = []
    for draft in drafts:
        for incident, incident_acts in draft.incidents:
            for act in incident_acts:
                act.incident = incident
                acts.append(act)
    Act.objects.bulk_create(acts, batch_size=1000)
    _link(drafts)
    return Counts(len(rows), len(incidents), len(acts), len(individuals))


def _consents(drafts: Sequence[Draft]) -> list[ConsentEvent]:
    events = []
    for draft in drafts:
        t = draft.testimony
        events.append(
            ConsentEvent(
                testimony=t,
                kind=ConsentEvent.Kind.GIVEN,
                scope=t.consent_scope,
                mechanisms=t.consent_mechanisms,
                effective_on=t.consent_given_on,
            )
        )
        if t.consent_withdrawn_on:
            events.append(
                ConsentEvent(
                    testimony=t,
                    kind=ConsentEvent.Kind.WITHDRAWN,
                    scope=t.consent_scope,
                    effective_on=t.consent_withdrawn_on,
                )
            )
    return events


def _link(drafts: Sequence[Draft]) -> None:
    """Victims of each act (the testimony's first victim) and perpetrators' involvement."""
    victims, involvements = [], []
    for draft in drafts:
        for _incident, acts in draft.incidents:
            for act in acts:
                victims.append(
                    Act.victims.through(act_id=act.pk, individual_id=draft.victims[0].pk)
                )
                involvements += [
                    Involvement(act=act, perpetrator=p, degree="direct") for p in draft.perpetrators
                ]
    Act.victims.through.objects.bulk_create(victims, batch_size=2000)
    Involvement.objects.bulk_create(involvements, batch_size=2000)


def testimonies_bulk_create(
    *,
    agencies: Sequence[Agency],
    count: int,
    seed: int,
    weights: Sequence[int] | None = None,
    history: bool = True,
    chunk: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> Counts:
    """``count`` synthetic testimonies spread over ``agencies`` (by ``weights``), written and
    indexed a chunk at a time, each chunk in its own transaction. ``history=False`` skips the
    history rows (the benchmark's hundred thousand testimonies)."""
    ensure_gazetteer()
    writer = Writer(seed, agencies, weights or [1] * len(agencies))
    total = Counts()
    hashers: dict[int, search.TokenHasher] = {}
    while total.testimonies < count:
        drafts = [writer.draft() for _ in range(min(chunk, count - total.testimonies))]
        with transaction.atomic():
            counts = _write(drafts, history)
            rows = [d.testimony for d in drafts]
            total.indexed += search.write_entries(search.entries(rows, hashers))
        total.testimonies += counts.testimonies
        total.incidents += counts.incidents
        total.acts += counts.acts
        total.individuals += counts.individuals
        if progress:
            progress(total.testimonies)
    return total


def demo_testimonies_load(
    agency: Agency, n: int, *, seed: int = 6, actor: Actor | None = None
) -> int:
    """``n`` synthetic testimonies for the agency, once (a re-run keeps the first ones)."""
    if Testimony.objects.filter(agency=agency, is_synthetic=True).exists():
        return 0
    actor = actor or system_actor()
    with transaction.atomic():
        counts = testimonies_bulk_create(agencies=[agency], count=n, seed=seed)
        audit_record(
            actor=actor,
            action="import",
            object_type="testimony",
            agency_code=agency.code,
            detail={"synthetic": True, "seed": seed, "created": counts.testimonies},
        )
    return counts.testimonies
