"""Language tags: what a user writes (BCP 47: ``en``, ``es``, ``pt-BR``) and
what containers store (ISO 639-2: ``eng``, ``spa``, ``por``).

One parser, :func:`parse_language`, for every place a language enters (``--lang``,
a stream's tag, a file's header), so a misspelt code is refused the same way
everywhere and ``es``, ``spa`` and ``es-ES`` compare equal where they should.
Parsing and the ISO 639 tables come from ``langcodes`` (the IANA registry and
CLDR data, kept by its maintainers) rather than a table of our own.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicecast.errors import InputError

#: The job's language when nothing names one.
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Language:
    """A validated language tag.

    ``tag`` is the normalised BCP 47 tag (``pt-BR``); ``base`` its language
    subtag (``pt``); ``iso639_2t`` the terminology code MP4 and QuickTime
    store (``fra``), ``iso639_2b`` the bibliographic code Matroska and WebM
    store (``fre``); ``name`` the English name, for messages and track titles.
    """

    tag: str
    base: str
    iso639_2t: str
    iso639_2b: str
    name: str

    def container_code(self, container: str) -> str:
        """The three-letter code a container's language field takes: ISO 639-2/B
        for Matroska and WebM (their specification's choice), ISO 639-2/T for
        MP4 and QuickTime (ISO/IEC 14496-12's)."""
        return self.iso639_2b if container.lower().lstrip(".") in ("mkv", "mka", "webm") else self.iso639_2t


def parse_language(value: str, *, field: str | None = "--lang", file: str | None = None) -> Language:
    """Parse a BCP 47 tag (or a three-letter ISO 639-2 code, as containers write
    them). Raises :class:`InputError` naming ``field`` (or ``file``) for anything
    that is not a known language: ``xx``, ``english``, ``en-`` or an empty value."""
    import langcodes

    text = (value or "").strip()
    where: dict[str, str | None] = {"file": file} if file else {"field": field}
    try:
        lang = langcodes.Language.get(text)
        ok = bool(text) and lang.is_valid() and bool(lang.language) and lang.language != "und"
        t, b = (lang.to_alpha3(), lang.to_alpha3(variant="B")) if ok else ("", "")
    except (ValueError, LookupError):
        ok = False
    if not ok:
        raise InputError(f"{value!r} is not a language code; give a BCP 47 tag such as en, es, "
                         "fr or pt-BR", **where)  # type: ignore[arg-type]
    return Language(tag=str(lang), base=str(lang.language), iso639_2t=t, iso639_2b=b,
                    name=lang.display_name("en"))


def same_language(a: Language, stream_code: str | None) -> bool:
    """Whether a stream tagged ``stream_code`` (``spa``, ``es``, ``es-MX``) is in
    language ``a`` (compared by language subtag: ``es`` matches ``es-MX``)."""
    if not stream_code or stream_code.strip().lower() in ("und", "mis", "zxx", "mul"):
        return False
    try:
        other = parse_language(stream_code, field=None)
    except InputError:
        return False
    return other.base == a.base



def region_of(lang: Language) -> str:
    """The region subtag of ``lang`` (``BR`` of ``pt-BR``, ``419`` of
    ``es-419``); ``""`` when it has none (a script such as ``Hans`` is not one)."""
    return next((p for p in lang.tag.split("-")[1:]
                 if (len(p) == 2 and p.isalpha()) or (len(p) == 3 and p.isdigit())), "")


def spoken_form(lang: Language, spoken: tuple[str, ...], any_region: tuple[str, ...] = ()) -> str | None:
    """The tag of ``spoken`` (an engine's languages) in which an engine speaks
    ``lang``, or None when it does not speak it. The rule, which the control
    role uses to refuse a job before anything renders and the engine's own
    frontend follows:

    - the same tag (``pt-BR``), whatever its case, or the same language and
      region (``pt-Latn-BR``);
    - a language the engine lists without a region (``es``) covers every
      region (``es-MX``);
    - a tag without a region (``pt``, ``en``) is the engine's first form of
      the language (``pt-BR``, ``en-US``);
    - a region the engine does not list (``pt-PT``) is not spoken, unless the
      language is in ``any_region`` (Kokoro speaks ``en-AU`` as ``en-US``).
    """
    forms = [parse_language(t, field=None) for t in spoken]
    same = [f for f in forms if f.base == lang.base]
    region = region_of(lang).upper()
    exact = next((f for f in same if f.tag.lower() == lang.tag.lower()
                  or (region and region_of(f).upper() == region)), None)
    bare = next((f for f in same if f.tag == f.base), None)
    if exact or bare:
        return (exact or bare).tag  # type: ignore[union-attr]
    if same and (not region or lang.base in any_region):
        return same[0].tag
    return None


def declared_language(value: str | None) -> Language | None:
    """The language an input declares (an EPUB's ``dc:language``, a WebVTT
    ``Language:`` header, front matter): a tag (``fr``, ``pt-BR``, ``spa``) or an
    English name (``French``, as Project Gutenberg writes it); ``None`` when
    absent or not understood (the job then uses its default)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return parse_language(text, field=None)
    except InputError:
        pass
    import langcodes

    try:
        return parse_language(str(langcodes.find(text)), field=None)
    except (LookupError, ValueError, InputError):
        return None
