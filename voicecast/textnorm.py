"""English text normalization for speech synthesis.

:func:`normalize` rewrites what a grapheme-to-phoneme frontend reads badly into
plain words: numbers (cardinals with thousands separators, negatives, decimals,
ordinals, years, decades, simple fractions), money, percentages, clock times,
common abbreviations and a few symbols, and it canonicalises typography (curly
quotes, dashes, ellipsis, odd spaces). It is pure Python with no dependencies so
that it can run anywhere, including in tests and in the evaluation of rendered
speech.

:func:`words_for_wer` runs the same normalization on *both* the reference text
and a recogniser's transcript, then lowercases and strips punctuation, so that a
word error rate compares like with like ("$5" against "five dollars", "21st"
against "twenty-first").

The rules are deliberately conservative heuristics, documented where they
choose: a bare four-digit number from 1000 to 2099 is read as a year
("1999" -> "nineteen ninety-nine"), use "1,999" for the count.

What this module produces is spoken: a change to its output must bump
``workers.engines.kokoro.G2P_VERSION`` so that cached renders are redone.
"""

from __future__ import annotations

import re

__all__ = [
    "normalize",
    "number_to_words",
    "ordinal_to_words",
    "words_for_wer",
    "year_to_words",
]

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = (
    (10**15, "quadrillion"),
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (10**3, "thousand"),
)
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


# --------------------------------------------------------------------------- numbers


def _under_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{_ONES[hundreds]} hundred")
    if rest:
        if rest < 20:
            parts.append(_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            parts.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    return " ".join(parts)


def number_to_words(n: int) -> str:
    """Cardinal number in words, American style without "and".

    >>> number_to_words(-1200)
    'minus one thousand two hundred'
    """
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 1000:
        return _under_thousand(n) if n else "zero"
    if n >= 1000 * _SCALES[0][0]:
        return _digits_to_words(str(n))
    parts = []
    for value, name in _SCALES:
        count, n = divmod(n, value)
        if count:
            parts.append(f"{_under_thousand(count)} {name}")
    if n:
        parts.append(_under_thousand(n))
    return " ".join(parts)


def ordinal_to_words(n: int) -> str:
    """Ordinal in words: 21 -> "twenty-first", 100 -> "one hundredth"."""
    words = number_to_words(n)
    head, sep, last = max(words.rpartition(" "), words.rpartition("-"), key=lambda p: len(p[0]))
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def year_to_words(n: int) -> str:
    """A year as spoken: 1999 -> "nineteen ninety-nine", 2005 -> "two thousand five",
    1905 -> "nineteen oh five", 1800 -> "eighteen hundred"."""
    if n % 1000 == 0 or 2000 <= n < 2010 or not 1000 <= n < 10000:
        return number_to_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{number_to_words(high)} hundred"
    if low < 10:
        return f"{number_to_words(high)} oh {_ONES[low]}"
    return f"{number_to_words(high)} {number_to_words(low)}"


def _digits_to_words(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits if d.isdigit())


def _plural_number_word(words: str) -> str:
    """ "nineteen ninety" -> "nineteen nineties" (for decades)."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + "s"


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _cardinal_text(integer: str, fraction: str | None = None) -> str:
    """Words for a numeral given as text, with an optional decimal fraction."""
    digits = integer.replace(",", "")
    if not digits:
        words = ""
    elif len(digits) > 1 and digits.startswith("0"):
        words = _digits_to_words(digits)  # "007": read the digits
    else:
        words = number_to_words(int(digits))
    if fraction:
        words = (words + " point " if words else "point ") + _digits_to_words(fraction)
    return words


# --------------------------------------------------------------------------- tables

_CURRENCIES = {
    # symbol: (unit singular, unit plural, subunit singular, subunit plural)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}

# Abbreviations that come before a capitalised name; the period is dropped.
_TITLES = {
    "Mr": "Mister",
    "Mrs": "Missus",
    "Ms": "Miz",
    "Dr": "Doctor",
    "Prof": "Professor",
    "St": "Saint",
    "Mt": "Mount",
    "Ft": "Fort",
    "Gen": "General",
    "Capt": "Captain",
    "Lt": "Lieutenant",
    "Sgt": "Sergeant",
    "Col": "Colonel",
    "Rev": "Reverend",
    "Gov": "Governor",
    "Sen": "Senator",
    "Rep": "Representative",
    "Hon": "Honorable",
}

# Abbreviations that may end a sentence: the period is kept when it does.
_TRAILING = {
    "etc": "et cetera",
    "Jr": "Junior",
    "Sr": "Senior",
    "Inc": "Incorporated",
    "Ltd": "Limited",
    "Corp": "Corporation",
    "Co": "Company",
    "St": "Street",
    "Dr": "Drive",
    "Ave": "Avenue",
    "Blvd": "Boulevard",
    "Rd": "Road",
    "approx": "approximately",
    "dept": "department",
    "Dept": "Department",
    "Jan": "January",
    "Feb": "February",
    "Mar": "March",
    "Apr": "April",
    "Jun": "June",
    "Jul": "July",
    "Aug": "August",
    "Sep": "September",
    "Sept": "September",
    "Oct": "October",
    "Nov": "November",
    "Dec": "December",
}

# Abbreviations written with inner periods; matched case-insensitively.
_DOTTED = {
    "e.g.": "for example",
    "i.e.": "that is",
    "cf.": "compare",
    "vs.": "versus",
    "viz.": "namely",
}

# Units after a number: (singular, plural).
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "mi": ("mile", "miles"),
    "ml": ("milliliter", "milliliters"),
    "ms": ("millisecond", "milliseconds"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
    "gb": ("gigabyte", "gigabytes"),
    "tb": ("terabyte", "terabytes"),
    "hz": ("hertz", "hertz"),
    "khz": ("kilohertz", "kilohertz"),
    "mhz": ("megahertz", "megahertz"),
    "ghz": ("gigahertz", "gigahertz"),
    "°c": ("degree Celsius", "degrees Celsius"),
    "°f": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
}

_FRACTIONS = {2: ("half", "halves"), 4: ("quarter", "quarters")}

_SCALE_WORDS = {
    "thousand": "thousand",
    "k": "thousand",
    "million": "million",
    "m": "million",
    "mn": "million",
    "billion": "billion",
    "b": "billion",
    "bn": "billion",
    "trillion": "trillion",
    "t": "trillion",
    "tn": "trillion",
}

# --------------------------------------------------------------------------- regexes

_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2012": "\u2013",  # figure dash -> en dash
        "\u2015": "\u2014",  # horizontal bar -> em dash
        "\u2212": "\u2212",  # minus sign stays; handled with numbers
        "\u00a0": " ",
        "\u2007": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u200b": "",
        "\ufeff": "",
        "\u00ad": "",
    }
)

_NUM = r"\d{1,3}(?:,\d{3})+|\d+"  # integer part, with or without thousands separators
_RE_ELLIPSIS = re.compile(r"\.{3,}|(?:\. ){2,}\.")
_RE_DOUBLE_DASH = re.compile(r"\s*(?:--+|\u2014)\s*")
_RE_NUM_RANGE = re.compile(rf"(?<![\d.,\-])({_NUM})\s*(?:\u2013|-(?=\d))\s*(?=\d)(?!\d+-\d)")
_RE_EN_DASH = re.compile(r"\s*\u2013\s*")
# The period is optional only where a recogniser may drop it ("Mr Smith").
_RE_TITLE = re.compile(r"\b(?:(Mr|Mrs|Ms|Dr|St)\.?|(" + "|".join(_TITLES) + r")\.)(?=\s+[A-Z])")
# "Main St." / "42nd St." / "Elm Dr.": a capitalised word that does not start a
# sentence, or a number, before St/Dr makes it a street, not a title.
_RE_STREET_BEFORE = re.compile(r"(?:[^\s.!?\"')\]]\s+[A-Z][a-z]*|\d\w*)\s+$")
_RE_TRAILING = re.compile(r"\b(" + "|".join(sorted(_TRAILING, key=len, reverse=True)) + r")\.")
_RE_DOTTED = re.compile(r"(?<!\w)(" + "|".join(re.escape(k) for k in _DOTTED) + r")", re.IGNORECASE)
# "U.S.", "a.m.", "U.S.A.": letters with periods; read as the letters ("US").
_RE_INITIALISM = re.compile(r"(?<![\w.])((?:[A-Za-z]\.){2,})")
_RE_VS = re.compile(r"\bvs\b(?!\.)", re.IGNORECASE)
_RE_NUMBER_ABBR = re.compile(r"\b(No|Nos|no|nos|Nr)\.\s*(?=\d)|#(?=\d)")
_RE_CURRENCY = re.compile(
    rf"(?:\b(?:US|AU|CA|NZ|HK))?([$£€¥])\s?({_NUM})(?:\.(\d+))?"
    r"(?:\s?(thousand|million|billion|trillion|[kKmMbBtT]n?)\b)?"
)
_RE_CENTS = re.compile(rf"\b({_NUM})\s?¢")
# "a.m." keeps its last period when that also ends the sentence.
_AMPM = r"([aApP])\.?\s?[mM]\b(?:\.(?!\s*$|\s+[\"']?[A-Z]))?"
# "10:30", "10:30 a.m.", and "10.30am" (a period only with am/pm: else a decimal).
_RE_TIME = re.compile(
    rf"\b([01]?\d|2[0-3]):([0-5]\d)(?!:?\d)(?:\s*{_AMPM})?"
    rf"|\b(1[0-2]|0?\d)\.([0-5]\d)\s*{_AMPM}"
)
_RE_HOUR_AMPM = re.compile(rf"\b(1[0-2]|0?[1-9])\s*{_AMPM}")
_RE_PERCENT = re.compile(rf"({_NUM})(?:\.(\d+))?\s?%")
_RE_ORDINAL = re.compile(rf"\b({_NUM})(st|nd|rd|th)\b", re.IGNORECASE)
_RE_DECADE = re.compile(r"(?:\b|')(\d{2}|1\d{3}|20\d{2})'?s\b")
_RE_FRACTION = re.compile(r"(?<![\d/.,])(?:(\d+)\s+)?(\d)/(\d{1,2})(?![\d/])")
_MONTHS = ("January February March April May June July August September October November December").split()
# US numeric dates, month first: 12/25/2024.
_RE_DATE = re.compile(r"(?<![\d/])(1[0-2]|0?[1-9])/(3[01]|[12]\d|0?[1-9])/(\d{4}|\d{2})(?![\d/])")
# "June 21" reads "June twenty-first".
_RE_MONTH_DAY = re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(3[01]|[12]\d|0?[1-9])\b(?![\d:%]|\.\d)")
_RE_SLASH_DIGITS = re.compile(r"(?<=\d)/(?=\d)")
# North American phone numbers: read digit by digit in their groups.
_RE_PHONE = re.compile(r"(?<![\w\-])(?:(?:\+?1[\s.-])?(?:\(\d{3}\)\s?|\d{3}[\s.-]))?\d{3}-\d{4}(?![\w-])")
_RE_NEGATIVE = re.compile(r"(?:(?<![\w.,\-])-|\u2212)(?=\d)")
_RE_UNIT = re.compile(
    rf"(?<![\w.])({_NUM})(?:\.(\d+))?\s?("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?![\w/])",
    re.IGNORECASE,
)
_RE_NUMBER = re.compile(rf"(?<![\w.])(?:({_NUM})(?:\.(\d+))?|\.(\d+))(?![\d])")
_RE_SYMBOLS = (
    (re.compile(r"\s*&\s*"), " and "),
    (re.compile(r"(?<=\w)\s*\+\s*(?=\w)|\s\+\s"), " plus "),
    (re.compile(r"(?<=\w)\s*=\s*(?=\w)|\s=\s"), " equals "),
    (re.compile(r"(?<=\d)\s*[x\u00d7]\s*(?=\d)|\s\u00d7\s"), " times "),
    (re.compile(r"\s@\s"), " at "),
    (re.compile(r"%"), " percent"),
    (re.compile(r"[*_~^|\\<>{}\[\]]"), " "),
)
_RE_SPACE = re.compile(r"\s+")
_RE_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?\u2026)])")


# --------------------------------------------------------------------------- passes


def _phone(m: re.Match[str]) -> str:
    groups = re.findall(r"\d+", m.group(0))
    return ", ".join(_digits_to_words(g) for g in groups)


def _punctuation(text: str) -> str:
    text = _RE_ELLIPSIS.sub("\u2026", text)
    text = _RE_PHONE.sub(_phone, text)
    # A range between numbers reads "to"; an em dash (or "--") is a pause.
    text = _RE_NUM_RANGE.sub(r"\1 to ", text)
    text = _RE_DOUBLE_DASH.sub(" \u2014 ", text)
    text = _RE_EN_DASH.sub(" \u2014 ", text)
    return _RE_NEGATIVE.sub("minus ", text)


def _abbreviations(text: str) -> str:
    text = _RE_NUMBER_ABBR.sub("number ", text)
    text = _RE_DOTTED.sub(lambda m: _DOTTED[m.group(1).lower()], text)
    text = _RE_VS.sub("versus", text)
    # The last period stays only at the very end; before a capital it is as often
    # part of a name ("U.S. Army") as a sentence end.
    text = _RE_INITIALISM.sub(
        lambda m: m.group(1).replace(".", "").upper() + ("." if not m.string[m.end() :].strip() else ""),
        text,
    )

    def title(m: re.Match[str]) -> str:
        abbr = m.group(1) or m.group(2)
        if abbr in ("St", "Dr") and _RE_STREET_BEFORE.search(m.string, 0, m.start()):
            return m.group(0)  # left for the street reading below
        return _TITLES[abbr]

    text = _RE_TITLE.sub(title, text)

    def trailing(m: re.Match[str]) -> str:
        word = _TRAILING[m.group(1)]
        rest = text[m.end() :]
        # Keep the period when it also ends the sentence: end of text, or a
        # capitalised word follows ("... on Main St. He left").
        if not rest.strip() or re.match(r"\s+[\"']?[A-Z]", rest):
            return word + "."
        return word

    return _RE_TRAILING.sub(trailing, text)


def _currency(text: str) -> str:
    def money(m: re.Match[str]) -> str:
        symbol, integer, fraction, scale = m.groups()
        unit, units, sub, subs = _CURRENCIES[symbol]
        if scale:
            scale_word = _SCALE_WORDS[scale.lower()]
            return f"{_cardinal_text(integer, fraction)} {scale_word} {units}"
        whole = _int(integer)
        if fraction is not None and len(fraction) != 2:
            return f"{_cardinal_text(integer, fraction)} {units}"
        cents = int(fraction) if fraction else 0
        parts = []
        if whole or not cents:
            parts.append(f"{number_to_words(whole)} {unit if whole == 1 else units}")
        if cents:
            parts.append(f"{number_to_words(cents)} {sub if cents == 1 else subs}")
        return " and ".join(parts)

    text = _RE_CURRENCY.sub(money, text)
    return _RE_CENTS.sub(
        lambda m: f"{_cardinal_text(m.group(1))} {'cent' if _int(m.group(1)) == 1 else 'cents'}",
        text,
    )


def _times(text: str) -> str:
    def clock(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            hours, minutes, ampm = int(m.group(1)), int(m.group(2)), m.group(3)
        else:
            hours, minutes, ampm = int(m.group(4)), int(m.group(5)), m.group(6)
        words = number_to_words(hours)
        if minutes == 0:
            words += "" if ampm else " o'clock"
        elif minutes < 10:
            words += f" oh {_ONES[minutes]}"
        else:
            words += " " + number_to_words(minutes)
        if ampm:
            words += f" {ampm.upper()}M"  # espeak spells "AM"; "A M" reads as "uh em"
        return words

    text = _RE_TIME.sub(clock, text)
    return _RE_HOUR_AMPM.sub(lambda m: f"{number_to_words(int(m.group(1)))} {m.group(2).upper()}M", text)


def _percent(text: str) -> str:
    return _RE_PERCENT.sub(lambda m: _cardinal_text(m.group(1), m.group(2)) + " percent", text)


def _ordinals_and_decades(text: str) -> str:
    text = _RE_ORDINAL.sub(lambda m: ordinal_to_words(_int(m.group(1))), text)

    def decade(m: re.Match[str]) -> str:
        digits = m.group(1)
        n = int(digits)
        if len(digits) == 2:
            if n % 10 or n < 20:  # "'95s" is not a decade; leave the number alone
                return m.group(0)
            return _plural_number_word(number_to_words(n))
        if n % 10:
            return m.group(0)
        return _plural_number_word(year_to_words(n))

    return _RE_DECADE.sub(decade, text)


def _dates(text: str) -> str:
    def date(m: re.Match[str]) -> str:
        month, day, year = m.groups()
        year_words = year_to_words(int(year)) if len(year) == 4 else _cardinal_text(year)
        return f"{_MONTHS[int(month) - 1]} {ordinal_to_words(int(day))}, {year_words}"

    text = _RE_DATE.sub(date, text)
    return _RE_MONTH_DAY.sub(lambda m: f"{m.group(1)} {ordinal_to_words(int(m.group(2)))}", text)


def _fractions(text: str) -> str:
    def fraction(m: re.Match[str]) -> str:
        whole, num_s, den_s = m.groups()
        num, den = int(num_s), int(den_s)
        if not 0 < num < den <= 10:
            return m.group(0)  # "24/7", "12/25": not a simple fraction
        if den in _FRACTIONS:
            name = _FRACTIONS[den][0 if num == 1 else 1]
        else:
            name = ordinal_to_words(den) + ("" if num == 1 else "s")
        if whole is not None:
            article = "a" if num == 1 else number_to_words(num)
            return f"{_cardinal_text(whole)} and {article} {name}"
        return f"{number_to_words(num)} {name}"

    text = _RE_FRACTION.sub(fraction, text).replace("24/7", "24 7")
    return _RE_SLASH_DIGITS.sub(" slash ", text)


def _units(text: str) -> str:
    def unit(m: re.Match[str]) -> str:
        integer, fraction, name = m.groups()
        singular, plural = _UNITS[name.lower()]
        # "5 m"/"5 M" are ambiguous (meters, million) and are left out of _UNITS;
        # "mb" vs "Mb" (bits) is not distinguished.
        one = fraction is None and _int(integer) == 1
        return f"{_cardinal_text(integer, fraction)} {singular if one else plural}"

    return _RE_UNIT.sub(unit, text)


def _numbers(text: str) -> str:
    def number(m: re.Match[str]) -> str:
        integer, fraction, bare_fraction = m.groups()
        if bare_fraction is not None:
            return _cardinal_text("", bare_fraction)
        if fraction is None and "," not in integer and len(integer) == 4:
            n = int(integer)
            if 1000 <= n < 2100 and not integer.startswith("0"):
                return year_to_words(n)
        return _cardinal_text(integer, fraction)

    return _RE_NUMBER.sub(number, text)


def _symbols(text: str) -> str:
    for pattern, replacement in _RE_SYMBOLS:
        text = pattern.sub(replacement, text)
    return text


def normalize(text: str) -> str:
    """Rewrite English ``text`` into words a phonemizer reads correctly.

    Numbers, money, percentages, times, ordinals, years, fractions, units,
    common abbreviations and symbols become words; curly quotes become straight
    ones, ``...`` becomes ``…``, ``--`` and spaced dashes become ``—``; all runs of
    whitespace (newlines included) become one space. Returns ``""`` for text with
    nothing to say.

    >>> normalize("Dr. Smith paid $5.50 on Jan. 21st, 1999 -- 45% more.")
    'Doctor Smith paid five dollars and fifty cents on January twenty-first, \
nineteen ninety-nine — forty-five percent more.'
    """
    text = text.translate(_TYPOGRAPHY)
    text = _RE_SPACE.sub(" ", text).strip()
    if not text:
        return ""
    text = _punctuation(text)
    text = _abbreviations(text)
    text = _currency(text)
    text = _times(text)
    text = _percent(text)
    text = _ordinals_and_decades(text)
    text = _dates(text)
    text = _fractions(text)
    text = _units(text)
    text = _symbols(text)
    text = _numbers(text)
    text = _RE_SPACE.sub(" ", text).strip()
    return _RE_SPACE_BEFORE_PUNCT.sub(r"\1", text)


_RE_WER_DROP = re.compile(r"[^\w\s']|_")
_RE_WER_QUOTE = re.compile(r"(?<!\w)'|'(?!\w)")


def words_for_wer(text: str) -> list[str]:
    """Words of ``text`` for a word error rate: normalized, lowercased, without
    punctuation; hyphenated words count as their parts ("twenty-one" is two
    words), apostrophes inside words are kept ("don't")."""
    text = normalize(text).lower().replace("-", " ").replace("\u2014", " ")
    text = _RE_WER_DROP.sub(" ", text)
    text = _RE_WER_QUOTE.sub(" ", text)
    return text.split()
