"""The pronunciation lexicon: file format, application, errors (pure code, no engine)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from voicecast.errors import InputError
from voicecast.lexicon import (
    PHONEME_CLOSE,
    PHONEME_OPEN,
    Entry,
    Lexicon,
    load_lexicon,
    parse_lexicon,
    split_phonemes,
)

EXAMPLE = """\
# comment lines and blank lines are ignored

Aesop = EE-sop                 # a respelling: spoken as if the text said "EE-sop"
Hermione = her-MY-oh-nee
Nguyen = /wˈɪn/                # phonemes (Kokoro/espeak IPA) between slashes
live wire = lyve wire          # a phrase (several words) works too
wire = wyer
re:colou?r(s?) = kuller\\1      # a regular expression; \\1 backrefs allowed in respellings
"""


@pytest.fixture
def lex() -> Lexicon:
    return parse_lexicon(EXAMPLE, source="project.lex")


def _error(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_lexicon(text, source="p.lex")
    return info.value


# --------------------------------------------------------------------------- parsing


def test_parses_every_kind_of_entry(lex: Lexicon) -> None:
    assert lex.source == "project.lex"
    assert lex.entries == (
        Entry("Aesop", "EE-sop", phonemes=False, pattern=False, line=3),
        Entry("Hermione", "her-MY-oh-nee", phonemes=False, pattern=False, line=4),
        Entry("Nguyen", "wˈɪn", phonemes=True, pattern=False, line=5),
        Entry("live wire", "lyve wire", phonemes=False, pattern=False, line=6),
        Entry("wire", "wyer", phonemes=False, pattern=False, line=7),
        Entry("colou?r(s?)", "kuller\\1", phonemes=False, pattern=True, line=8),
    )


def test_separator_spacing_comments_and_phoneme_spaces() -> None:
    lex = parse_lexicon(
        "  # indented comment\n"
        "Tolkien=TOLL-keen\n"  # no spaces around "="
        "re:x(?=y)z? = ex   # lookahead: the spaced ' = ' is the separator\n"
        "C#  =  see sharp\n"  # '#' not after whitespace is kept
        "big   deal = /bˈɪɡ    dˈiːl/\n",
        source="s",
    )
    assert [(e.key, e.value) for e in lex.entries] == [
        ("Tolkien", "TOLL-keen"),
        ("x(?=y)z?", "ex"),
        ("C#", "see sharp"),
        ("big deal", "bˈɪɡ dˈiːl"),
    ]
    assert [e.line for e in lex.entries] == [2, 3, 4, 5]


def test_empty_lexicon_changes_nothing() -> None:
    lex = parse_lexicon("# nothing\n\n", source="s")
    assert lex.entries == ()
    assert lex.apply("Aesop's wire.") == "Aesop's wire."
    assert lex.matches("Aesop") == []


def test_load_reads_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "names.lex"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.encode("utf-8"))
    lex = load_lexicon(path)
    assert lex.source == str(path)
    assert lex.entries[0].key == "Aesop"
    assert lex.apply("Nguyen") == f"{PHONEME_OPEN}wˈɪn{PHONEME_CLOSE}"


# --------------------------------------------------------------------------- applying


def test_apply_respellings_and_phonemes(lex: Lexicon) -> None:
    assert lex.apply("Aesop met Hermione and Nguyen.") == "EE-sop met her-MY-oh-nee and ⟦wˈɪn⟧."


def test_whole_words_only(lex: Lexicon) -> None:
    assert lex.apply("Aesopian wires rewire a wire_x") == "Aesopian wires rewire a wire_x"
    assert lex.apply("(Aesop)") == "(EE-sop)"
    assert lex.apply("Aesop-like") == "EE-sop-like"


def test_case_insensitive(lex: Lexicon) -> None:
    assert lex.apply("AESOP, aesop, AeSoP") == "EE-sop, EE-sop, EE-sop"
    assert lex.apply("COLOURS") == "kullerS"  # a group copies the text as written


def test_possessive_keeps_its_suffix(lex: Lexicon) -> None:
    assert lex.apply("Aesop's fables") == "EE-sop's fables"
    assert lex.apply("Nguyen's cat") == "⟦wˈɪn⟧'s cat"


def test_longest_match_first_phrase_before_word(lex: Lexicon) -> None:
    assert lex.apply("a live wire and a wire") == "a lyve wire and a wyer"
    # Whitespace inside a phrase matches any run of whitespace, line breaks included.
    assert lex.apply("a live\n  wire") == "a lyve wire"


def test_longest_wins_between_plain_keys_and_patterns() -> None:
    lex = parse_lexicon("re:new\\w* = NOO\nnew york = noo york city\nnew = nyoo\n", source="s")
    assert lex.apply("new york") == "noo york city"  # plain phrase, longer than the pattern's "new"
    assert lex.apply("newark") == "NOO"  # the pattern's match is longer than "new" (whole word)
    # Same length: the plain key wins over a pattern.
    assert lex.apply("new") == "nyoo"


def test_no_double_replacement() -> None:
    # "wire" -> "live wire" must not then become "lyve wire"; "a" -> "b", "b" -> "a" swap.
    lex = parse_lexicon("wire = live wire\nlive wire = lyve wire\na = b\nb = a\n", source="s")
    assert lex.apply("wire") == "live wire"
    assert lex.apply("a b a") == "b a b"


def test_regex_backrefs_and_named_groups() -> None:
    lex = parse_lexicon(
        "re:colou?r(s?) = kuller\\1\nre:(?P<n>\\d+)(st|nd) = \\g<n> \\2-th\n", source="s"
    )
    assert lex.apply("Colour, colors and COLOR.") == "kuller, kullers and kuller."
    assert lex.apply("the 21st and 2nd") == "the 21 st-th and 2 nd-th"
    # Whole-word: not inside a longer word.
    assert lex.apply("discolored") == "discolored"


def test_regex_case_sensitive_part() -> None:
    lex = parse_lexicon("re:(?-i:US) = you ess\n", source="s")
    assert lex.apply("US and us") == "you ess and us"


def test_pattern_order_breaks_ties() -> None:
    lex = parse_lexicon("re:ab. = first\nre:a.c = second\n", source="s")
    assert lex.apply("abc") == "first"


def test_text_without_matches_unchanged(lex: Lexicon) -> None:
    text = "Nothing here is in the lexicon — not even “colourful” words, 42 of them!\n"
    assert lex.apply(text) == text


def test_existing_phoneme_spans_are_left_alone(lex: Lexicon) -> None:
    text = "⟦Aesop wire⟧ Aesop"
    assert lex.apply(text) == "⟦Aesop wire⟧ EE-sop"
    assert lex.matches("⟦Aesop⟧") == []


def test_apply_is_deterministic_and_pure(lex: Lexicon) -> None:
    text = "Aesop's live wire, Nguyen's colour."
    first = lex.apply(text)
    assert all(lex.apply(text) == first for _ in range(3))
    again = parse_lexicon(EXAMPLE, source="other.lex")
    assert again.apply(text) == first
    assert pickle.loads(pickle.dumps(lex)).apply(text) == first


def test_matches(lex: Lexicon) -> None:
    used = lex.matches("Nguyen read Aesop's colours to Aesop on a live wire.")
    assert [e.key for e in used] == ["Nguyen", "Aesop", "colou?r(s?)", "live wire"]
    assert lex.matches("nothing to see") == []


def test_digest_ignores_comments_order_and_case() -> None:
    a = parse_lexicon("Aesop = EE-sop\nNguyen = /wˈɪn/\n", source="a")
    b = parse_lexicon("# names\nnguyen = /wˈɪn/   # phonemes\n\nAESOP   =   EE-sop\n", source="b")
    c = parse_lexicon("Aesop = EE-sopp\nNguyen = /wˈɪn/\n", source="a")
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()
    assert len(a.digest()) == 64
    # Pattern order matters (it breaks ties), so it is part of the digest.
    p1 = parse_lexicon("re:ab. = x\nre:a.c = y\n", source="s")
    p2 = parse_lexicon("re:a.c = y\nre:ab. = x\n", source="s")
    assert p1.digest() != p2.digest()


def test_split_phonemes() -> None:
    text = "Hi ⟦wˈɪn⟧'s ⟦⟧ end ⟦open"
    pieces = split_phonemes(text)
    assert pieces == [("Hi ", False), ("wˈɪn", True), ("'s ", False), ("", True), (" end ⟦open", False)]
    assert "".join(p if not ph else f"⟦{p}⟧" for p, ph in pieces) == text
    assert split_phonemes("plain") == [("plain", False)]
    assert split_phonemes("") == []


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("Aesop = EE-sop\nno separator here\n", 2, "expected 'WORD = RESPELLING'"),
        ("\n = value\n", 2, "empty key"),
        ("re: = value\n", 1, "empty key"),
        ("word =\n", 1, "empty value"),
        ("word =    # only a comment\n", 1, "empty value"),
        (
            "# c\nre:colou?r( = x\n",
            2,
            # The position is in the user's pattern, not in the whole-word wrapper.
            "bad regular expression 'colou?r(': missing ), unterminated subpattern at position 7",
        ),
        ("re:x* = y\n", 1, "matches the empty string"),
        ("re:colou?r(s?) = kuller\\2\n", 1, "invalid group reference 2"),
        ("re:(?P<a>x) = \\g<b>\n", 1, "bad respelling"),
        ("Nguyen = /wˈɪn\n", 1, "lack their closing '/'"),
        ("Nguyen = /\n", 1, "lack their closing '/'"),
        ("Nguyen = //\n", 1, "empty phonemes"),
        ("Nguyen = / /\n", 1, "empty phonemes"),
        ("Nguyen = win ⟦x⟧\n", 1, "write phonemes as /.../"),
    ],
)
def test_errors_name_file_and_line(text: str, line: int, needle: str) -> None:
    err = _error(text)
    assert err.file == "p.lex" and err.line == line
    assert str(err).startswith(f"p.lex:{line}: ")
    assert needle in str(err)


def test_duplicate_keys_name_both_lines() -> None:
    err = _error("Aesop = EE-sop\n# x\n\nAESOP = AY-sop\n")
    assert err.line == 4
    assert str(err).startswith("p.lex:4: duplicate key 'AESOP': already on line 1")
    err = _error("live  wire = a\nlive wire = b\n")
    assert "already on line 1" in str(err) and err.line == 2
    err = _error("re:ab = x\nre:ab = y\n")
    assert "duplicate key 're:ab'" in str(err) and err.line == 2
    # A plain key and a pattern with the same text are different keys.
    assert len(parse_lexicon("ab = x\nre:ab = y\n", source="s").entries) == 2


def test_check_phonemes_against_an_allowed_set() -> None:
    allowed = set("wˈɪnbdiːɡ")
    lex = parse_lexicon("Aesop = EE-sop\nNguyen = /wˈɪn/\nbig deal = /bˈɪɡ dˈiːl/\n", source="p.lex")
    with pytest.raises(InputError) as info:
        lex.check_phonemes(allowed)
    assert info.value.line == 3
    assert str(info.value).startswith("p.lex:3: phonemes /bˈɪɡ dˈiːl/ of 'big deal'")
    assert "'l' (U+006C)" in str(info.value)
    lex.check_phonemes(allowed | {"l"})  # spaces are always allowed; respellings are not checked


def test_load_checks_phonemes_when_given_a_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "p.lex"
    path.write_text("Nguyen = /wˈɪn/\nX = /ʘ/\n", encoding="utf-8")
    load_lexicon(path)  # no vocabulary: not checked
    with pytest.raises(InputError) as info:
        load_lexicon(path, allowed=frozenset("wˈɪn"))
    assert str(info.value).startswith(f"{path}:2: ") and "U+0298" in str(info.value)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read lexicon"):
        load_lexicon(tmp_path / "missing.lex")
    bad = tmp_path / "latin1.lex"
    bad.write_bytes("Ren\xe9e = ruh-NAY\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_lexicon(bad)
    broken = tmp_path / "broken.lex"
    broken.write_text("ok = fine\nbroken\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_lexicon(broken)
    assert str(info.value).startswith(f"{broken}:2: ")


# --------------------------------------------------------------------------- bounds


def test_nested_repeats_are_refused_naming_the_line() -> None:
    err = _error("ok = fine\nre:(a+)+b = bee\n")
    assert err.line == 2 and "repeats a part that repeats itself" in str(err)
    assert _error("re:(\\w+\\s?)*x = y\n").line == 1
    # Atomic and possessive forms do not backtrack: allowed.
    lex = parse_lexicon("re:(?>a+)+b = bee\nre:(c++)+d = dee\n", source="s")
    assert lex.apply("aaab ccd") == "bee dee"


def test_a_pattern_past_its_time_is_an_error_naming_the_entry() -> None:
    from voicecast.lexicon import LexiconTimeout

    # Overlapping alternatives backtrack exponentially without nesting a repeat.
    lex = parse_lexicon("fine = ok\nre:(a|aa)+b = bee\n", source="p.lex", timeout_s=0.2)
    assert lex.apply("aab fine") == "bee ok"
    with pytest.raises(LexiconTimeout) as info:
        lex.apply("a" * 5000 + "!")
    assert info.value.file == "p.lex" and info.value.line == 2
    assert "ran longer than 0.2 s" in str(info.value)
    assert isinstance(pickle.loads(pickle.dumps(info.value)), LexiconTimeout)


def _reference_apply(keys: dict[str, str], text: str) -> str:
    """Plain keys applied as the lexicon did before its one-pass matcher: one
    alternation, longest key first, each key a whole-word, whitespace-tolerant
    regular expression."""
    import re

    def rx(key: str) -> str:
        body = r"\s+".join(re.escape(w) for w in key.split())
        head = r"(?<!\w)" if re.match(r"\w", key) else ""
        return head + body + (r"(?!\w)" if re.search(r"\w$", key) else "")

    order = sorted(keys, key=lambda k: (-len(k), k.lower()))
    combined = re.compile("|".join(f"(?P<k{i}>{rx(k)})" for i, k in enumerate(order)), re.IGNORECASE)
    return combined.sub(lambda m: keys[order[int(m.lastgroup[1:])]], text)  # type: ignore[index]


_KEY_CHARS = "abAB é-.+'_1"


@given(st.lists(st.text(alphabet=_KEY_CHARS, min_size=1, max_size=6), min_size=1, max_size=6),
       st.text(alphabet=_KEY_CHARS + "É\n", max_size=40))
def test_one_pass_matching_equals_the_combined_regular_expression(keys: list[str], text: str) -> None:
    keys = [" ".join(k.split()) for k in keys]
    unique: dict[str, str] = {}
    for n, k in enumerate(keys):
        if k and k.lower() not in {u.lower() for u in unique}:
            unique[k] = f"<{n}>"
    assume(unique)
    lex = parse_lexicon("\n".join(f"{k} = {v}" for k, v in unique.items()), source="s")
    assert lex.apply(text) == _reference_apply(unique, text)


# --------------------------------------------------------------------------- languages

SECTIONS = """\
Aesop = ee-sop
wire = wyer
re:colou?r = kuller
[lang:fr]
Aesop = ézope                  # French lines say it the French way
Genève = /ʒənˈɛv/
re:colou?r = couleur
[lang:pt]
Aesop = esopo
[lang:pt-BR]
Aesop = ezópo
[lang:*]
Zeus = zoose
"""
LINE = "Aesop and Zeus at Genève on a wire, in colour"


@pytest.mark.parametrize(("language", "spoken"), [
    (None, "ee-sop and zoose at Genève on a wyer, in kuller"),
    ("en", "ee-sop and zoose at Genève on a wyer, in kuller"),
    ("es", "ee-sop and zoose at Genève on a wyer, in kuller"),  # no section: the entries for all
    ("fr", f"ézope and zoose at {PHONEME_OPEN}ʒənˈɛv{PHONEME_CLOSE} on a wyer, in couleur"),
    ("fr-CA", f"ézope and zoose at {PHONEME_OPEN}ʒənˈɛv{PHONEME_CLOSE} on a wyer, in couleur"),
    ("pt-PT", "esopo and zoose at Genève on a wyer, in kuller"),  # the language's section
    ("pt-BR", "ezópo and zoose at Genève on a wyer, in kuller"),  # the regional one wins over it
])
def test_a_section_applies_to_the_lines_of_its_language(language: str | None, spoken: str) -> None:
    lex = parse_lexicon(SECTIONS, source="s.lex")
    assert lex.apply(LINE, language) == spoken
    assert lex.languages == ("fr", "pt", "pt-BR")
    # Entries outside a section (before the first, after [lang:*]) are for every language.
    assert {e.key for e in lex.entries} == {"Aesop", "wire", "colou?r", "Zeus"}
    assert all(e.language for e in lex.scoped)


def test_matches_name_the_entries_of_the_line_language() -> None:
    lex = parse_lexicon(SECTIONS, source="s.lex")
    assert [(e.key, e.language, e.line) for e in lex.matches("Aesop at Genève", "fr")] == [
        ("Aesop", "fr", 5), ("Genève", "fr", 6)]
    assert [(e.key, e.language) for e in lex.matches("Aesop at Genève")] == [("Aesop", None)]


def test_a_lexicon_without_sections_keeps_its_digest() -> None:
    """Sections are new: a lexicon without them hashes as it did (a pinned value),
    so its jobs' records do not change; a section's entry changes the digest."""
    plain = parse_lexicon("Aesop = ee-sop\nre:colou?r = kuller\n", source="a.lex")
    import hashlib
    import json

    blob = json.dumps([[["aesop", "ee-sop", False, False]], [["colou?r", "kuller", False, True]]],
                      ensure_ascii=False, separators=(",", ":"))
    assert plain.digest() == hashlib.sha256(blob.encode()).hexdigest()
    one = parse_lexicon("Aesop = ee-sop\n[lang:fr]\nAesop = ézope\n", source="a.lex")
    other = parse_lexicon("Aesop = ee-sop\n[lang:fr]\nAesop = ésope\n", source="a.lex")
    assert len({plain.digest(), one.digest(), other.digest()}) == 3


@pytest.mark.parametrize(("text", "line", "said"), [
    ("[lang:xx]\na = b\n", 1, "section '[lang:xx]': 'xx' is not a language code"),
    ("[lang:]\na = b\n", 1, "is not a language code"),
    ("[french]\na = b\n", 1, "expected a section '[lang:TAG]'"),
    ("[lang:fr]\na = b\nA = c\n", 3, "duplicate key 'A' in the [lang:fr] entries: already on line 2"),
    ("a = b\n[lang:fr]\na = c\n[lang:*]\nA = d\n", 5, "duplicate key 'A': already on line 1"),
    ("[lang:fr]\na = b\n[lang:FR]\na = c\n", 4, "already on line 2"),  # one language however written
])
def test_section_errors_name_the_line(text: str, line: int, said: str) -> None:
    err = _error(text)
    assert err.file == "p.lex" and err.line == line and said in str(err), str(err)


def test_a_key_may_differ_between_languages_and_from_the_entry_for_all() -> None:
    lex = parse_lexicon("a = b\n[lang:fr]\na = c\n[lang:es]\na = d\n", source="p.lex")
    assert [lex.apply("a", x) for x in (None, "fr", "es", "it")] == ["b", "c", "d", "b"]


def test_a_language_file_has_no_sections_and_all_its_entries_are_that_language(tmp_path: Path) -> None:
    path = tmp_path / "fr.lex"
    path.write_text("Aesop = ézope\n", encoding="utf-8")
    lex = load_lexicon(path, language="FR")
    assert not lex.entries and [(e.key, e.language) for e in lex.scoped] == [("Aesop", "fr")]
    assert lex.apply("Aesop", "fr") == "ézope" and lex.apply("Aesop", "en") == "Aesop"
    path.write_text("a = b\n[lang:es]\nc = d\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_lexicon(path, language="fr")
    assert info.value.line == 2 and "in the fr lexicon" in str(info.value)


def test_combined_files_keep_each_file_in_errors() -> None:
    from voicecast.lexicon import combine

    every = parse_lexicon("Aesop = ee-sop\nre:(a+)x = y\n", source="all.lex", timeout_s=0.5)
    french = parse_lexicon("Aesop = ézope\nNguyen = /ŋʷjˈɛn/\n", source="fr.lex", language="fr")
    lex = combine([every, french])
    assert lex.apply("Aesop", "fr") == "ézope" and lex.apply("Aesop", "en") == "ee-sop"
    assert lex.timeout_s == 0.5
    with pytest.raises(InputError) as info:  # a phoneme outside the vocabulary names its own file
        lex.check_phonemes(frozenset("ŋjˈɛn"))
    assert info.value.file == "fr.lex" and info.value.line == 2
    with pytest.raises(InputError) as info:  # one key twice for one language, across files
        combine([french, parse_lexicon("\naesop = esope\n", source="fr2.lex", language="fr")])
    assert info.value.file == "fr2.lex" and info.value.line == 2, str(info.value)
    assert "in the [lang:fr] entries: already on fr.lex:1" in str(info.value)
    # A regional file is not a duplicate: it wins over the language's for its region.
    canadian = parse_lexicon("aesop = ésope\n", source="fr-CA.lex", language="fr-CA")
    both = combine([every, french, canadian])
    assert [both.apply("Aesop", x) for x in ("fr", "fr-CA", "en")] == ["ézope", "ésope", "ee-sop"]
    with pytest.raises(InputError) as info:
        combine([every, parse_lexicon("\n\nAESOP = x\n", source="more.lex")])
    assert info.value.file == "more.lex" and info.value.line == 3 and "already on all.lex:1" in str(info.value)
