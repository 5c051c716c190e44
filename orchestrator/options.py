"""A render job's options: one validated model, built where a request enters
(the CLI today, a service API later) and stored with the job.

:class:`RenderOptions` is what ``voicecast render`` was asked for (its
options, by their CLI names in :data:`CLI_FLAGS`), plus two figures planning
derives from the input and assembly reads back (``lexicon_sha256``,
``lead_s``). ``Job.options`` holds ``model_dump(mode="json")``; rows written
before this model existed hold the same keys and load with
:meth:`RenderOptions.from_stored`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from voicecast.errors import InputError

#: The ``voicecast render`` option of each field a user gives.
CLI_FLAGS: dict[str, str] = {
    "mode": "--mode", "voices": "--voice", "duration": "--duration", "emotion": "--emotion",
    "emotion_map": "--emotion-map", "ignore_unknown_tags": "--ignore-unknown-tags",
    "lexicon": "--lexicon", "clip_dir": "--clip-dir", "unmapped": "--unmapped", "cover": "--cover",
    "title": "--title",
    "author": "--author", "styles": "--styles", "strict_tags": "--strict-tags", "brackets": "--brackets",
    "front_matter": "--front-matter", "back_matter": "--back-matter", "notes": "--notes",
    "lang": "--lang", "dubs": "--subs", "mix": "--mix", "bed": "--bed", "original": "--original",
    "mux_subs": "--mux-subs", "loudness": "--loudness", "duck_db": "--duck-db",
    "speaker_langs": "--lang", "lang_lexicons": "--lexicon",
}


class DubSpec(BaseModel):
    """One dub of a video or audio input: where its timeline comes from, who
    speaks it and in what language. Each gives the output one audio track."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: A subtitle file's absolute path, ``stream:LANG`` / ``stream:INDEX`` (a
    #: text subtitle stream of the input), or ``asr`` (the input's own speech).
    subs: str
    #: The narrator's voice of this dub (``--voice``; NAME=VOICE entries are shared).
    voice: str
    #: BCP 47 tag, normalised (``en``, ``pt-BR``).
    lang: str = "en"


class RenderOptions(BaseModel):
    """What a render job was asked to do. Immutable; unknown keys (from a newer
    version's stored row) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: ``dub`` covers subtitle tracks and line-per-segment scripts; ``None``: from
    #: the input's format (see :func:`orchestrator.render.job_kind`).
    mode: Literal["dub", "audiobook"] | None = None
    #: ``--voice`` values in order: ``VOICE`` (the narrator) or ``NAME=VOICE``
    #: (read by :func:`orchestrator.voices.parse_voice_map` when the job is planned).
    voices: list[str] = Field(default_factory=list)
    #: Track length in seconds (subtitles); None: the last cue's end.
    duration: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    #: Emotion of lines without a tag, ``EMOTION[:INTENSITY]``; None: neutral.
    emotion: str | None = None
    #: ``NAME=EMOTION[:INTENSITY]`` for an ASS style or a speaker.
    emotion_map: list[str] = Field(default_factory=list)
    #: Misspelt tags (``[hapy]``) are text too, not errors (see :mod:`voicecast.emotions`).
    ignore_unknown_tags: bool = False
    #: An unknown bracketed word at the start of a line (``[LAUGHS] Hi``) is an
    #: error, not a sound description or stage direction.
    strict_tags: bool = False
    #: Books: bracketed text that is not a tag (``[1]``, ``[sic]``, stage
    #: directions) is skipped (the default) or read.
    brackets: Literal["skip", "speak"] = "skip"
    #: Books (EPUB): read the front matter (title page, copyright page, dedication,
    #: preface...) and the back matter (appendices, index, colophon...), which are
    #: skipped by default (see :mod:`orchestrator.inputs.books.epub`).
    front_matter: bool = False
    back_matter: bool = False
    #: Books (EPUB): notes are skipped, or read after the paragraph that refers to
    #: them, or at the end of its chapter.
    notes: Literal["skip", "paragraph", "chapter"] = "skip"
    #: ASS/SSA styles to speak (``--styles NAME,NAME``); ``["all"]``: every style;
    #: empty: all but sign, song and title styles and typeset signs
    #: (see :mod:`orchestrator.planning.cue_select`).
    styles: list[str] = Field(default_factory=list)
    #: Absolute path of the pronunciation lexicon (its entries for every
    #: language, and its ``[lang:TAG]`` sections).
    lexicon: str | None = None
    #: Lexicon files of one language each (``--lexicon fr=FILE``): BCP 47 tag
    #: (normalised) to absolute path.
    lang_lexicons: dict[str, str] = Field(default_factory=dict)
    #: Absolute path of the folder ``[like:CLIP]`` clips are read from; None:
    #: the input's folder. A clip outside it (``../``, an absolute path, a
    #: symbolic link out) is refused.
    clip_dir: str | None = None
    #: A character with no voice: an error, or read by the narrator.
    unmapped: Literal["error", "narrator"] = "error"
    #: Audiobooks: cover image path and metadata overrides.
    cover: str | None = None
    title: str | None = None
    author: str | None = None
    #: The job's language (BCP 47, normalised); None: English.
    lang: str | None = None
    #: A character's language (``--lang NAME=TAG``): their lines are spoken in it
    #: (a line's own ``[lang:]`` tag still wins). Name to normalised BCP 47 tag.
    speaker_langs: dict[str, str] = Field(default_factory=dict)
    #: Video and audio inputs: the dubs, one output track each (see :class:`DubSpec`).
    dubs: list[DubSpec] = Field(default_factory=list)
    #: The dub track's sound: the dub alone, the original lowered under dub
    #: speech, or a music-and-effects bed (``bed``) under it.
    mix: Literal["replace", "duck", "bed"] = "replace"
    #: Absolute path of the music-and-effects stem (``mix == "bed"``).
    bed: str | None = None
    #: The original sound: kept as a second track (after the dubs), or dropped.
    original: Literal["keep", "drop"] = "keep"
    #: Each dub's subtitles muxed as a text track, in its language.
    mux_subs: bool = False
    #: Loudness target preset (``web``, ``broadcast``); None: the ``loudness`` settings.
    loudness: Literal["web", "broadcast"] | None = None
    #: How far ``duck`` lowers the original under dub speech (dB); None: ``video.duck_db``.
    duck_db: float | None = Field(default=None, ge=1, le=60, allow_inf_nan=False)

    # Derived while planning (not given by the user), kept for the record and for assembly.
    #: Digest of the lexicon as applied (its entries are in every content hash already).
    lexicon_sha256: str | None = None
    #: Scripts: silence before the first line from a leading ``[pause:S]``.
    lead_s: float = Field(default=0.0, ge=0)
    #: The engine (name, version) the segments were planned and hashed for: each
    #: segment's message carries them, and a worker running another refuses it.
    engine: str | None = None
    engine_version: str | None = None

    def lexicon_files(self) -> list[tuple[str, str | None]]:
        """The job's lexicon files as (path, language): the one for every
        language (None) first, then each language's, by tag."""
        files: list[tuple[str, str | None]] = [(self.lexicon, None)] if self.lexicon else []
        return files + [(path, tag) for tag, path in sorted(self.lang_lexicons.items())]

    @field_validator("speaker_langs", "lang_lexicons")
    @classmethod
    def _tags(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        """Languages checked and normalised (``ES`` → ``es``); a bad one names itself."""
        from voicecast.languages import parse_language

        def tag(x: str) -> str:
            try:
                return parse_language(x, field=None).tag
            except InputError as e:
                raise ValueError(e.message) from None

        if info.field_name == "speaker_langs":
            return {who: tag(t) for who, t in value.items()}
        return {tag(t): path for t, path in value.items()}

    @classmethod
    def from_cli(cls, *, voice_required: bool = True, **values: Any) -> RenderOptions:
        """Validate options given on the command line; an invalid one raises
        :class:`InputError` naming its option (the CLI exits 2).
        ``voice_required=False``: no ``--voice`` is fine (``voicecast plan``)."""
        unknown = set(values) - set(CLI_FLAGS)
        if unknown:
            raise TypeError(f"not a render option: {', '.join(sorted(unknown))}")
        try:
            options = cls.model_validate(values)
        except ValidationError as e:
            first = e.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            raise InputError(f"{_input_repr(first.get('input'))}: {first['msg']}",
                             field=CLI_FLAGS.get(name, name or None)) from None
        if voice_required and not options.voices:
            raise InputError("give the narrator's voice", field="--voice")
        return options

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> RenderOptions:
        """The options stored on a job (``Job.options``)."""
        return cls.model_validate(stored or {})

    def stored(self) -> dict[str, Any]:
        """The JSON stored as ``Job.options``."""
        return self.model_dump(mode="json")


def _input_repr(value: Any) -> str:
    return repr(value) if not isinstance(value, dict) else "(missing)"


def split_speaker_langs(values: list[str]) -> tuple[list[str], dict[str, str]]:
    """``--lang`` values cut into the job's (or the dubs') languages and the
    characters' (``NAME=TAG``), each tag checked and normalised. A character
    named twice is an error naming it."""
    from voicecast.languages import parse_language

    plain: list[str] = []
    named: dict[str, str] = {}
    seen: dict[str, str] = {}
    for value in values:
        if "=" not in value:
            plain.append(value)
            continue
        who, _, tag = (x.strip() for x in value.partition("="))
        if not who:
            raise InputError(f"{value!r}: give the character's name before '=' (NAME=TAG)", field="--lang")
        if who.casefold() in seen:
            raise InputError(f"{who!r} has two languages ({seen[who.casefold()]} and {value})",
                             field="--lang")
        seen[who.casefold()] = value
        named[who] = parse_language(tag, field="--lang").tag
    return plain, named


def split_lexicons(values: list[str]) -> tuple[str | None, dict[str, str]]:
    """``--lexicon`` values: the one lexicon for every language (``FILE``) and
    the files of one language each (``TAG=FILE``), paths made absolute. A value
    that names an existing file is that file, whatever it contains; two files
    for every language, or two for one language, are an error."""
    import re

    from voicecast.languages import parse_language

    general: str | None = None
    by_lang: dict[str, str] = {}
    for value in values:
        m = re.fullmatch(r"([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)=(.+)", value)
        if m is None or Path(value).expanduser().exists():
            if general is not None:
                raise InputError(f"two lexicons for every language ({general} and {value}): join them, or "
                                 "give one language's as --lexicon TAG=FILE", field="--lexicon")
            general = str(Path(value).expanduser().resolve())
            continue
        tag = parse_language(m.group(1), field="--lexicon").tag
        if tag in by_lang:
            raise InputError(f"two lexicons for {tag}: join them into one", field="--lexicon")
        by_lang[tag] = str(Path(m.group(2)).expanduser().resolve())
    return general, by_lang


def pair_dubs(subs: list[str], timeline: str | None, voices: list[str], langs: list[str], *,
              voice_required: bool = True, resolve: bool = True) -> list[DubSpec]:
    """The dubs of a video or audio input from ``render``'s options: each
    ``--subs`` (or ``--timeline asr``) with its narrator's ``--voice`` and its
    ``--lang``, in order. A single voice or language serves every dub.
    ``voices`` are the narrators only (``NAME=VOICE`` entries are shared by all
    dubs). Subtitle paths are made absolute. Raises :class:`InputError` naming
    the option that does not pair up."""
    from voicecast.languages import DEFAULT_LANGUAGE, parse_language

    if timeline == "asr":
        if subs:
            raise InputError("--timeline asr takes the timeline from the input's speech; give no --subs",
                             field="--timeline")
        subs = ["asr"] * max(1, len(voices))
    elif timeline not in (None, "subs"):
        raise InputError(f"--timeline is subs or asr, not {timeline!r}", field="--timeline")
    if not subs:
        return []
    n = len(subs)

    def each(values: list[str], flag: str, default: str | None) -> list[str | None]:
        if not values:
            return [default] * n
        if len(values) == 1:
            return [values[0]] * n
        if len(values) != n:
            raise InputError(f"{len(values)} {flag} for {n} dubs: give one for every --subs, in order, "
                             "or one for all", field=flag)
        return [*values]

    out = []
    for s, v, lang in zip(subs, each(voices, "--voice", None), each(langs, "--lang", DEFAULT_LANGUAGE),
                          strict=True):
        if v is None and voice_required:
            raise InputError("give the dub's voice", field="--voice")
        keep = not resolve or s == "asr" or s.startswith("stream:")  # resolve=False: the service's tokens
        path = s if keep else str(Path(s).expanduser().resolve())
        out.append(DubSpec(subs=path, voice=v or "", lang=parse_language(lang or DEFAULT_LANGUAGE).tag))
    return out
