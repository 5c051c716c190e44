"""Text normalisation per language (numbers, dates, times, currency,
abbreviations), for the languages the built-in engine speaks.

:func:`normalize_for` rewrites what a grapheme-to-phoneme frontend (espeak-ng
for these languages) reads badly into plain words of the text's language.
English (``en``) is exactly :func:`voicecast.textnorm.normalize`; Spanish
(``es``), French (``fr``), Italian (``it``), Portuguese (``pt``, read as
Brazilian Portuguese whatever the region) and Hindi (``hi``) go through the
rules below. Cardinals and ordinals of es/fr/it/pt come from ``num2words``
(``es``, ``fr``, ``it``, ``pt_BR``), with the fixes listed per language; Hindi
has its own table (``num2words`` 0.5.14 has no Hindi), in Devanagari with the
Indian scales (सौ, हज़ार, लाख, करोड़). Any other language is a programming error
(the engine refuses languages before this): :class:`ValueError` naming it.

Shared by es/fr/it/pt/hi, in this order:

* typography as English does it (curly quotes and guillemets to straight
  quotes, ``...`` to ``…``, ``--``, em and en dashes to a spaced ``—``, odd
  spaces to plain ones), after joining digit groups split by a no-break, narrow
  no-break or thin space (``1 234 567``); the output is NFC;
* Devanagari digits (``०``-``९``) read as digits, in every language;
* numerals: es/fr/it/pt take ``.`` for thousands and ``,`` for decimals
  (``1.234,5``); a lone ``.`` that does not group thousands is a decimal point
  (``3.14``), and several commas grouping thousands are English style
  (``1,234,567``), so a lone ``1,234`` is a decimal ("uno coma doscientos treinta y
  cuatro"); es/fr/it/pt
  also group with a plain space (``10 000``: "5 100" is then one number); Hindi
  takes ``,`` for thousands in Indian or Western grouping (``1,23,456``) and
  ``.`` for decimals. Decimals read the fraction as a number after leading zeros
  (``3,05`` -> "tres coma cero cinco", ``3,14`` -> "tres coma catorce"), digit by
  digit past three digits; Hindi reads it digit by digit ("दशमलव एक चार").
  A run of separators that is not one number (``1,2,3``, ``192.168.0.1``) is read
  part by part. Leading zeros (``007``) and numbers over fifteen digits are read
  digit by digit; negatives (``-5``, ``−5``) take the language's minus word;
  ranges (``10-20``, ``10–20``, ``9:00-17:00``) read "a"/"à"/"a"/"a"/"से";
* dates ``dd/mm/yyyy`` (also with ``.`` or ``-``, and ``dd/mm/yy``) and ISO
  ``yyyy-mm-dd``, day first as these languages write them; years are cardinals in
  es/fr/it/pt ("mil novecientos noventa y nueve"); Hindi years from 1100 to 1999
  read in hundreds ("उन्नीस सौ सैंतालीस"), also for a bare four-digit number;
* clock times ``14:30`` (and ``14h30``/``14 h`` in es/fr/pt, ``alle 14.30`` in it);
* money: a symbol or code before or after the amount (``12,50 €``, ``€12.50``,
  ``$5``, ``US$ 5``, ``R$ 10,00``, ``₹500``, ``Rs. 500``, ``रु. 500``, ``10 EUR``),
  two-digit fractions as the subunit, an optional scale word after the amount
  ("5 millones €" -> "cinco millones de euros"); ``$`` is always dollars (a
  Mexican peso written ``$`` is read as dollars);
* percent (``50 %``, ``50%``), a few units (km, km/h, kg, cm, mm, °C, °F, °),
  symbols (``&``, ``+``, ``=``, ``×``, a leftover ``%``), markup characters dropped.

Known weak everywhere: phone numbers (``555-1234`` reads as a range), fractions
(``1/2`` stays), seconds (``14:30:15``), Roman numerals except French ordinals,
abbreviations outside the lists below. A plain count before its noun takes the
noun's gender in es, pt, it and fr ("1 casa" -> "una casa", "200 pessoas" ->
"duzentas pessoas", "21 pages" -> "vingt et une pages"): the gender is guessed
from the noun's ending and short lists of common nouns the ending gets wrong
(``_feminine_noun``); a noun they do not know keeps the masculine numeral.
Output is stable (normalising it again changes nothing, tested on ordinary
text; digits glued to letters, "470etc.", may still change).

Per language (what is chosen, and what is known weak):

* es: "21" -> "veintiuno", "21 años" -> "veintiún años" (apocope before a word
  that is not a function word, nor after a label noun as in "página 21 muestra";
  "1 casa" -> "una casa"), "21.000" -> "veintiún mil"
  (num2words says "veintiuno mil"),
  ordinals ``1.º``/``1º``/``1.ª``/``1.er``/``1.os`` -> "primero", "primera",
  "primer", "primeros" (11-19 as one word: "decimoprimero"); ``1°`` before a
  lower-case word is an ordinal ("el 1° de mayo"), otherwise degrees; dates
  "doce de marzo de dos mil veinticuatro" (day 1 "uno", as in Spain: Latin
  America says "primero"); times as RAE reads the 24-hour clock: "14:30" ->
  "catorce treinta", "14:05" -> "catorce cero cinco", "14:00" -> "catorce en
  punto", "14 h" -> "catorce horas", "1:15" -> "una quince", "a. m."/"p. m." ->
  "de la mañana"/"de la tarde"/"de la noche"; money "doce euros con cincuenta
  céntimos", "un dólar"; abbreviations Sr., Sra., Srta., Sres., Dr., Dra., Prof.,
  Profa., Lic., Ing., Ud., Uds., Dña., Av., Avda., pág., núm., nº, aprox., etc.,
  p. ej., EE. UU., a. C., d. C. Roman numerals ("siglo XXI") are left as written.
* fr: num2words' traditional spelling ("vingt et un", "quatre-vingts"); ordinals
  ``1er``/``1re``/``1ère``/``2e``/``2ème``/``2nd``/``2nde`` and plurals, and Roman
  numerals with an ordinal suffix (``XXIe siècle``, ``François Ier``); dates
  "douze mars deux mille vingt-quatre", day 1 "premier" ("le 1er mai", "1 mai");
  times "quatorze heures trente", "une heure", "vingt et une heures une" (hours
  and minutes feminine); money "douze euros et cinquante centimes", "un million
  d'euros"; singular below two ("1,5 kilomètre"); abbreviations M., MM., Mme,
  Mmes, Mlle, Mlles, Dr, Pr, St/Ste before a name, etc., p. ex., c.-à-d., cf.,
  env., av./apr. J.-C., n°, bd, av., Cie, tél.; "1 heure" -> "une heure".
* it: num2words' joined words ("duemilaventiquattro"); ordinals ``1°``/``1º``
  ("primo", before a lower-case word, else degrees) and ``1ª`` ("prima"); "1 libro"
  -> "un libro" ("uno" kept before s+consonant, z, gn, ps, x); dates "dodici marzo
  duemilaventiquattro", day 1 "primo"; times "quattordici e trenta", "quattordici"
  for ``14:00``, "una" for 1, and ``14.30`` only after ore/alle/dalle/alla/dalla/le;
  money "dodici euro e cinquanta centesimi", "un milione di euro"; abbreviations
  Sig., Sig.ra, Sig.na, Sigg., Dott., Dott.ssa, Prof., Prof.ssa, Avv., Ing., Arch.,
  Geom., On., ecc., ad es., p. es., pag., n., a.C., d.C., S.p.A.; "1 casa" -> "una
  casa" ("1 ora" -> "un ora", which sounds as the elided "un'ora").
* pt: Brazilian forms from num2words pt_BR ("dois mil e vinte e quatro",
  num2words' commas dropped); ordinals ``1º``/``1.º``/``1ª`` ("primeiro",
  "primeira") and ``1°`` as in es; dates "doze de março de dois mil e vinte e
  quatro", day 1 "primeiro"; times "catorze e trinta", "catorze horas" for
  ``14:00``/``14h``, "uma hora", "duas e quinze" (hours feminine); money "dez
  reais", "um real e cinquenta centavos", "duas libras"; abbreviations Sr., Sra.,
  Srta., Dr., Dra., Prof., Profa., Sto., Sta., Av., pág., nº, aprox., etc., p. ex.,
  a.C., d.C., Ltda., Cia., tel. European Portuguese (pt-PT) gets the Brazilian
  words ("dezasseis" is read "dezesseis"); "2 casas" -> "duas casas".
* hi: Devanagari words with Indian scales ("1,00,000" -> "एक लाख", 10^9 -> "एक सौ
  करोड़"; अरब/खरब are not used); ordinals with the gendered suffixes ``1ला``,
  ``2री``, ``5वाँ``/``5वां``, ``21वीं``, ``5वें`` -> "पहला", "दूसरी", "पाँचवाँ",
  "इक्कीसवीं", "पाँचवें"; dates "बारह मार्च दो हज़ार चौबीस"; times "चौदह बजकर तीस
  मिनट", "चौदह बजे"; money "पाँच सौ रुपये", "एक रुपया", "दस रुपये पचास पैसे";
  percent "प्रतिशत"; minus "माइनस"; abbreviations डॉ., प्रो., कु., स्व., पृ., नं., ई.पू.,
  ई. (after a number), कि.मी., कि.ग्रा. Hindi text mixing Latin abbreviations
  ("Dr.") is left to the frontend; the spelling of a few numbers varies in use
  (चवालीस/चौवालीस, उन्यासी/उनासी, -नवे/-नबे): one is chosen.

What this module produces is spoken: a change to its output must bump
``workers.engines.kokoro.G2P_VERSION`` so that cached renders are redone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from num2words import num2words

from voicecast import textnorm

__all__ = ["LANGUAGES", "normalize_for"]

#: Language subtags :func:`normalize_for` knows.
LANGUAGES = frozenset({"en", "es", "fr", "it", "pt", "hi"})

_ALIASES = {"eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "ita": "it", "por": "pt", "hin": "hi"}

_UPPER = "A-ZÀ-ÖØ-ÞŒ"
_LOWER = "a-zß-öø-ÿœ"
_DEVANAGARI = "\u0900-\u097f"

# --------------------------------------------------------------------------- number words


@lru_cache(maxsize=4096)
def _n2w(n: int, lang: str, to: str = "cardinal") -> str:
    return str(num2words(n, lang=lang, to=to))


def _split_tail(words: str, scale_re: str) -> tuple[str, str]:
    """``words`` cut after its last scale word (million and up), which keep
    their own gender: ("doscientos millones ", "doscientas mil")."""
    ends = [m.end() for m in re.finditer(scale_re, words)]
    cut = ends[-1] if ends else 0
    return words[:cut], words[cut:]


# Spanish


def _es_cardinal(n: int) -> str:
    words = _n2w(n, "es")
    # num2words writes "veintiuno mil", "ciento uno millones": apocope before a scale.
    words = re.sub(r"\bveintiuno(?= (?:mil|mill|bill))", "veintiún", words)
    return re.sub(r"\buno(?= (?:mil|mill|bill))", "un", words)


def _es_ordinal(n: int, form: str) -> str:
    words = _n2w(n, "es", "ordinal")
    words = re.sub(
        r"\bdécimo ?(primero|segundo|tercero|cuarto|quinto|sexto|séptimo|octavo|noveno)\b", r"decimo\1", words
    )
    words = words.replace("quadragésimo", "cuadragésimo")
    if form == "apoc":
        return re.sub(r"(primer|tercer)o$", r"\1", words)
    if form.startswith("f"):
        words = re.sub(r"o\b", "a", words)
    if form.endswith("p"):
        words = re.sub(r"([oa])\b", r"\1s", words)
    return words


def _es_feminine(words: str) -> str:
    head, tail = _split_tail(words, r"\b(?:millón|millones|billón|billones)\b")
    tail = re.sub(r"\bveinti(?:uno|ún)\b", "veintiuna", tail)
    tail = re.sub(r"\bun(?:o)?\b", "una", tail)
    return head + re.sub(r"ientos\b", "ientas", tail)


def _es_masculine(words: str) -> str:
    return re.sub(r"\bveintiuno$", "veintiún", re.sub(r"\buno$", "un", words))


def _es_time(h: int, m: int | None, suffix: str | None) -> str:
    hours = _es_feminine(_es_cardinal(h))
    if m is None:
        words = f"{hours} {'hora' if h == 1 else 'horas'}"
    elif m == 0:
        words = f"{hours} en punto" if not suffix else hours
    elif m < 10:
        words = f"{hours} cero {_es_cardinal(m)}"
    else:
        words = f"{hours} {_es_cardinal(m)}"
    if suffix == "a":
        words += " de la madrugada" if h == 12 or h < 6 else " de la mañana"
    elif suffix == "p":
        words += " del mediodía" if h == 12 else " de la tarde" if h < 8 else " de la noche"
    return words


# French


def _fr_cardinal(n: int) -> str:
    return _n2w(n, "fr")


def _fr_ordinal(n: int, form: str) -> str:
    if n == 1:
        words = "première" if form.startswith("f") else "premier"
    else:
        words = _n2w(n, "fr", "ordinal")
    return words + "s" if form.endswith("p") else words


def _fr_feminine(words: str) -> str:
    return re.sub(r"\bun\b(?! (?:million|milliard|billion))", "une", words)


def _fr_time(h: int, m: int | None, suffix: str | None) -> str:
    words = f"{_fr_feminine(_fr_cardinal(h))} {'heure' if h < 2 else 'heures'}"
    if m:
        words += " " + _fr_feminine(_fr_cardinal(m))
    return words


# Italian


def _it_cardinal(n: int) -> str:
    return _n2w(n, "it")


def _it_ordinal(n: int, form: str) -> str:
    words = _n2w(n, "it", "ordinal")
    ending = {"m": "o", "f": "a", "mp": "i", "fp": "e"}.get(form, "o")
    return re.sub(r"o$", ending, words)


def _it_feminine(words: str) -> str:
    return re.sub(r"\buno$", "una", words)


def _it_masculine(words: str) -> str:
    return "un" if words == "uno" else words


def _it_time(h: int, m: int | None, suffix: str | None) -> str:
    hours = _it_feminine(_it_cardinal(h))
    if m is None:
        return f"{hours} {'ora' if h == 1 else 'ore'}"
    return hours if m == 0 else f"{hours} e {_it_cardinal(m)}"


# Portuguese (Brazilian)


def _pt_cardinal(n: int) -> str:
    return _n2w(n, "pt_BR").replace(",", "")


def _pt_ordinal(n: int, form: str) -> str:
    words = _n2w(n, "pt_BR", "ordinal")
    if form.startswith("f"):
        words = re.sub(r"o\b", "a", words)
    if form.endswith("p"):
        words = re.sub(r"([oa])\b", r"\1s", words)
    return words


def _pt_feminine(words: str) -> str:
    head, tail = _split_tail(words, r"\b(?:milhão|milhões|bilhão|bilhões|trilhão|trilhões)\b")
    tail = re.sub(r"\bum\b", "uma", tail)
    tail = re.sub(r"\bdois\b", "duas", tail)
    return head + re.sub(r"entos\b", "entas", tail)


def _pt_time(h: int, m: int | None, suffix: str | None) -> str:
    hours = _pt_feminine(_pt_cardinal(h))
    if not m:
        return f"{hours} {'hora' if h in (0, 1) else 'horas'}"
    return f"{hours} e {_pt_cardinal(m)}"


# Hindi

_HI_0_99 = (
    "शून्य एक दो तीन चार पाँच छह सात आठ नौ "
    "दस ग्यारह बारह तेरह चौदह पंद्रह सोलह सत्रह अठारह उन्नीस "
    "बीस इक्कीस बाईस तेईस चौबीस पच्चीस छब्बीस सत्ताईस अट्ठाईस उनतीस "
    "तीस इकतीस बत्तीस तैंतीस चौंतीस पैंतीस छत्तीस सैंतीस अड़तीस उनतालीस "
    "चालीस इकतालीस बयालीस तैंतालीस चवालीस पैंतालीस छियालीस सैंतालीस अड़तालीस उनचास "
    "पचास इक्यावन बावन तिरपन चौवन पचपन छप्पन सत्तावन अट्ठावन उनसठ "
    "साठ इकसठ बासठ तिरसठ चौंसठ पैंसठ छियासठ सड़सठ अड़सठ उनहत्तर "
    "सत्तर इकहत्तर बहत्तर तिहत्तर चौहत्तर पचहत्तर छिहत्तर सतहत्तर अठहत्तर उन्यासी "
    "अस्सी इक्यासी बयासी तिरासी चौरासी पचासी छियासी सत्तासी अट्ठासी नवासी "
    "नब्बे इक्यानवे बानवे तिरानवे चौरानवे पचानवे छियानवे सत्तानवे अट्ठानवे निन्यानवे"
).split()
assert len(_HI_0_99) == 100

# Ordinals that are not the cardinal plus वाँ/वीं/वें: masculine, feminine, oblique.
_HI_ORDINAL_IRREGULAR = {
    1: ("पहला", "पहली", "पहले"),
    2: ("दूसरा", "दूसरी", "दूसरे"),
    3: ("तीसरा", "तीसरी", "तीसरे"),
    4: ("चौथा", "चौथी", "चौथे"),
    6: ("छठा", "छठी", "छठे"),
}


def _hi_cardinal(n: int) -> str:
    if n < 100:
        return _HI_0_99[n]
    parts = []
    crore, n = divmod(n, 10**7)
    if crore:
        parts.append(_hi_cardinal(crore) + " करोड़")
    for value, name in ((10**5, "लाख"), (1000, "हज़ार"), (100, "सौ")):
        count, n = divmod(n, value)
        if count:
            parts.append(f"{_HI_0_99[count]} {name}")
    if n:
        parts.append(_HI_0_99[n])
    return " ".join(parts)


def _hi_year(n: int) -> str:
    """1947 -> "उन्नीस सौ सैंतालीस": Hindi reads 1100-1999 in hundreds."""
    if 1100 <= n <= 1999:
        high, low = divmod(n, 100)
        return f"{_HI_0_99[high]} सौ" + (f" {_HI_0_99[low]}" if low else "")
    return _hi_cardinal(n)


def _hi_ordinal(n: int, form: str) -> str:
    index = {"m": 0, "f": 1, "o": 2}.get(form, 0)
    if n in _HI_ORDINAL_IRREGULAR:
        return _HI_ORDINAL_IRREGULAR[n][index]
    return _hi_cardinal(n) + ("वाँ", "वीं", "वें")[index]


def _hi_time(h: int, m: int | None, suffix: str | None) -> str:
    if not m:
        return f"{_hi_cardinal(h)} बजे"
    return f"{_hi_cardinal(h)} बजकर {_hi_cardinal(m)} मिनट"


def _same(words: str) -> str:
    return words


# --------------------------------------------------------------------------- languages

# Canonical currency keys, and what is written for them.
_CURRENCY_SYMBOLS = {
    "US$": "$",
    "R$": "R$",
    "Rs.": "₹",
    "Rs": "₹",
    "रु.": "₹",
    "$": "$",
    "€": "€",
    "£": "£",
    "¥": "¥",
    "₹": "₹",
    "EUR": "€",
    "USD": "$",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "BRL": "R$",
}
_SYM = "|".join(re.escape(s) for s in sorted(_CURRENCY_SYMBOLS, key=len, reverse=True))

# A numeral as written: digits, possibly grouped or with a decimal part.
_NUMERAL = r"\d+(?:[.,]\d+)*"


@dataclass(frozen=True)
class _Spec:
    """What one language needs; see the module docstring for the choices."""

    code: str
    cardinal: Callable[[int], str]
    ordinal: Callable[[int, str], str]
    feminine: Callable[[str], str]
    masculine: Callable[[str], str]  # a count before a masculine noun ("un", "veintiún")
    time: Callable[[int, int | None, str | None], str]
    year: Callable[[int], str]
    minus: str
    decimal: str
    point: str  # between the parts of "192.168.0.1"
    percent: str
    range_word: str
    months: tuple[str, ...]
    date_format: str  # {d} {m} {y}
    short_date_format: str  # with a two-digit year
    day_one: str | None  # the first of a month, where it is an ordinal
    # symbol: (unit, units, subunit, subunits, gender)
    currencies: dict[str, tuple[str, str, str, str, str]]
    cents_join: str
    million_re: str  # words ending so take "de"/"di" before the currency
    of: Callable[[str], str]
    scales: str  # scale words that may follow an amount ("millones")
    units: dict[str, tuple[str, str]]
    abbreviations: tuple[tuple[str, str, bool], ...]  # (regex, words, may end a sentence)
    symbols: tuple[tuple[str, str], ...]  # and, plus, equals, times
    decimal_comma: bool = True
    space_groups: bool = False
    singular_below_two: bool = False  # French: "1,5 kilomètre"
    digit_fraction: bool = False  # read decimals digit by digit


def _of_de(units: str) -> str:
    return f"de {units}"


def _of_fr(units: str) -> str:
    return f"d'{units}" if units[:1] in "aeiouyéèh" else f"de {units}"


def _of_di(units: str) -> str:
    return f"di {units}"


_NUMBER_ABBR = r"(?<!\w)(?:[nN]\.?\s?[º°]|#)(?=\s?\d)"

_ES = _Spec(
    code="es",
    cardinal=_es_cardinal,
    ordinal=_es_ordinal,
    feminine=_es_feminine,
    masculine=_es_masculine,
    time=_es_time,
    year=_es_cardinal,
    minus="menos",
    decimal="coma",
    point="punto",
    percent="por ciento",
    range_word="a",
    months=tuple(
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()
    ),
    date_format="{d} de {m} de {y}",
    short_date_format="{d} de {m} del {y}",
    day_one=None,
    currencies={
        "€": ("euro", "euros", "céntimo", "céntimos", "m"),
        "$": ("dólar", "dólares", "centavo", "centavos", "m"),
        "£": ("libra", "libras", "penique", "peniques", "f"),
        "¥": ("yen", "yenes", "sen", "sen", "m"),
        "₹": ("rupia", "rupias", "paisa", "paisas", "f"),
        "R$": ("real", "reales", "centavo", "centavos", "m"),
    },
    cents_join="con",
    million_re=r"\b(?:millón|millones|billón|billones)$",
    of=_of_de,
    scales=r"mil millones|millones|millón|billones|billón|mil",
    units={
        "km/h": ("kilómetro por hora", "kilómetros por hora"),
        "km": ("kilómetro", "kilómetros"),
        "kg": ("kilogramo", "kilogramos"),
        "cm": ("centímetro", "centímetros"),
        "mm": ("milímetro", "milímetros"),
        "°c": ("grado Celsius", "grados Celsius"),
        "°f": ("grado Fahrenheit", "grados Fahrenheit"),
        "°": ("grado", "grados"),
    },
    abbreviations=(
        (_NUMBER_ABBR + r"|\b[Nn]úm\.(?=\s?\d)", "número", False),
        (r"\bp\.\s?ej\.", "por ejemplo", True),
        (r"\bEE\.\s?UU\.", "Estados Unidos", True),
        (r"\bSrta\.", "señorita", False),
        (r"\bSres\.", "señores", False),
        (r"\bSra\.", "señora", False),
        (r"\bSr\.", "señor", False),
        (r"\bDra\.", "doctora", False),
        (r"\bDr\.", "doctor", False),
        (r"\bDña\.", "doña", False),
        (r"\bProfa\.", "profesora", False),
        (r"\bProf\.", "profesor", False),
        (r"\bLic\.", "licenciado", False),
        (r"\bIng\.", "ingeniero", False),
        (r"\b[UV]ds\.", "ustedes", True),
        (r"\b[UV]d\.", "usted", True),
        (r"\bAvda?\.", "avenida", False),
        (r"\bpág\.", "página", True),
        (r"\baprox\.", "aproximadamente", True),
        (r"\betc\.", "etcétera", True),
        (r"\ba\.\s?C\.", "antes de Cristo", True),
        (r"\bd\.\s?C\.", "después de Cristo", True),
    ),
    symbols=(("&", "y"), ("+", "más"), ("=", "igual a"), ("×", "por")),
    space_groups=True,
)

_FR = _Spec(
    code="fr",
    cardinal=_fr_cardinal,
    ordinal=_fr_ordinal,
    feminine=_fr_feminine,
    masculine=_same,
    time=_fr_time,
    year=_fr_cardinal,
    minus="moins",
    decimal="virgule",
    point="point",
    percent="pour cent",
    range_word="à",
    months=tuple(
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split()
    ),
    date_format="{d} {m} {y}",
    short_date_format="{d} {m} {y}",
    day_one="premier",
    currencies={
        "€": ("euro", "euros", "centime", "centimes", "m"),
        "$": ("dollar", "dollars", "cent", "cents", "m"),
        "£": ("livre", "livres", "penny", "pence", "f"),
        "¥": ("yen", "yens", "sen", "sen", "m"),
        "₹": ("roupie", "roupies", "paisa", "paisas", "f"),
        "R$": ("réal", "réals", "centavo", "centavos", "m"),
    },
    cents_join="et",
    million_re=r"\b(?:million|millions|milliard|milliards|billion|billions)$",
    of=_of_fr,
    scales=r"milliards|milliard|millions|million|mille",
    units={
        "km/h": ("kilomètre par heure", "kilomètres par heure"),
        "km": ("kilomètre", "kilomètres"),
        "kg": ("kilogramme", "kilogrammes"),
        "cm": ("centimètre", "centimètres"),
        "mm": ("millimètre", "millimètres"),
        "°c": ("degré Celsius", "degrés Celsius"),
        "°f": ("degré Fahrenheit", "degrés Fahrenheit"),
        "°": ("degré", "degrés"),
    },
    abbreviations=(
        (_NUMBER_ABBR, "numéro", False),
        (rf"\bMM\.(?=\s+[{_UPPER}])", "messieurs", False),
        (rf"\bM\.(?=\s+[{_UPPER}])", "monsieur", False),
        (rf"\bMmes(?:\.(?=\s+[{_UPPER}]))?(?!\w)", "mesdames", False),
        (rf"\bMme(?:\.(?=\s+[{_UPPER}]))?(?!\w)", "madame", False),
        (rf"\bMlles(?:\.(?=\s+[{_UPPER}]))?(?!\w)", "mesdemoiselles", False),
        (rf"\bMlle(?:\.(?=\s+[{_UPPER}]))?(?!\w)", "mademoiselle", False),
        (rf"\bDr\.?(?=\s+[{_UPPER}])", "docteur", False),
        (rf"\bPr\.?(?=\s+[{_UPPER}])", "professeur", False),
        (rf"\bSte\.?(?=[-\s]+[{_UPPER}])", "Sainte", False),
        (rf"\bSt\.?(?=[-\s]+[{_UPPER}])", "Saint", False),
        (r"\bp\.\s?ex\.", "par exemple", True),
        (r"\bc\.-à-d\.", "c'est-à-dire", True),
        (r"\bav\.\s?J\.-C\.", "avant Jésus-Christ", True),
        (r"\bapr\.\s?J\.-C\.", "après Jésus-Christ", True),
        (r"\betc\.", "et cetera", True),
        (r"\benv\.", "environ", False),
        (r"\bcf\.", "confer", False),
        (rf"\bbd\.?(?=\s+[{_UPPER}])", "boulevard", False),
        (rf"\bav\.(?=\s+[{_UPPER}])", "avenue", False),
        (r"\bCie\b", "compagnie", False),
        (r"\btél\.", "téléphone", True),
    ),
    symbols=(("&", "et"), ("+", "plus"), ("=", "égale"), ("×", "fois")),
    space_groups=True,
    singular_below_two=True,
)

_IT = _Spec(
    code="it",
    cardinal=_it_cardinal,
    ordinal=_it_ordinal,
    feminine=_it_feminine,
    masculine=_it_masculine,
    time=_it_time,
    year=_it_cardinal,
    minus="meno",
    decimal="virgola",
    point="punto",
    percent="per cento",
    range_word="a",
    months=tuple(
        "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
        "dicembre".split()
    ),
    date_format="{d} {m} {y}",
    short_date_format="{d} {m} {y}",
    day_one="primo",
    currencies={
        "€": ("euro", "euro", "centesimo", "centesimi", "m"),
        "$": ("dollaro", "dollari", "centesimo", "centesimi", "m"),
        "£": ("sterlina", "sterline", "penny", "pence", "f"),
        "¥": ("yen", "yen", "sen", "sen", "m"),
        "₹": ("rupia", "rupie", "paisa", "paisa", "f"),
        "R$": ("real", "real", "centavo", "centavos", "m"),
    },
    cents_join="e",
    million_re=r"\b(?:milione|milioni|miliardo|miliardi)$",
    of=_of_di,
    scales=r"miliardi|miliardo|milioni|milione|mila",
    units={
        "km/h": ("chilometro all'ora", "chilometri all'ora"),
        "km": ("chilometro", "chilometri"),
        "kg": ("chilogrammo", "chilogrammi"),
        "cm": ("centimetro", "centimetri"),
        "mm": ("millimetro", "millimetri"),
        "°c": ("grado Celsius", "gradi Celsius"),
        "°f": ("grado Fahrenheit", "gradi Fahrenheit"),
        "°": ("grado", "gradi"),
    },
    abbreviations=(
        (_NUMBER_ABBR + r"|\b[nN]\.(?=\s?\d)", "numero", False),
        (r"\b[Ss]ig\.ra(?!\w)", "signora", False),
        (r"\b[Ss]ig\.na(?!\w)", "signorina", False),
        (r"\b[Ss]igg\.", "signori", False),
        (r"\b[Ss]ig\.", "signor", False),
        (r"\b[Dd]ott\.ssa(?!\w)", "dottoressa", False),
        (r"\b[Dd]ott\.", "dottor", False),
        (r"\b[Pp]rof\.ssa(?!\w)", "professoressa", False),
        (r"\b[Pp]rof\.", "professor", False),
        (r"\b[Aa]vv\.", "avvocato", False),
        (r"\b[Ii]ng\.", "ingegner", False),
        (r"\b[Aa]rch\.", "architetto", False),
        (r"\b[Gg]eom\.", "geometra", False),
        (r"\bOn\.", "onorevole", False),
        (r"\bS\.p\.A\.", "società per azioni", True),
        (r"\becc\.", "eccetera", True),
        (r"\bad\s?es\.", "ad esempio", True),
        (r"\bp\.\s?es\.", "per esempio", True),
        (r"\bpag\.", "pagina", True),
        (r"\ba\.\s?C\.", "avanti Cristo", True),
        (r"\bd\.\s?C\.", "dopo Cristo", True),
    ),
    symbols=(("&", "e"), ("+", "più"), ("=", "uguale a"), ("×", "per")),
    space_groups=True,
)

_PT = _Spec(
    code="pt",
    cardinal=_pt_cardinal,
    ordinal=_pt_ordinal,
    feminine=_pt_feminine,
    masculine=_same,
    time=_pt_time,
    year=_pt_cardinal,
    minus="menos",
    decimal="vírgula",
    point="ponto",
    percent="por cento",
    range_word="a",
    months=tuple(
        "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro".split()
    ),
    date_format="{d} de {m} de {y}",
    short_date_format="{d} de {m} de {y}",
    day_one="primeiro",
    currencies={
        "€": ("euro", "euros", "centavo", "centavos", "m"),
        "$": ("dólar", "dólares", "centavo", "centavos", "m"),
        "£": ("libra", "libras", "pêni", "pence", "f"),
        "¥": ("iene", "ienes", "sen", "sen", "m"),
        "₹": ("rupia", "rupias", "paisa", "paisas", "f"),
        "R$": ("real", "reais", "centavo", "centavos", "m"),
    },
    cents_join="e",
    million_re=r"\b(?:milhão|milhões|bilhão|bilhões|trilhão|trilhões)$",
    of=_of_de,
    scales=r"bilhões|bilhão|milhões|milhão|mil",
    units={
        "km/h": ("quilômetro por hora", "quilômetros por hora"),
        "km": ("quilômetro", "quilômetros"),
        "kg": ("quilograma", "quilogramas"),
        "cm": ("centímetro", "centímetros"),
        "mm": ("milímetro", "milímetros"),
        "°c": ("grau Celsius", "graus Celsius"),
        "°f": ("grau Fahrenheit", "graus Fahrenheit"),
        "°": ("grau", "graus"),
    },
    abbreviations=(
        (_NUMBER_ABBR, "número", False),
        (r"\bp\.\s?ex\.", "por exemplo", True),
        (r"\bSrta\.", "senhorita", False),
        (r"\bSra\.", "senhora", False),
        (r"\bSr\.", "senhor", False),
        (r"\bDra\.", "doutora", False),
        (r"\bDr\.", "doutor", False),
        (r"\bProf(?:a\.|\.ª)", "professora", False),
        (r"\bProf\.", "professor", False),
        (r"\bSto\.", "santo", False),
        (r"\bSta\.", "santa", False),
        (r"\bAv\.", "avenida", False),
        (r"\bpág\.", "página", True),
        (r"\baprox\.", "aproximadamente", True),
        (r"\betc\.", "et cetera", True),
        (r"\ba\.\s?C\.", "antes de Cristo", True),
        (r"\bd\.\s?C\.", "depois de Cristo", True),
        (r"\bLtda\.", "limitada", True),
        (r"\bCia\.", "companhia", True),
        (r"\btel\.", "telefone", True),
    ),
    symbols=(("&", "e"), ("+", "mais"), ("=", "igual a"), ("×", "vezes")),
    space_groups=True,
)

_HI = _Spec(
    code="hi",
    cardinal=_hi_cardinal,
    ordinal=_hi_ordinal,
    feminine=_same,
    masculine=_same,
    time=_hi_time,
    year=_hi_year,
    minus="माइनस",
    decimal="दशमलव",
    point="डॉट",
    percent="प्रतिशत",
    range_word="से",
    months=tuple("जनवरी फ़रवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर अक्टूबर नवंबर दिसंबर".split()),
    date_format="{d} {m} {y}",
    short_date_format="{d} {m} {y}",
    day_one=None,
    currencies={
        "₹": ("रुपया", "रुपये", "पैसा", "पैसे", "m"),
        "$": ("डॉलर", "डॉलर", "सेंट", "सेंट", "m"),
        "€": ("यूरो", "यूरो", "सेंट", "सेंट", "m"),
        "£": ("पाउंड", "पाउंड", "पेंस", "पेंस", "m"),
        "¥": ("येन", "येन", "सेन", "सेन", "m"),
        "R$": ("रियाल", "रियाल", "सेंटावो", "सेंटावो", "m"),
    },
    cents_join="",
    million_re=r"(?!x)x",
    of=_same,
    scales=r"करोड़|लाख|हज़ार|हजार",
    units={
        "km/h": ("किलोमीटर प्रति घंटा", "किलोमीटर प्रति घंटा"),
        "km": ("किलोमीटर", "किलोमीटर"),
        "कि.मी.": ("किलोमीटर", "किलोमीटर"),
        "kg": ("किलोग्राम", "किलोग्राम"),
        "कि.ग्रा.": ("किलोग्राम", "किलोग्राम"),
        "cm": ("सेंटीमीटर", "सेंटीमीटर"),
        "mm": ("मिलीमीटर", "मिलीमीटर"),
        "°c": ("डिग्री सेल्सियस", "डिग्री सेल्सियस"),
        "°f": ("डिग्री फ़ारेनहाइट", "डिग्री फ़ारेनहाइट"),
        "°": ("डिग्री", "डिग्री"),
    },
    abbreviations=(
        (r"(?<![\w\u0900-\u097f])नं\.(?=\s?\d)", "नंबर", False),
        (r"(?<![\w\u0900-\u097f])डॉ\.", "डॉक्टर", False),
        (r"(?<![\w\u0900-\u097f])प्रो\.", "प्रोफ़ेसर", False),
        (r"(?<![\w\u0900-\u097f])कु\.", "कुमारी", False),
        (r"(?<![\w\u0900-\u097f])स्व\.", "स्वर्गीय", False),
        (r"(?<![\w\u0900-\u097f])पृ\.", "पृष्ठ", False),
        (r"(?<![\w\u0900-\u097f])ई\.\s?पू\.", "ईसा पूर्व", False),
        (r"(?<=\d)\s?ई\.(?![\u0900-\u097f])", " ईस्वी", False),
    ),
    symbols=(("&", "और"), ("+", "प्लस"), ("=", "बराबर"), ("×", "गुणा")),
    decimal_comma=False,
    digit_fraction=True,
)

_SPECS = {spec.code: spec for spec in (_ES, _FR, _IT, _PT, _HI)}

# --------------------------------------------------------------------------- reading numerals


_RE_GROUPS = {".": re.compile(r"\d{1,3}(?:\.\d{3})+"), ",": re.compile(r"\d{1,3}(?:,\d{3})+")}
_RE_HI_GROUPS = re.compile(r"\d{1,3}(?:,\d{2})*,\d{3}|\d{1,3}(?:,\d{3})+")


def _digits(spec: _Spec, digits: str) -> str:
    return " ".join(spec.cardinal(int(d)) for d in digits)


def _integer(spec: _Spec, digits: str) -> str:
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > 15:
        return _digits(spec, digits)  # "007", a long code: digit by digit
    return spec.cardinal(int(digits))


def _fraction(spec: _Spec, digits: str) -> str:
    if spec.digit_fraction or len(digits) > 3:
        return _digits(spec, digits)
    rest = digits.lstrip("0")
    zeros = [spec.cardinal(0)] * (len(digits) - len(rest))
    return " ".join(zeros + ([spec.cardinal(int(rest))] if rest else []))


def _parse(spec: _Spec, token: str) -> tuple[str, str | None] | None:
    """(integer digits, decimal digits) of a numeral, or None when ``token`` is
    not one number ("1,2,3", "192.168.0.1")."""
    if "." not in token and "," not in token:
        return token, None
    if not spec.decimal_comma:  # Hindi: "1,23,456.5" or "123,456.5"
        integer, dot, fraction = token.partition(".")
        if not fraction.isdigit() and dot or ("," in integer and not _RE_HI_GROUPS.fullmatch(integer)):
            return None
        return integer.replace(",", ""), (fraction if dot else None)
    if "." in token and "," in token:  # "1.234,5", or English "1,234.5"
        last = max(".", ",", key=token.rfind)
        other = "," if last == "." else "."
        integer, _, fraction = token.rpartition(last)
        if other in fraction or not _RE_GROUPS[other].fullmatch(integer):
            return None
        return integer.replace(other, ""), fraction
    sep = "." if "." in token else ","
    if _RE_GROUPS[sep].fullmatch(token) and (sep == "." or token.count(",") > 1):
        return token.replace(sep, ""), None  # "1.234", "1,234,567"
    if token.count(sep) == 1:
        integer, _, fraction = token.partition(sep)
        return integer, fraction  # "1,5", "3.14"
    return None


def _number(spec: _Spec, integer: str, fraction: str | None) -> str:
    words = _integer(spec, integer)
    if fraction:
        words += f" {spec.decimal} {_fraction(spec, fraction)}"
    return words


def _numeral(spec: _Spec, token: str) -> str:
    parsed = _parse(spec, token)
    if parsed is not None:
        return _number(spec, *parsed)
    parts = re.split(r"([.,])", token)
    return " ".join(
        _integer(spec, p) if p.isdigit() else (spec.point if p == "." else ",") for p in parts if p
    ).replace(" ,", ",")


def _count(spec: _Spec, n: int, gender: str) -> str:
    words = spec.cardinal(n)
    return spec.feminine(words) if gender == "f" else spec.masculine(words)


def _singular(spec: _Spec, whole: int, fraction: str | None) -> bool:
    if spec.singular_below_two:
        return whole < 2
    return whole == 1 and not fraction


# --------------------------------------------------------------------------- passes


_RE_END_SPACE = re.compile(r"\s*$")
_RE_NEXT_SENTENCE = re.compile(rf"\s+[\"'«(¿¡]?[{_UPPER}]")
_RE_PREVIOUS_WORD = re.compile(r"(\w+)\s+$")
_WINDOW = 40  # characters looked at behind a match (whitespace is collapsed by then)


def _sentence_start(text: str, index: int) -> bool:
    before = text[max(0, index - _WINDOW) : index].rstrip(" \"'(«¿¡")
    if not before:
        return index <= _WINDOW
    if before[-1] in "!?\u2026":
        return True
    # A period ends a sentence unless it ends a title or an initial ("Dr.", "M.").
    return before[-1] == "." and not re.search(rf"(?<!\w)[{_UPPER}]\w{{0,2}}\.$", before)


def _ends_sentence(text: str, index: int) -> bool:
    return bool(_RE_END_SPACE.match(text, index) or _RE_NEXT_SENTENCE.match(text, index))


def _abbreviations(spec: _Spec, text: str) -> str:
    for pattern, words, may_end in spec.abbreviations:

        def expand(m: re.Match[str], words: str = words, may_end: bool = may_end) -> str:
            out = words
            if _sentence_start(m.string, m.start()):
                out = out[:1].upper() + out[1:]
            if may_end and m.group(0).endswith(".") and _ends_sentence(m.string, m.end()):
                out += "."
            return out

        text = re.sub(pattern, expand, text)
    return text


_RE_DATE = re.compile(
    r"(?<![\d/.\-])(3[01]|[12]\d|0?[1-9])([/.\-])(1[0-2]|0?[1-9])\2(\d{4})(?![\d/\-]|[.,]\d)"
    r"|(?<![\d/.\-])(3[01]|[12]\d|0?[1-9])/(1[0-2]|0?[1-9])/(\d{2})(?![\d/]|[.,]\d)"
)
_RE_ISO_DATE = re.compile(r"(?<![\d/.\-])(\d{4})-(1[0-2]|0[1-9])-(3[01]|[12]\d|0[1-9])(?![\d\-])")


def _date_words(spec: _Spec, day: int, month: int, year: str) -> str:
    d = spec.day_one if day == 1 and spec.day_one else spec.cardinal(day)
    if len(year) == 4:
        return spec.date_format.format(d=d, m=spec.months[month - 1], y=spec.year(int(year)))
    return spec.short_date_format.format(d=d, m=spec.months[month - 1], y=_integer(spec, year))


def _dates(spec: _Spec, text: str) -> str:
    def dmy(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            day, month, year = m.group(1), m.group(3), m.group(4)
        else:
            day, month, year = m.group(5), m.group(6), m.group(7)
        return _date_words(spec, int(day), int(month), year)

    text = _RE_ISO_DATE.sub(lambda m: _date_words(spec, int(m.group(3)), int(m.group(2)), m.group(1)), text)
    return _RE_DATE.sub(dmy, text)


_RE_RANGE = re.compile(r"(?<![\w.,:/\-])(\d+(?:[.,:]\d+)*)\s*(?:\u2013|-(?=\d))\s*(?=\d)(?!\d+-\d)")

_RE_CLOCK = re.compile(r"(?<![\d:.,])([01]?\d|2[0-3]):([0-5]\d)(?![:\d])")
_RE_ES_CLOCK_SUFFIX = re.compile(r"\s?(?:(?:hrs|hs|h)(?!\w)|([aApP])\.\s?[mM]\.|([aApP])[mM](?!\w))")
_RE_ES_HOUR_AMPM = re.compile(r"(?<![\w:.,])(1[0-2]|0?[1-9])\s?(?:([aApP])\.\s?[mM]\.|([aApP])[mM](?!\w))")
_RE_H_CLOCK = re.compile(r"(?<![\w:.,])([01]?\d|2[0-3])\s?[hH](?:\s?([0-5]\d))?(?!\w)")
_RE_IT_DOT_CLOCK = re.compile(r"\b((?i:ore|alle|dalle|alla|dalla|le))\s+([01]?\d|2[0-3])\.([0-5]\d)(?![\d])")
_RE_HI_BAJE = re.compile(r"\s?बजे")


def _times(spec: _Spec, text: str) -> str:
    # A clock time may take a suffix: "h", "a. m." (es), "बजे" (hi, already said).
    out, pos = [], 0
    for m in _RE_CLOCK.finditer(text):
        suffix, tail, end = None, "", m.end()
        if spec.code == "es" and (s := _RE_ES_CLOCK_SUFFIX.match(text, end)):
            end = s.end()
            ampm = s.group(1) or s.group(2)
            suffix = ampm.lower() if ampm else None
            if s.group(0).endswith(".") and _ends_sentence(text, end):
                tail = "."  # "a las 10 p. m." ends the sentence too
        elif spec.code == "hi" and (s := _RE_HI_BAJE.match(text, end)):
            end = s.end()
        out += [text[pos : m.start()], spec.time(int(m.group(1)), int(m.group(2)), suffix) + tail]
        pos = end
    text = "".join(out) + text[pos:]
    if spec.code == "es":

        def hour(m: re.Match[str]) -> str:
            tail = "." if m.group(0).endswith(".") and _ends_sentence(m.string, m.end()) else ""
            return spec.time(int(m.group(1)), 0, (m.group(2) or m.group(3)).lower()) + tail

        text = _RE_ES_HOUR_AMPM.sub(hour, text)
    if spec.code in ("es", "fr", "pt"):
        text = _RE_H_CLOCK.sub(
            lambda m: spec.time(int(m.group(1)), int(m.group(2)) if m.group(2) else None, None), text
        )
    if spec.code == "it":
        text = _RE_IT_DOT_CLOCK.sub(
            lambda m: f"{m.group(1)} {spec.time(int(m.group(2)), int(m.group(3)), None)}", text
        )
    return text


def _money(spec: _Spec, symbol: str, token: str, scale: str | None) -> str | None:
    parsed = _parse(spec, token)
    if parsed is None:
        return None
    integer, fraction = parsed
    unit, units, sub, subs, gender = spec.currencies[_CURRENCY_SYMBOLS[symbol]]
    if scale:
        words = f"{_number(spec, integer, fraction)} {scale}"
        return f"{words} {spec.of(units) if re.search(spec.million_re, scale) else units}"
    whole = int(integer)
    if fraction is not None and len(fraction) != 2:
        return f"{_number(spec, integer, fraction)} {unit if _singular(spec, whole, fraction) else units}"
    cents = int(fraction) if fraction else 0
    parts = []
    if whole or not cents:
        words = _count(spec, whole, gender) if len(integer) <= 15 else _integer(spec, integer)
        if re.search(spec.million_re, words):
            parts.append(f"{words} {spec.of(units)}")
        else:
            parts.append(f"{words} {unit if _singular(spec, whole, None) else units}")
    if cents:
        parts.append(f"{_count(spec, cents, 'm')} {sub if _singular(spec, cents, None) else subs}")
    join = f" {spec.cents_join} " if spec.cents_join else " "
    return join.join(parts)


def _currency(spec: _Spec, text: str) -> str:
    scale = rf"(?:\s?({spec.scales})(?![\w{_DEVANAGARI}]))?"
    before = re.compile(rf"(?<![\w$])({_SYM})\s?({_NUMERAL}){scale}")
    after = re.compile(rf"(?<![\w.,])({_NUMERAL}){scale}\s?({_SYM})(?![\w{_DEVANAGARI}])")

    def pre(m: re.Match[str]) -> str:
        return _money(spec, m.group(1), m.group(2), m.group(3)) or m.group(0)

    def post(m: re.Match[str]) -> str:
        return _money(spec, m.group(3), m.group(1), m.group(2)) or m.group(0)

    return after.sub(post, before.sub(pre, text))


_RE_PERCENT = re.compile(rf"(?<![\w.,])({_NUMERAL})\s?%")


def _percent(spec: _Spec, text: str) -> str:
    return _RE_PERCENT.sub(lambda m: f"{_numeral(spec, m.group(1))} {spec.percent}", text)


# "25° a la sombra" is a temperature, "el 1° de mayo" an ordinal.
_NOT_ORDINAL_AFTER_DEGREE = (
    r"bajo|sotto|abaixo|sobre|sopra|acima|centígrados|centigradi|celsius|fahrenheit|a la sombra|"
    r"all'ombra|à sombra|de latitud|de longitud|di latitudine|di longitudine|de latitude|de longitude|"
    r"nord|norte|sud|sur|sul|est|este|ovest|oeste"
)
_RE_DEGREE_ORDINAL = re.compile(rf"(?<![\w.,])(\d+)°(?=\s+(?!(?:{_NOT_ORDINAL_AFTER_DEGREE})\b)[{_LOWER}])")
_RE_INDICATOR_ORDINAL = re.compile(r"(?<![\w.,])(\d+)\.?([ºª])(s?)(?!\w)")
_RE_ES_ORDINAL = re.compile(r"(?<![\w.,])(\d+)(?:\.?(er)|\.(os|as))(?!\w)")
_FR_SUFFIXES = {
    "er": "m", "ᵉʳ": "m", "e": "m", "ème": "m", "eme": "m", "è": "m", "ᵉ": "m",
    "re": "f", "ère": "f", "ʳᵉ": "f",
    "ers": "mp", "es": "mp", "èmes": "mp", "emes": "mp",
    "res": "fp", "ères": "fp",
    "nd": "second", "nde": "seconde", "nds": "seconds", "ndes": "secondes",
}  # fmt: skip
_RE_FR_ORDINAL = re.compile(
    r"(?<![\w.,])(\d+)(" + "|".join(sorted(_FR_SUFFIXES, key=len, reverse=True)) + r")(?!\w)"
)
_RE_FR_ROMAN_ORDINAL = re.compile(r"\b([IVX]+)(er|ère|re|ème|e)(?!\w)")
_RE_HI_ORDINAL = re.compile(
    r"(?<![\w.,])(\d+)(वाँ|वां|वीं|वें|ला|ली|ले|रा|री|रे|था|थी|थे|ठा|ठी|ठे)(?![\u0900-\u097f])"
)
_ROMAN = {"I": 1, "V": 5, "X": 10}


def _roman(numeral: str) -> int | None:
    total = 0
    for i, c in enumerate(numeral):
        v = _ROMAN[c]
        total += -v if i + 1 < len(numeral) and _ROMAN[numeral[i + 1]] > v else v
    return total if 0 < total < 40 else None


def _ordinals(spec: _Spec, text: str) -> str:
    code = spec.code
    if code in ("es", "pt", "it"):

        def indicator(m: re.Match[str]) -> str:
            form = ("f" if m.group(2) == "ª" else "m") + ("p" if m.group(3) else "")
            return spec.ordinal(int(m.group(1)), form)

        text = _RE_INDICATOR_ORDINAL.sub(indicator, text)
        text = _RE_DEGREE_ORDINAL.sub(lambda m: spec.ordinal(int(m.group(1)), "m"), text)
    if code == "es":

        def es(m: re.Match[str]) -> str:
            n = int(m.group(1))
            if m.group(2):
                return spec.ordinal(n, "apoc")
            return spec.ordinal(n, "mp" if m.group(3) == "os" else "fp")

        text = _RE_ES_ORDINAL.sub(es, text)
    elif code == "fr":

        def fr(m: re.Match[str]) -> str:
            n, form = int(m.group(1)), _FR_SUFFIXES[m.group(2)]
            if form.startswith("second"):
                return form if n == 2 else spec.ordinal(n, "mp" if form.endswith("s") else "m")
            return spec.ordinal(n, form)

        def roman(m: re.Match[str]) -> str:
            n = _roman(m.group(1))
            if n is None:
                return m.group(0)
            return spec.ordinal(n, "f" if m.group(2) in ("ère", "re") else "m")

        text = _RE_FR_ORDINAL.sub(fr, text)
        text = _RE_FR_ROMAN_ORDINAL.sub(roman, text)
    elif code == "hi":

        def hi(m: re.Match[str]) -> str:
            suffix = m.group(2)
            form = "f" if "ी" in suffix else "o" if "े" in suffix else "m"
            return spec.ordinal(int(m.group(1)), form)

        text = _RE_HI_ORDINAL.sub(hi, text)
    if spec.day_one:
        months = "|".join(spec.months)
        text = re.sub(
            rf"(?<![\w.,])0?1(?=\s+(?:de\s+)?(?:{months})\b)", spec.day_one, text, flags=re.IGNORECASE
        )
    return text


def _units(spec: _Spec, text: str) -> str:
    names = sorted(spec.units, key=len, reverse=True)
    alternatives = "|".join(r"°\s?" + n[1] if n in ("°c", "°f") else re.escape(n) for n in names)
    pattern = re.compile(rf"(?<![\w.,])({_NUMERAL})\s?({alternatives})(?![\w/{_DEVANAGARI}])", re.IGNORECASE)

    def unit(m: re.Match[str]) -> str:
        parsed = _parse(spec, m.group(1))
        if parsed is None:
            return m.group(0)
        integer, fraction = parsed
        singular, plural = spec.units[re.sub(r"\s", "", m.group(2)).lower()]
        whole = int(integer)
        if fraction is None and len(integer) <= 15:
            words = _count(spec, whole, "m")
        else:
            words = _number(spec, integer, fraction)
        return f"{words} {singular if _singular(spec, whole, fraction) else plural}"

    return pattern.sub(unit, text)


_ES_FUNCTION_WORDS = frozenset(
    "de del y e o u a al en por para con sin más menos que entre sobre ni hasta desde como contra "
    "es era fue son".split()
)
_IT_FUNCTION_WORDS = frozenset(
    "di del dello della dei degli delle e ed o a ad al alla da dal in nel nella con su per tra fra che "
    "è sono come più meno".split()
)
_PT_FUNCTION_WORDS = frozenset(
    "a as o os de da das do dos e em no na nos nas ou para por pela pelo pelas pelos com sem mais menos "
    "que entre sobre até desde como contra é era foi são".split()
)
_FR_FUNCTION_WORDS = frozenset(
    "de du des et ou à au aux en par pour avec sans plus moins que entre sur sous dans chez est était "
    "fut sont a ont".split()
)
_FUNCTION_WORDS = {"es": _ES_FUNCTION_WORDS, "it": _IT_FUNCTION_WORDS, "pt": _PT_FUNCTION_WORDS,
                   "fr": _FR_FUNCTION_WORDS}
# The gender of a counted noun, guessed from its ending (singular or plural) and
# from short lists of common nouns the ending gets wrong: feminine nouns that do
# not end like one, and masculine ones that do (Greek -ma words, "día"). A noun
# neither list nor ending knows is masculine, as the numeral was before.
_FEMININE_ENDINGS = {
    "es": re.compile(r"(?:a|ción|sión|dad|tad|tud|umbre|ie)s?$|(?:ciones|siones|dades|tades|tudes)$"),
    "pt": re.compile(r"(?:a|ção|são|dade|agem|ice)s?$|(?:ções|sões|agens)$"),
    "it": re.compile(r"(?:a|zione|sione|trice)$"),
    "fr": re.compile(r"(?:tion|sion|té|ée|ure|ette|ance|ence|esse|elle|ière|ique|ade|aine)[sx]?$"),
}
_FEMININE_NOUNS = {
    "es": frozenset("mano manos foto fotos moto motos radio radios noche noches calle calles gente leche "
                    "carne carnes clase clases llave llaves tarde tardes mujer mujeres flor flores vez veces "
                    "luz luces nariz paz red redes piel pieles frase frases parte partes muerte suerte "
                    "fuente fuentes torre torres nave naves nube nubes sal imagen imágenes orden "
                    "cárcel miel sed".split()),
    "pt": frozenset("mão mãos foto fotos moto motos noite noites tarde tardes mulher mulheres flor flores "
                    "vez vezes luz luzes paz rede redes cor cores dor dores parte partes morte sorte fonte "
                    "fontes torre torres nuvem nuvens ordem ordens árvore árvores chave chaves classe "
                    "classes frase frases gente carne carnes pele peles lei leis tv".split()),
    "it": frozenset("mano notte parte chiave classe frase gente carne fonte torre nave nube foto moto "
                    "radio legge voce croce pace luce canzone stagione".split()),
    "fr": frozenset("heure heures minute minutes seconde secondes semaine semaines fois personne personnes "
                    "page pages chose choses femme femmes fille filles nuit nuits main mains ville villes "
                    "maison maisons table tables porte portes rue rues langue langues chambre chambres "
                    "école écoles église églises histoire histoires image images boîte boîtes ligne lignes "
                    "lettre lettres photo photos radio route routes place places classe classes mère mères "
                    "sœur sœurs tante tantes clé clés eau eaux mer mers part parts fin fleur fleurs "
                    "voix croix paix loi lois dent dents tour fête fêtes forêt forêts vie vies "
                    "soupe tasse tasses bouteille bouteilles pomme pommes".split()),
}
_MASCULINE_NOUNS = {
    "es": frozenset("día días mapa mapas problema problemas programa programas sistema sistemas tema temas "
                    "idioma idiomas clima climas planeta planetas poema poemas drama dramas dilema dilemas "
                    "esquema esquemas sofá sofás papá papás mediodía tranvía tranvías pijama pijamas "
                    "cometa cometas diploma diplomas".split()),
    "pt": frozenset("dia dias mapa mapas problema problemas programa programas sistema sistemas tema temas "
                    "idioma idiomas clima climas planeta planetas poema poemas drama dramas dilema dilemas "
                    "esquema esquemas sofá sofás cinema cinemas telefonema telefonemas diploma diplomas "
                    "papa".split()),
    "it": frozenset("problema programma sistema tema clima pianeta poema dramma dilemma schema papa "
                    "cinema diploma".split()),
    "fr": frozenset("musée musées lycée lycées été étés côté côtés comité comités pâté thé traité traités "
                    "mercure murmure".split()),
}


def _feminine_noun(code: str, word: str) -> bool:
    """Whether ``word`` (lower case) is a feminine noun of language ``code``, as
    far as the lists and endings above tell; an "-ista" noun (either gender) is not."""
    if word in _MASCULINE_NOUNS[code] or re.search(r"istas?$|isti$", word):
        return False
    return word in _FEMININE_NOUNS[code] or _FEMININE_ENDINGS[code].search(word) is not None


_RE_NUMBER = re.compile(rf"(?<![\w.,])({_NUMERAL})")
# Nouns a number labels rather than counts ("capítulo 1", "pagina 1").
_LABEL_NOUNS = frozenset(
    "capítulo página número artículo apartado sección tomo volumen parte nivel lección tema anexo "
    "habitación piso planta puerta línea versión paso fase grupo año día "
    "capitolo pagina numero articolo sezione parte livello lezione punto anno giorno fase versione "
    "stanza piano porta linea gruppo".split()
)
_RE_NEXT_WORD = re.compile(rf"\s+([{_LOWER}][\w']*)")
# Italian keeps "uno" before s + consonant, z, gn, ps, pn, x, y ("uno studente").
_RE_IT_UNO = re.compile(r"s[^aeiouàèéìòù]|z|gn|ps|pn|x|y")


def _numbers(spec: _Spec, text: str) -> str:
    def number(m: re.Match[str]) -> str:
        token, text, end = m.group(1), m.string, m.end()
        if spec.code == "hi" and len(token) == 4 and token.isdigit() and not token.startswith("0"):
            words = spec.year(int(token))
        else:
            words = _numeral(spec, token)
        following = _RE_NEXT_WORD.match(text, end)
        parsed = _parse(spec, token) if following and spec.code in _FUNCTION_WORDS else None
        whole = parsed is not None and parsed[1] is None and parsed[0].isdigit()
        if following and parsed and whole and not parsed[0].startswith("0"):
            # A count before its noun, in the noun's gender: "1 casa" -> "una casa",
            # "200 personas" -> "doscientas personas", "21 años" -> "veintiún años",
            # "1 libro" -> "un libro"; not a label ("página 21 muestra") nor before a
            # function word.
            word = following.group(1).lower()
            previous = _RE_PREVIOUS_WORD.search(text, max(0, m.start() - _WINDOW), m.start())
            label = previous is not None and previous.group(1).lower() in _LABEL_NOUNS
            plural_ok = int(parsed[0]) == 1 or word[-1:] in ("s", "x") or spec.code == "it"
            counted = not label and plural_ok and word not in _FUNCTION_WORDS[spec.code]
            # Italian elides before a vowel ("un'ora" sounds as "un ora"): only "una casa" changes.
            feminine = counted and _feminine_noun(spec.code, word) and not (
                spec.code == "it" and word[:1] in "aeiouàèéìòùh")
            if feminine:
                words = spec.feminine(words)
            elif counted and token.isdigit() and not (spec.code == "it" and _RE_IT_UNO.match(word)):
                words = spec.masculine(words)
        if text[end : end + 1].isalpha():
            words += " "  # "3D", "5बजे"
        return words

    return _RE_NUMBER.sub(number, text)


def _symbols(spec: _Spec, text: str) -> str:
    and_, plus, equals, times = (w for _, w in spec.symbols)
    text = re.sub(r"\s*%", f" {spec.percent}", text)
    text = re.sub(r"\s*&\s*", f" {and_} ", text)
    text = re.sub(r"(?<=\w)\s*\+\s*(?=\w)|(?<=\s)\+(?=\s)", f" {plus} ", text)
    text = re.sub(r"(?<=\w)\s*=\s*(?=\w)|(?<=\s)=(?=\s)", f" {equals} ", text)
    text = re.sub(r"(?<=\d)\s*[x\u00d7]\s*(?=\d)|(?<=\s)\u00d7(?=\s)", f" {times} ", text)
    return re.sub(r"[*_~^|\\<>{}\[\]]", " ", text)


_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
_RE_GROUP_SPACE = re.compile(r"(?<=\d)[\u00a0\u202f\u2009\u2007](?=\d{3}(?!\d))")
_RE_PLAIN_GROUPS = re.compile(r"(?<![\d.,])\d{1,3}(?: \d{3})+(?![\d])")
_RE_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?\u2026)\u0964])")


def _normalize(spec: _Spec, text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_DEVANAGARI_DIGITS)
    text = _RE_GROUP_SPACE.sub("", text)
    text = text.translate(textnorm._TYPOGRAPHY)
    text = textnorm._RE_SPACE.sub(" ", text).strip()
    if not text:
        return ""
    text = _RE_SPACE_BEFORE_PUNCT.sub(r"\1", text)  # "Dr ." is "Dr."
    if spec.space_groups:
        text = _RE_PLAIN_GROUPS.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = re.sub(r"º(?=\s?[CF]\b)", "°", text)
    text = textnorm._RE_ELLIPSIS.sub("\u2026", text)
    text = _abbreviations(spec, text)
    text = _dates(spec, text)
    text = _RE_RANGE.sub(rf"\1 {spec.range_word} ", text)
    text = textnorm._RE_DOUBLE_DASH.sub(" \u2014 ", text)
    text = textnorm._RE_EN_DASH.sub(" \u2014 ", text)
    text = _times(spec, text)
    text = textnorm._RE_NEGATIVE.sub(f"{spec.minus} ", text)
    text = _currency(spec, text)
    text = _percent(spec, text)
    text = _ordinals(spec, text)
    text = _units(spec, text)
    text = _numbers(spec, text)
    text = _symbols(spec, text)
    text = textnorm._RE_SPACE.sub(" ", text).strip()
    text = _RE_SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return unicodedata.normalize("NFC", text)


def _base(language: str) -> str:
    base = (language or "en").strip().replace("_", "-").split("-")[0].lower()
    base = _ALIASES.get(base, base)
    if base not in LANGUAGES:
        raise ValueError(
            f"no text normalisation for language {language!r}; known: {', '.join(sorted(LANGUAGES))}"
        )
    return base


def normalize_for(text: str, language: str = "en") -> str:
    """``text`` with what a G2P frontend reads badly written out as words, in
    ``language`` (a BCP 47 tag or its language subtag: ``en``, ``es``, ``pt-BR``).

    English is exactly :func:`voicecast.textnorm.normalize`; es, fr, it, pt and hi
    follow the rules in this module's docstring. Raises :class:`ValueError` for
    any other language.

    >>> normalize_for("El 12/03/2024 pagué 12,50 €.", "es")
    'El doce de marzo de dos mil veinticuatro pagué doce euros con cincuenta céntimos.'
    """
    base = _base(language)
    if base == "en":
        return textnorm.normalize(text)
    return _normalize(_SPECS[base], text)


def ends_with_title(text: str, language: str) -> bool:
    """Whether ``text`` ends with an abbreviation of ``language`` that never
    ends a sentence (``Sr.``, ``Mme``, ``Dott.``): a sentence splitter that cut
    there cut a name in two. False for English and unknown languages."""
    try:
        spec = _SPECS.get(_base(language))
    except ValueError:
        return False
    if spec is None:  # English
        return False
    tail = text.rstrip()
    for pattern, _words, may_end in spec.abbreviations:
        if not may_end and re.search(f"(?:{pattern})$", tail):
            return True
    return False
