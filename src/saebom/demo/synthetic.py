"""Synthetic arrivals calibrated to the Ministry of Unification's published figures.

Counts by year and sex equal the official series exactly. Age at entry, occupation, education and
reasons are dealt out by quota (largest remainder) from the Ministry's cumulative shares, so they
match within a fraction of a percentage point; 2023 follows its published profile. Nothing here
describes a real person: names are drawn from common name parts, and every record is flagged
synthetic. The same seed gives the same data.
"""

from __future__ import annotations

import csv
import datetime
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from saebom.registry.interchange import ArrivalData, PartialDate
from saebom.registry.models import Precision
from saebom.registry.official import SHIPPED_SERIES, parse_series

DATA = Path(__file__).parent / "data"

AGE_GROUPS = {
    "0-9": (0, 9),
    "10-19": (10, 19),
    "20-29": (20, 29),
    "30-39": (30, 39),
    "40-49": (40, 49),
    "50-59": (50, 59),
    "60+": (60, 74),
}
# Shares not published cumulatively: set from MoU remarks (border provinces over 75%).
PROVINCE_WEIGHTS = {
    "north_hamgyong": 600,
    "ryanggang": 170,
    "south_hamgyong": 80,
    "south_pyongan": 40,
    "north_pyongan": 30,
    "jagang": 12,
    "kangwon": 15,
    "south_hwanghae": 10,
    "north_hwanghae": 10,
    "pyongyang": 25,
    "nampo": 3,
    "kaesong": 2,
    "rason": 3,
}
# 2023 (MoU briefing 2024-01-18): 196 arrivals, 25 from Pyongyang, about 70% Ryanggang/Hamgyong.
PROVINCES_2023 = {
    "ryanggang": 62,
    "north_hamgyong": 55,
    "south_hamgyong": 21,
    "pyongyang": 25,
    "south_pyongan": 12,
    "north_pyongan": 9,
    "jagang": 4,
    "kangwon": 4,
    "south_hwanghae": 2,
    "north_hwanghae": 2,
}
AGES_2023 = {"0-9": 6, "10-19": 14, "20-29": 51, "30-39": 48, "40-49": 45, "50-59": 22, "60+": 10}
OCCUPATIONS_2023 = {
    "worker": 48,
    "unemployed_dependent": 97,
    "service": 12,
    "professional": 9,
    "managerial": 8,
    "military": 5,
    "arts_sports": 3,
    "not_applicable": 14,
}
EDUCATION_2023 = {
    "secondary": 141,
    "college": 18,
    "university": 14,
    "primary": 12,
    "preschool": 5,
    "kindergarten": 2,
    "none": 3,
    "unknown": 1,
}
ELITE_BY_YEAR = {
    2023: 10,
    2024: 7,
    2025: 5,
    2016: 4,
    2017: 5,
    2018: 2,
    2019: 3,
    2014: 2,
    2011: 2,
    2008: 1,
    2004: 1,
    1997: 2,
}
ELITE_CATEGORIES = ("diplomat", "overseas_staff", "student_abroad", "official", "military_officer")
ROUTE_WEIGHTS = {"via_china": 955, "via_russia": 15, "sea": 15, "dmz": 5, "other": 10}
TRANSIT_ROUTES = (
    ("CN", "LA", "TH"),
    ("CN", "VN", "KH"),
    ("CN", "MN"),
    ("CN", "TH"),
    ("CN",),
    ("CN", "LA", "TH"),
    ("CN", "MM", "TH"),
)
EARLY_YEARS = tuple(range(1990, 1999))
DIRECT_2023 = (
    9  # "fewer than 10 came directly" in 2023  # "~1998" is spread over these, more in later years
)

SURNAMES = (
    ("김", "Kim", 215),
    ("리", "Ri", 80),
    ("이", "Lee", 60),
    ("박", "Pak", 84),
    ("최", "Choe", 47),
    ("정", "Jong", 44),
    ("강", "Kang", 23),
    ("조", "Jo", 21),
    ("윤", "Yun", 20),
    ("장", "Jang", 20),
    ("림", "Rim", 12),
    ("임", "Im", 8),
    ("한", "Han", 15),
    ("오", "O", 8),
    ("서", "So", 8),
    ("신", "Sin", 7),
    ("권", "Kwon", 7),
    ("황", "Hwang", 7),
    ("안", "An", 7),
    ("송", "Song", 7),
    ("류", "Ryu", 6),
    ("전", "Jon", 6),
    ("홍", "Hong", 6),
    ("고", "Ko", 5),
    ("문", "Mun", 5),
    ("량", "Ryang", 4),
    ("로", "Ro", 3),
)
GIVEN_SYLLABLES = (
    ("영", "yong"),
    ("철", "chol"),
    ("명", "myong"),
    ("성", "song"),
    ("순", "sun"),
    ("옥", "ok"),
    ("희", "hui"),
    ("금", "kum"),
    ("혁", "hyok"),
    ("남", "nam"),
    ("수", "su"),
    ("경", "kyong"),
    ("정", "jong"),
    ("현", "hyon"),
    ("미", "mi"),
    ("련", "ryon"),
    ("광", "kwang"),
    ("일", "il"),
    ("춘", "chun"),
    ("향", "hyang"),
    ("진", "jin"),
    ("주", "ju"),
    ("은", "un"),
    ("혜", "hye"),
    ("화", "hwa"),
    ("국", "kuk"),
    ("림", "rim"),
)


@dataclass(frozen=True)
class YearRow:
    first_year: int
    last_year: int
    male: int
    female: int


def official_rows() -> list[YearRow]:
    parsed = parse_series(SHIPPED_SERIES.read_bytes())
    return [
        YearRow(r.first_year or EARLY_YEARS[0], r.last_year, r.male, r.female) for r in parsed.rows
    ]


def cumulative_shares(dimension: str) -> dict[str, int]:
    with (DATA / "mou-profile-cumulative-2022.csv").open(encoding="utf-8") as stream:
        rows = [row for row in csv.DictReader(line for line in stream if not line.startswith("#"))]
    return {row["code"]: int(row["count"]) for row in rows if row["dimension"] == dimension}


def reason_shares() -> dict[str, int]:
    with (DATA / "mou-reasons-c2015.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(line for line in stream if not line.startswith("#")))
    return {row["code"]: int(row["count"]) for row in rows}


def quotas(weights: Mapping[str, int], total: int) -> list[str]:
    """``total`` labels in exact proportion to ``weights`` (largest remainder), in weight order."""
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for key in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[
        : total - sum(counts.values())
    ]:
        counts[key] += 1
    return [key for key, count in counts.items() for _ in range(count)]


@dataclass
class Draft:
    year: int
    sex: str
    age_group: str = ""
    occupation: str = ""
    education: str = ""
    province: str = ""
    reason: str = ""
    elite: str = "none"


def drafts(rows: Sequence[YearRow], rng: random.Random) -> list[Draft]:
    """One draft per official arrival, years spread inside grouped periods."""
    result: list[Draft] = []
    for row in rows:
        years = list(range(row.first_year, row.last_year + 1))
        weights = [n for n, _ in enumerate(years, 1)]  # later years of a group weigh more
        for sex, count in (("M", row.male), ("F", row.female)):
            result += [Draft(year=y, sex=sex) for y in rng.choices(years, weights, k=count)]
    return result


def deal(items: Sequence[Draft], attribute: str, labels: list[str], rng: random.Random) -> None:
    labels = labels[:]
    rng.shuffle(labels)
    for item, label in zip(items, labels, strict=True):
        setattr(item, attribute, label)


def deal_by_age(
    items: Sequence[Draft],
    attribute: str,
    labels: list[str],
    youngest_first: Sequence[str],
    rng: random.Random,
) -> None:
    """Children's categories (pre-school, not applicable) go to the youngest, the rest at random."""
    ordered = sorted(items, key=lambda d: (list(AGE_GROUPS).index(d.age_group), rng.random()))
    young = [label for code in youngest_first for label in labels if label == code]
    rest = [label for label in labels if label not in youngest_first]
    rng.shuffle(rest)
    for item, label in zip(ordered, young + rest, strict=True):
        setattr(item, attribute, label)


def calibrate(items: list[Draft], rng: random.Random) -> None:
    recent = [d for d in items if d.year == 2023]
    others = [d for d in items if d.year != 2023]
    deal(others, "age_group", quotas(cumulative_shares("age_at_entry"), len(others)), rng)
    deal(recent, "age_group", quotas(AGES_2023, len(recent)), rng)
    children = ("not_applicable",)
    deal_by_age(
        others, "occupation", quotas(cumulative_shares("occupation"), len(others)), children, rng
    )
    deal_by_age(recent, "occupation", quotas(OCCUPATIONS_2023, len(recent)), children, rng)
    schooling = ("preschool", "kindergarten", "primary")
    deal_by_age(
        others, "education", quotas(cumulative_shares("education"), len(others)), schooling, rng
    )
    deal_by_age(recent, "education", quotas(EDUCATION_2023, len(recent)), schooling, rng)
    deal(others, "province", quotas(PROVINCE_WEIGHTS, len(others)), rng)
    deal(recent, "province", quotas(PROVINCES_2023, len(recent)), rng)
    deal(items, "reason", quotas(reason_shares(), len(items)), rng)
    for year, count in ELITE_BY_YEAR.items():
        adults = [d for d in items if d.year == year and d.age_group not in ("0-9", "10-19")]
        for draft in rng.sample(adults, min(count, len(adults))):
            draft.elite = rng.choice(ELITE_CATEGORIES)


class NameMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.surname_weights = [w for *_, w in SURNAMES]

    def make(self) -> tuple[str, str]:
        surname_ko, surname_en, _ = self.rng.choices(SURNAMES, self.surname_weights)[0]
        first, second = self.rng.sample(GIVEN_SYLLABLES, 2)
        return (
            f"{surname_ko}{first[0]}{second[0]}",
            f"{surname_en} {first[1].capitalize()}-{second[1]}",
        )


def arrival_date(year: int, rng: random.Random) -> PartialDate:
    day = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randrange(365))
    if year < 2002:
        return PartialDate(datetime.date(year, 1, 1), Precision.YEAR)
    if year < 2010:
        return PartialDate(day.replace(day=1), Precision.MONTH)
    return PartialDate(day, Precision.DAY)


def years_abroad(draft: Draft, rng: random.Random, direct_2023: list[int]) -> int:
    if draft.year == 2023:
        if direct_2023[0] > 0:  # fewer than 10 came directly in 2023
            direct_2023[0] -= 1
            return 0
        return rng.randint(4, 18)
    if draft.year >= 2020:
        return rng.randint(2, 15)
    if draft.year < 2005:
        return rng.choices((0, 1, 2, 3), (40, 35, 15, 10))[0]
    return rng.choices((0, 1, 2, 3, 5, 8), (30, 30, 15, 10, 10, 5))[0]


def build(
    draft: Draft, number: int, rng: random.Random, names: NameMaker, direct: list[int]
) -> ArrivalData:
    low, high = AGE_GROUPS[draft.age_group]
    birth_year = draft.year - rng.randint(low, high)
    born = datetime.date(birth_year, 1, 1) + datetime.timedelta(days=rng.randrange(365))
    arrived = arrival_date(draft.year, rng)
    if born > arrived.value:
        born = arrived.value
        birth_year = born.year
    abroad = years_abroad(draft, rng, direct)
    left = PartialDate(datetime.date(max(draft.year - abroad, birth_year), 1, 1), Precision.YEAR)
    route = rng.choices(list(ROUTE_WEIGHTS), list(ROUTE_WEIGHTS.values()))[0]
    transits: list[str] = []
    if draft.year == 2023:  # direct arrivals came by sea; the rest after years in China
        route = "sea" if abroad == 0 else "via_china"
    if route == "sea":
        transits = []
    elif draft.elite != "none":
        route, transits = "other", []
    elif route == "via_china":
        transits = list(rng.choice(TRANSIT_ROUTES))
    elif route == "via_russia":
        transits = ["RU"]
    else:
        transits = []
    name_ko, name_en = names.make()
    return ArrivalData(
        record_id=f"DEMO-{draft.year}-{number:05d}",
        arrival=arrived,
        sex=draft.sex,
        birth_year=birth_year,
        origin_province=draft.province,
        occupation=draft.occupation,
        education=draft.education,
        elite_category=draft.elite,
        left_north=left,
        transit_countries=transits,
        route=route,
        reasons=[draft.reason],
        protection="intelligence_service" if draft.elite != "none" else "hanawon",
        name_ko=name_ko,
        name_en=name_en,
        date_of_birth=born,
    )


def synthetic_arrivals(seed: int) -> list[ArrivalData]:
    rng = random.Random(seed)
    items = drafts(official_rows(), rng)
    calibrate(items, rng)
    items.sort(key=lambda d: (d.year, d.sex))
    names, direct = NameMaker(rng), [DIRECT_2023]
    return [build(draft, n, rng, names, direct) for n, draft in enumerate(items, 1)]
