"""The queue contract: what crosses between the control role and the workers.

Messages carry these small immutable records as JSON (ids, keys, text and
numbers), never audio, ORM rows or tensors. :class:`SegmentSpec` goes to a
synthesis worker; :class:`SegmentResult` comes back (through the ``assemble``
queue in distributed mode, or the local pool's future in embedded mode) and is
also stored next to the segment's audio, so a later job with the same content
hash reuses both.

A segment's content hash (:func:`content_hash`) is computed here, in the core,
because both roles need it: the control role names a planned segment's audio
with it, and a synthesis worker recomputes it from the spec it is given (its
own engine and fit settings included) and refuses a message whose
``content_hash`` differs (:meth:`SegmentSpec.derive_hash`): audio is only ever
stored under the hash of what was rendered, whoever sent the message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicecast.storage import ObjectStore

log = logging.getLogger(__name__)

#: Bumped whenever :func:`content_hash`'s payload changes meaning.
HASH_SCHEMA_VERSION = 1


def to_ms(seconds: float) -> int:
    """Seconds as whole milliseconds, as the content hash counts lengths."""
    return int(round(seconds * 1000))


def hash_fit(fit: dict[str, Any], level_rms_db: float | None = None,
             level_peak_db: float | None = None) -> dict[str, Any]:
    """The ``fit`` part of a content hash: the fit settings (``settings.fit``
    dumped), plus the level profile of an audiobook's lines (``level``), which
    shapes their audio as much."""
    if level_rms_db is None:
        return fit
    return {**fit, "level": {"rms_db": level_rms_db, "peak_db": level_peak_db}}


def content_hash(
    *,
    text: str,
    voice_id: str,
    voice_version: int,
    emotion: str,
    intensity: float,
    slot_ms: int,
    borrow_ms: int,
    engine: str,
    engine_version: str,
    fit: dict[str, Any],
    language: str = "en",
) -> str:
    """Content hash (sha256 hex) of everything that determines a segment's audio.

    The hash names the segment's audio in storage, so a segment is rendered
    once and reused until something that shapes its sound changes. It covers:
    the hash schema version, the spoken text (NFC-normalised), the voice id and
    profile version, emotion and intensity (rounded to 3 places), the slot
    length and the borrowable length in whole milliseconds, the engine name
    and version, the fit settings (:func:`hash_fit`), and the language it is
    spoken in (a BCP 47 tag; left out for English, ``en``, so that every
    English render keeps the key it had before languages). ``fit`` must be
    JSON-serialisable; its keys are sorted, so dict order does not matter. The
    JSON is canonical (sorted keys, no spaces, UTF-8).

    The values of existing inputs never change: they are the storage keys of
    every render so far (``tests/unit/test_trust.py`` pins some).
    """
    payload = {
        "schema": HASH_SCHEMA_VERSION,
        "text": unicodedata.normalize("NFC", text),
        "voice": {"id": voice_id, "version": int(voice_version)},
        "emotion": emotion,
        # "+ 0.0" turns -0.0 into 0.0 so both spell the same.
        "intensity": round(float(intensity), 3) + 0.0,
        "slot_ms": int(slot_ms),
        "borrow_ms": int(borrow_ms),
        "engine": {"name": engine, "version": engine_version},
        "fit": fit,
    }
    if language != "en":
        payload["language"] = language
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SegmentSpec:
    """The small immutable message a synthesis task carries: everything its
    content hash covers except what the worker knows for itself (its engine's
    fit settings; the engine name and version are carried to be checked
    against its own), and where to answer (``job_id``, ``idx``: only echoed).

    ``slot_s``/``max_s`` are what the fit uses; ``slot_ms``/``borrow_ms`` the
    same lengths as the hash counts them (rounded from the planned times, so
    they need not be re-derived from the rounded seconds); a worker refuses a
    spec where the two disagree by more than rounding."""

    job_id: str
    idx: int
    text: str
    voice_key: str
    slot_s: float
    max_s: float
    content_hash: str
    emotion: str = "neutral"
    intensity: float = 0.0
    #: Audiobooks: level the take to this speech RMS (dBFS) with peaks at most
    #: ``level_peak_db`` (see :mod:`voicecast.level`); None: leave its level.
    level_rms_db: float | None = None
    level_peak_db: float | None = None
    #: The voice profile ``voice_key`` must be (``voice_profile_key(voice_id, voice_version)``).
    voice_id: str = ""
    voice_version: int = 0
    slot_ms: int = 0
    borrow_ms: int = 0
    #: The engine the segment was planned for; a worker running another refuses it.
    engine: str = ""
    engine_version: str = ""
    #: The language the text is spoken in (BCP 47: ``en``, ``es``, ``pt-BR``).
    language: str = "en"
    #: The control role looked in storage for this hash when it sent the spec
    #: and found nothing, so a worker's first try skips its own look (a retry,
    #: a redelivery or a re-sent spec looks again). Not part of the hash: a
    #: forged ``True`` costs a render of the same content, nothing else.
    unstored: bool = False

    def derive_hash(self, fit: dict[str, Any], engine: str, engine_version: str) -> str:
        """The content hash of what this spec describes, rendered by ``engine``
        ``engine_version`` with fit settings ``fit`` (the worker's own)."""
        return content_hash(
            text=self.text, voice_id=self.voice_id, voice_version=self.voice_version,
            emotion=self.emotion, intensity=self.intensity, slot_ms=self.slot_ms,
            borrow_ms=self.borrow_ms, engine=engine, engine_version=engine_version,
            fit=hash_fit(fit, self.level_rms_db, self.level_peak_db), language=self.language,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentSpec:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class SegmentResult:
    """What rendering one segment produced: where its audio is, and the fit
    figures of the job's fit report. ``job_id``, ``idx`` and ``hit`` say which
    job's segment it answers and whether it was found in storage rather than
    rendered; everything else is a property of the content hash."""

    content_hash: str
    audio_key: str
    sample_rate: int
    samples: int
    engine: str
    engine_version: str
    natural_s: float
    slot_s: float
    target_s: float
    rate: float
    engine_rate: float
    stretch: float
    borrowed_s: float
    overflow: bool
    overflow_s: float
    engine_calls: int
    final_s: float
    error_s: float
    onset_s: float = 0.0
    takes: tuple[tuple[float, float], ...] = ()
    predicted: bool = False
    predict_calls: int = 0
    synth_calls_s: float = 0.0
    kept_call_s: float = 0.0
    fit_s: float = 0.0
    #: The rendered prosody, described for the report (emotion rendering).
    prosody: dict[str, Any] = field(default_factory=dict)
    #: Engine and fitting time of the render (the fit's engine calls and levelling).
    synth_s: float = 0.0
    #: The worker's whole time for the segment: loading, checking, ``synth_s``, storing.
    wall_s: float = 0.0
    job_id: str = ""
    idx: int = -1
    hit: bool = False

    def for_segment(self, job_id: str, idx: int, *, hit: bool) -> SegmentResult:
        """This result answering segment ``idx`` of ``job_id``."""
        return replace(self, job_id=job_id, idx=idx, hit=hit)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["takes"] = [list(t) for t in self.takes]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentResult:
        """Read a result from JSON; unknown keys (from a newer worker) are ignored,
        a missing required one raises ``TypeError``."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "takes" in kw:
            kw["takes"] = tuple((float(s), float(n)) for s, n in kw["takes"])
        return cls(**kw)


def stored_result(store: ObjectStore, content_hash: str) -> SegmentResult | None:
    """The result stored for ``content_hash`` when both it and its audio exist
    (a storage hit). None otherwise, and for a record that does not read as a
    :class:`SegmentResult` (an older shape missing a field): that segment is
    then simply rendered again."""
    from voicecast.storage import segment_audio_key, segment_result_key

    result_key = segment_result_key(content_hash)
    if not (store.exists(result_key) and store.exists(segment_audio_key(content_hash))):
        return None
    return read_result(store, content_hash)


def read_result(store: ObjectStore, content_hash: str) -> SegmentResult | None:
    """The stored result of ``content_hash``, known to exist with its audio
    (the caller checked, say in one batch with ``ObjectStore.existing``);
    None for a record that does not read as a :class:`SegmentResult`."""
    from voicecast.storage import segment_result_key

    result_key = segment_result_key(content_hash)
    try:
        return SegmentResult.from_dict(json.loads(store.get_bytes(result_key)))
    except (TypeError, ValueError) as e:
        log.warning("stored result %s unreadable (%s); it will be rendered again", result_key, e)
        return None


@dataclass(frozen=True)
class EngineFacts:
    """What the control role needs to know of the engine, without loading it:
    its version (part of every content hash), sample rate, own voices and
    phoneme symbols (to check a lexicon). Answered by the synthesis role
    (``workers.facts``) through the dispatch adapter."""

    name: str
    version: str
    sample_rate: int
    voices: tuple[str, ...] = ()
    #: Empty when the engine takes no phoneme input.
    phoneme_symbols: frozenset[str] = frozenset()
    #: The languages it speaks (``en-us``, ``en-gb``); empty: not declared.
    languages: tuple[str, ...] = ()
    #: Languages it speaks in any region, in its first form of them
    #: (:func:`voicecast.languages.spoken_form`).
    any_region: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sample_rate": self.sample_rate,
                "voices": list(self.voices), "phoneme_symbols": sorted(self.phoneme_symbols),
                "languages": list(self.languages), "any_region": list(self.any_region)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineFacts:
        return cls(name=d["name"], version=d["version"], sample_rate=int(d["sample_rate"]),
                   voices=tuple(d.get("voices") or ()),
                   phoneme_symbols=frozenset(d.get("phoneme_symbols") or ()),
                   languages=tuple(d.get("languages") or ()), any_region=tuple(d.get("any_region") or ()))


@dataclass(frozen=True)
class BuiltinVoice:
    """One of the engine's own voices, its profile stored at ``profile_key``."""

    name: str
    profile_key: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReferenceInfo:
    """A checked reference recording, stored as 16 kHz WAV at ``key``
    (``reference_key(sha256)``); the figures are those of
    ``workers.reference.Reference`` and ``clips`` its per-clip records."""

    sha256: str
    key: str
    speech_s: float
    duration_s: float
    peak_db: float
    rms_db: float
    clips: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["clips"] = list(self.clips)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReferenceInfo:
        return cls(sha256=d["sha256"], key=d["key"], speech_s=float(d["speech_s"]),
                   duration_s=float(d["duration_s"]), peak_db=float(d["peak_db"]),
                   rms_db=float(d["rms_db"]), clips=tuple(d.get("clips") or ()))


@dataclass(frozen=True)
class LineSlot:
    """A line whose length the control role asks the synthesis role to predict
    (``voicecast plan``): its text as it will be spoken, its emotion, and its
    slot and the most it may take in seconds (``slot_s == 0``: no slot, a
    script or book line read at its natural length)."""

    text: str
    emotion: str = "neutral"
    intensity: float = 0.0
    slot_s: float = 0.0
    max_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LineSlot:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass(frozen=True)
class LinePrediction:
    """What the engine's duration predictor says of a :class:`LineSlot`, and the
    fit the worker would plan on it (``workers.fitting.plan_rate``), without
    rendering. ``natural_s`` is ``None`` when it cannot be told without a render
    (an engine without a predictor, emotion by example). ``rate`` is
    ``natural / target`` (1.0 without a slot); ``fast``: above the comfortable
    rate even after borrowing the gap; ``overflow``: above the hard rate, cut."""

    natural_s: float | None
    target_s: float | None = None
    rate: float | None = None
    borrowed_s: float = 0.0
    overflow: bool = False
    overflow_s: float = 0.0
    fast: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinePrediction:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
