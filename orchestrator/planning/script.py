"""A plain script into a plan: one segment per line, spoken in order.

Script pauses (:func:`plan_script`)
-----------------------------------
``[pause:S]`` at the start of a script line, or on a line of its own, adds S
seconds of silence after the previous line (before the first line:
``Plan.lead_s``); at the end of a line it adds S after that line
(``PlannedSegment.pause_after``), on top of the usual gap between lines. In the
middle of a line it is an error, and so is any ``[pause:]`` in subtitles
(their timing is the file's).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from orchestrator.inputs.subtitles import Cue
from orchestrator.planning.markup import EmotionRules, MarkupLog, cue_words, emotion_fields
from orchestrator.planning.segments import Plan, PlannedSegment
from voicecast.errors import InputError

__all__ = ["plan_script"]


def plan_script(text: str, *, source: str, emotions: EmotionRules | None = None,
                characters: Collection[str] = ()) -> Plan:
    """A plain script: every non-blank line is one segment, spoken in order.

    Lines have no slot (``start == end == max_end == 0``): each is rendered at
    its natural length and the assembler places them one after another (see
    :mod:`orchestrator.output.assembly`). Leading tags and speaker labels work as in
    subtitle cues; lines starting with ``#`` are comments. ``[pause:S]`` at the
    start of a line, or on a line of its own, adds S seconds after the
    previous line (before the first line: :attr:`Plan.lead_s`); at the end of
    a line, after that line (:attr:`PlannedSegment.pause_after`). A line with
    no speakable words left is dropped with a warning, and the sound
    descriptions removed are counted in one warning. Raises
    :class:`InputError` naming the line; markup errors are collected over the
    whole script and raised together
    (:func:`~orchestrator.planning.markup.raise_collected`).
    """
    rules = emotions or EmotionRules()
    log = MarkupLog(source)
    segments: list[PlannedSegment] = []
    dropped: list[int] = []
    lead = 0.0

    def pause(seconds: float) -> None:
        nonlocal lead
        if not seconds:
            return
        if segments:
            last = segments[-1]
            segments[-1] = replace(last, pause_after=last.pause_after + seconds)
        else:
            lead += seconds

    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        emotion, speaker, words = cue_words(Cue(len(segments) + 1, 0.0, 0.0, raw, line=n), source,
                                            rules, what="script line", pauses=True,
                                            characters=characters, log=log)
        pause(words.pause_before)
        if not words.text:
            # A line of nothing but [pause:] is a pause, not a lost line.
            if not (words.bare and (words.pause_before or words.pause_after)):
                dropped.append(n)
            pause(words.pause_after)
            continue
        segments.append(PlannedSegment(
            idx=len(segments), text=words.text, start=0.0, end=0.0, max_end=0.0, speaker=speaker,
            source_line=n, cue_indices=(n,), pause_after=words.pause_after, language=words.lang or "",
            **emotion_fields(emotion),
        ))
    log.check()
    if not segments:
        raise InputError("no speakable text in the script", file=source)
    warnings = log.warnings() + ([f"{source}: dropped {len(dropped)} line(s) with no speakable text: "
                                  + ", ".join(f"line {n}" for n in dropped[:10])] if dropped else [])
    return Plan(segments=segments, warnings=warnings, duration=0.0, lead_s=lead)
