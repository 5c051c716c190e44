"""English text normalization for TTS (pure)."""

from __future__ import annotations

import pytest

from voicecast.textnorm import (
    normalize,
    number_to_words,
    ordinal_to_words,
    words_for_wer,
    year_to_words,
)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (21, "twenty-one"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (999, "nine hundred ninety-nine"),
        (1000, "one thousand"),
        (1200, "one thousand two hundred"),
        (1_000_000, "one million"),
        (2_500_017, "two million five hundred thousand seventeen"),
        (-42, "minus forty-two"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
        (5, "fifth"),
        (8, "eighth"),
        (9, "ninth"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty-first"),
        (100, "one hundredth"),
        (103, "one hundred third"),
    ],
)
def test_ordinal_to_words(n: int, words: str) -> None:
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1999, "nineteen ninety-nine"),
        (2024, "twenty twenty-four"),
        (2000, "two thousand"),
        (2005, "two thousand five"),
        (1905, "nineteen oh five"),
        (1800, "eighteen hundred"),
        (1066, "ten sixty-six"),
    ],
)
def test_year_to_words(n: int, words: str) -> None:
    assert year_to_words(n) == words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cardinals, separators, negatives, decimals
        ("I have 3 apples.", "I have three apples."),
        ("About 1,200 people came.", "About one thousand two hundred people came."),
        ("It was 1,000,000 strong", "It was one million strong"),
        ("It fell to -5 degrees.", "It fell to minus five degrees."),
        ("x is \u22122", "x is minus two"),
        ("Pi is 3.14 roughly.", "Pi is three point one four roughly."),
        ("Only .5 left", "Only point five left"),
        ("Agent 007", "Agent zero zero seven"),
        # years and decades
        ("Born in 1999.", "Born in nineteen ninety-nine."),
        ("Since 2024,", "Since twenty twenty-four,"),
        ("The 1990s", "The nineteen nineties"),
        ("the '80s", "the eighties"),
        ("the 2000s", "the two thousands"),
        # ordinals
        ("the 21st century", "the twenty-first century"),
        ("my 2nd try and 3rd", "my second try and third"),
        ("the 100th day", "the one hundredth day"),
        # money
        ("It costs $5.50.", "It costs five dollars and fifty cents."),
        ("Just $1", "Just one dollar"),
        ("Only $0.99", "Only ninety-nine cents"),
        ("£3 each", "three pounds each"),
        ("€20", "twenty euros"),
        ("$1.5 million", "one point five million dollars"),
        ("50¢", "fifty cents"),
        # percentages
        ("Up 45%", "Up forty-five percent"),
        ("Down 3.5%", "Down three point five percent"),
        # times
        ("At 10:30.", "At ten thirty."),
        ("At 9:05", "At nine oh five"),
        ("At 12:00", "At twelve o'clock"),
        ("At 10:30 a.m. sharp", "At ten thirty AM sharp"),
        ("Leave at 6:45 p.m.", "Leave at six forty-five PM."),
        ("Meet at 5 pm. Then go.", "Meet at five PM. Then go."),
        ("at 10.30am", "at ten thirty AM"),
        ("at 6.45 pm", "at six forty-five PM"),
        ("add 6.45 more", "add six point four five more"),
        # fractions, ranges, dates, phone numbers
        ("Add 1/2 cup", "Add one half cup"),
        ("Add 3/4 cup", "Add three quarters cup"),
        ("2 1/2 cups", "two and a half cups"),
        ("2/3 of them", "two thirds of them"),
        ("Open 24/7", "Open twenty-four seven"),
        ("pages 10-20", "pages ten to twenty"),
        ("1990\u20131995", "nineteen ninety to nineteen ninety-five"),
        ("On 12/25/2024", "On December twenty-fifth, twenty twenty-four"),
        ("Call 555-123-4567", "Call five five five, one two three, four five six seven"),
        # units
        ("A 5 km run", "A five kilometers run"),
        ("1 ft tall", "one foot tall"),
        ("20\u00b0C outside", "twenty degrees Celsius outside"),
        ("at 60 mph", "at sixty miles per hour"),
        # abbreviations
        ("Mr. Smith and Mrs. Jones", "Mister Smith and Missus Jones"),
        ("Dr. Who", "Doctor Who"),
        ("Ask Dr. Smith", "Ask Doctor Smith"),
        ("St. Louis", "Saint Louis"),
        ("He lives on Main St. He is happy.", "He lives on Main Street. He is happy."),
        ("at 42 Baker St. in London", "at forty-two Baker Street in London"),
        ("cats vs. dogs", "cats versus dogs"),
        ("cats vs dogs", "cats versus dogs"),
        ("apples, pears, etc. and more", "apples, pears, et cetera and more"),
        ("apples, pears, etc.", "apples, pears, et cetera."),
        ("fruit, e.g. plums", "fruit, for example plums"),
        ("fruit, i.e., plums", "fruit, that is, plums"),
        ("No. 5", "number five"),
        ("We're #1", "We're number one"),
        ("No. I won't.", "No. I won't."),
        ("Acme Inc. makes it", "Acme Incorporated makes it"),
        ("John Smith Jr. said", "John Smith Junior said"),
        ("on Jan. 5", "on January fifth"),
        ("June 21, 2024", "June twenty-first, twenty twenty-four"),
        ("in May 2024", "in May twenty twenty-four"),
        ("by Friday. June 21.", "by Friday. June twenty-first."),
        ("in the U.S. today", "in the US today"),
        ("We live in the U.S.", "We live in the US."),
        # symbols
        ("rock & roll", "rock and roll"),
        ("2+2=4", "two plus two equals four"),
        ("3 x 4", "three times four"),
        # typography and whitespace
        ("\u201cHello,\u201d she said", '"Hello," she said'),
        ("don\u2019t", "don't"),
        ("Wait... what", "Wait\u2026 what"),
        ("Wait . . . what", "Wait\u2026 what"),
        ("yes -- no", "yes \u2014 no"),
        ("yes\u2014no", "yes \u2014 no"),
        ("yes \u2013 no", "yes \u2014 no"),
        ("  lots   of\n\nspace\t here ", "lots of space here"),
        ("no\u00a0break", "no break"),
        ("", ""),
        ("   \n ", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_is_idempotent() -> None:
    text = "Dr. Smith paid $5.50 on Jan. 21st, 1999 -- 45% more at 10:30 a.m."
    once = normalize(text)
    assert normalize(once) == once
    assert not any(ch.isdigit() for ch in once)


def test_words_for_wer_strips_case_and_punctuation() -> None:
    assert words_for_wer("Hello, World! It's 5 o'clock.") == [
        "hello",
        "world",
        "it's",
        "five",
        "o'clock",
    ]


def test_words_for_wer_agrees_across_spellings() -> None:
    assert words_for_wer("It cost $5.") == words_for_wer("it cost five dollars")
    assert words_for_wer("the 21st") == words_for_wer("The twenty-first")
    assert words_for_wer("Mr. Smith") == words_for_wer("Mister Smith")
    assert words_for_wer("45%") == words_for_wer("forty five percent")
    assert words_for_wer("\u201cquoted\u201d \u2014 text\u2026") == ["quoted", "text"]


def test_words_for_wer_empty() -> None:
    assert words_for_wer("") == []
    assert words_for_wer(" ... !? ") == []
