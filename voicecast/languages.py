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
