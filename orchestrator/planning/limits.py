"""Bounds on a plan, checked before anything is stored or rendered.

A mistyped timestamp (``99:59:59``) would make a 100-hour track of silence;
a cue of 20,000 characters in a 2.5 s slot would render for minutes to be cut
to 2.5 s; a hundred thousand cues would queue for days. Each is refused here,
naming the input line and the ``VOICECAST_INPUTS__*`` variable that raises
the bound (settings: :class:`voicecast.settings.InputSettings`).
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.planning.segments import PlannedSegment
from voicecast.errors import InputError
from voicecast.settings import InputSettings, env_name


def clock(seconds: float) -> str:
    """``H:MM:SS`` of a time in seconds (hours unbounded: ``99:59:59``)."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def check_plan(segments: Sequence[PlannedSegment], duration: float, *, limits: InputSettings,
               hard_max: float, source: str, timed: bool, unfit: list[str] | None = None) -> None:
    """Raise :class:`InputError` naming ``source`` and the line for a plan past
    the limits: more than ``max_segments`` segments; a track (``duration``, or
    a cue's end, or the pauses of a script or book) longer than
    ``max_job_duration_s``; a timed cue (``timed``: subtitles) whose text
    cannot fit the room it has even at ``hard_max`` by a wide margin (see
    :class:`InputSettings`: ``chars_per_s``, ``overflow_ratio``, ``overflow_min_s``).

    With ``unfit`` (``voicecast plan``, a preview), such cues are not an error:
    each is appended to ``unfit`` as ``"line N: ..."`` so the preview can list
    every line a render would refuse."""
    if len(segments) > limits.max_segments:
        raise InputError(
            f"{len(segments)} segments, more than the {limits.max_segments} a job may have "
            f"({env_name('inputs', 'max_segments')}); split the input into several jobs", file=source)
    longest = limits.max_job_duration_s
    allowed = f"{clock(longest)} ({env_name('inputs', 'max_job_duration_s')})"
    if timed:
        for g in segments:
            if g.end > longest:
                raise InputError(
                    f"cue ends at {clock(g.end)}, past the longest track a job may make, {allowed}; "
                    "is its timestamp mistyped?", file=source, line=g.source_line or None)
            try:
                _check_fits(g, limits, hard_max, source)
            except InputError as e:
                if unfit is None:
                    raise
                unfit.append(f"line {e.line}: {e.message}" if e.line else e.message)
    else:
        paused = 0.0
        for g in segments:
            paused += g.pause_after
            if paused > longest:
                raise InputError(f"the pauses up to here add up to {clock(paused)}, longer than the "
                                 f"longest track a job may make, {allowed}",
                                 file=source, line=g.source_line or None)
    if duration > longest:
        raise InputError(f"the track would last {clock(duration)}, longer than {allowed}",
                         file=source, field="--duration")


def _check_fits(g: PlannedSegment, limits: InputSettings, hard_max: float, source: str) -> None:
    room = max(g.max_end, g.end) - g.start
    need = len(g.text) / limits.chars_per_s / hard_max  # spoken as fast as the fit allows
    if need > limits.overflow_ratio * room and need - room > limits.overflow_min_s:
        raise InputError(
            f"cue of {len(g.text)} characters cannot fit its {room:.1f} s: spoken even at the fastest "
            f"rate it needs about {need:.0f} s; split it into shorter cues or give it more time "
            f"(refused beyond {limits.overflow_ratio:g} times its room: "
            f"{env_name('inputs', 'overflow_ratio')})", file=source, line=g.source_line or None)
