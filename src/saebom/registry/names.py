"""Name keys for duplicate detection: one key for the Northern and Southern spelling of a name.

The same person is often written differently on each side of the border. In the North a name
keeps its initial ㄹ or ㄴ (리, 림, 류, 량, 로, 녀); the South applies the initial-sound rule
(두음법칙: 이, 임, 유, 양, 노, 여). Romanised surnames vary the same way (Ri, Rhee, Lee, Yi).
The keys fold those differences, plus spacing and case; they are only ever used through a blind
index, to warn an intake officer, never to merge records by themselves.
"""

from __future__ import annotations

import re
import unicodedata

from saebom.core.normalize import normalise_text

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
JUNGSEONG_COUNT, JONGSEONG_COUNT = 21, 28
RIEUL, NIEUN, IEUNG = 5, 2, 11  # initial consonant indexes of ㄹ, ㄴ, ㅇ
# Vowels (ㅑ ㅒ ㅕ ㅖ ㅛ ㅠ ㅣ) before which an initial ㄹ or ㄴ becomes ㅇ;
# before the others ㄹ becomes ㄴ.
Y_OR_I_VOWELS = frozenset({2, 3, 6, 7, 12, 17, 20})


def _syllable_parts(char: str) -> tuple[int, int, int] | None:
    code = ord(char)
    if not HANGUL_FIRST <= code <= HANGUL_LAST:
        return None
    offset = code - HANGUL_FIRST
    initial, rest = divmod(offset, JUNGSEONG_COUNT * JONGSEONG_COUNT)
    vowel, final = divmod(rest, JONGSEONG_COUNT)
    return initial, vowel, final


def southern_initial(char: str) -> str:
    """The syllable as the South writes it at the start of a word (리 → 이, 로 → 노, 녀 → 여)."""
    parts = _syllable_parts(char)
    if parts is None:
        return char
    initial, vowel, final = parts
    if initial == RIEUL:
        initial = IEUNG if vowel in Y_OR_I_VOWELS else NIEUN
    elif initial == NIEUN and vowel in Y_OR_I_VOWELS:
        initial = IEUNG
    code = HANGUL_FIRST + (initial * JUNGSEONG_COUNT + vowel) * JONGSEONG_COUNT + final
    return chr(code)


def korean_name_key(name: object, birth_year: object = None) -> str:
    """Surname and given name each start with their Southern form; spaces and case go.

    Without spaces, a Hangul name of two or more syllables is read as a one-syllable surname
    followed by the given name.
    """
    text = unicodedata.normalize("NFC", normalise_text(str(name)))
    words = text.split(" ")
    if len(words) == 1 and len(text) >= 2 and _syllable_parts(text[0]) and _syllable_parts(text[1]):
        words = [text[0], text[1:]]
    folded = "".join(southern_initial(word[0]) + word[1:] for word in words if word)
    return _with_year(folded, birth_year) if folded else ""


SURNAME_VARIANTS: dict[str, tuple[str, ...]] = {
    "lee": ("lee", "ri", "rhee", "rhie", "yi", "i", "li", "rih"),
    "kim": ("kim", "gim", "kym"),
    "park": ("park", "pak", "bak", "bahk", "pack"),
    "choi": ("choi", "choe", "chwe", "choy"),
    "jeong": ("jeong", "jung", "chung", "jong", "chong", "cheong"),
    "yu": ("yu", "yoo", "ryu", "ryoo", "rew", "yoh"),
    "im": ("im", "lim", "rim", "yim"),
    "yang": ("yang", "ryang"),
    "no": ("no", "noh", "ro", "roh"),
    "yeo": ("yeo", "yo", "ryeo", "ryo"),
    "yeom": ("yeom", "yom", "ryom", "ryeom"),
    "cho": ("cho", "jo", "joh", "tcho"),
    "kang": ("kang", "gang"),
    "ko": ("ko", "go", "koh"),
    "gwon": ("gwon", "kwon", "kwun"),
    "sin": ("sin", "shin", "shinn"),
    "an": ("an", "ahn"),
    "o": ("o", "oh"),
    "yun": ("yun", "yoon"),
    "mun": ("mun", "moon"),
    "son": ("son", "sohn"),
    "jang": ("jang", "chang"),
    "han": ("han", "hahn"),
    "hwang": ("hwang", "whang"),
    "seo": ("seo", "so", "suh", "sur"),
}
_CANONICAL_SURNAME = {
    variant: canon for canon, variants in SURNAME_VARIANTS.items() for variant in variants
}
_NOT_LETTERS = re.compile(r"[^a-z ]+")


def romanised_name_key(name: object, birth_year: object = None) -> str:
    """Surname variants folded (Ri/Rhee/Lee/Yi → lee); hyphens, spaces and case ignored."""
    ascii_only = unicodedata.normalize("NFKD", normalise_text(str(name)))
    letters = _NOT_LETTERS.sub("", ascii_only.replace("-", "")).split()
    if not letters:
        return ""  # nothing to compare: no index, rather than one that matches everyone
    surname, given = letters[0], "".join(letters[1:])
    return _with_year(f"{_CANONICAL_SURNAME.get(surname, surname)} {given}", birth_year)


def _with_year(key: str, birth_year: object) -> str:
    return key if birth_year in (None, "") else f"{key}\x1f{birth_year}"
