"""Property tests of the cue planner's stated invariants (orchestrator.planning):

- segments come in time order and never overlap;
- every segment's interval lies inside its slot or the gap it may borrow:
  ``start <= end <= max_end <= next start`` (the track's end for the last one);
- every spoken cue lands in exactly one segment, or in a run of consecutive
  segments that share its slot (a cue split into speaker turns), and a segment
  (the first of such a run) starts where its earliest cue starts;
- the segment hash does not depend on the absolute start: shifting every cue by the
  same whole number of milliseconds gives the same hashes;
- any cue times and texts give a plan or a :class:`VoicecastError`, never another
  exception.

Runs under the deterministic Hypothesis profile of tests/conftest.py.
"""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.inputs.subtitles import Cue
from orchestrator.planning.cues import plan_cues
from orchestrator.planning.segments import Plan, segment_hash
from voicecast.errors import VoicecastError

TEXTS = ["Hello there.", "No!", "[sad] Why?", "FOX: Run.", "[voice:Hare] Slowly.", "[MUSIC]", "",
         "<i>Quiet</i> now", "♪ la la ♪", "(sighs)", "- Yes.\n- No.", "[happy:0.3] Fine.",
         "- FOX: Yes.\n- BOB: No, never.", "<v Ann>Hi.</v>\n<v Bo>Yo!</v>"]
cue_text = st.one_of(st.sampled_from(TEXTS), st.text(alphabet="abc XYZ.,!?", max_size=20))
# Whole milliseconds, as subtitle files give them; lengths from 1 ms, overlaps likely.
timed = st.lists(st.tuples(st.integers(0, 600_000), st.integers(1, 8_000), cue_text), min_size=1, max_size=30)


def _cues(items: list[tuple[int, int, str]], shift_ms: int = 0) -> list[Cue]:
    return [Cue(k, (s + shift_ms) / 1000, (s + n + shift_ms) / 1000, text, line=k)
            for k, (s, n, text) in enumerate(items, 1)]


def _plan(cues: list[Cue], track_end: float | None = None) -> Plan | None:
    try:
        return plan_cues(cues, source="t.srt", track_end=track_end)
    except VoicecastError:
        return None


def _hashes(plan: Plan) -> list[str]:
    return [segment_hash(s, voice_id="v", voice_version=1, engine="kokoro", engine_version="1",
                         fit={"policy": "borrow"}) for s in plan.segments]


@given(timed)
def test_segments_are_ordered_disjoint_and_inside_their_gap(items: list[tuple[int, int, str]]) -> None:
    cues = _cues(items)
    plan = _plan(cues)
    if plan is None:
        return
    segs = plan.segments
    assert segs and [s.idx for s in segs] == list(range(len(segs)))
    for k, s in enumerate(segs):
        nxt = segs[k + 1].start if k + 1 < len(segs) else plan.duration
        assert 0 <= s.start < s.end <= s.max_end <= nxt + 1e-9, (k, s)
        assert s.text.strip()
    # Every cue that was kept is in exactly one segment or one run of segments sharing its
    # slot; a segment (the first of a run) starts at its earliest cue.
    runs = [s.cue_indices for k, s in enumerate(segs) if k == 0 or s.cue_indices != segs[k - 1].cue_indices]
    placed = [i for r in runs for i in r]
    assert len(placed) == len(set(placed))
    by_index = {c.index: c for c in cues}
    for k, s in enumerate(segs):
        if k == 0 or s.cue_indices != segs[k - 1].cue_indices:
            assert s.start == min(by_index[i].start for i in s.cue_indices)
        else:
            assert len(s.cue_indices) == 1 and s.start == segs[k - 1].end
        assert s.end <= max(by_index[i].end for i in s.cue_indices)


@given(timed, st.integers(-600_000, 600_000))
def test_segment_hash_does_not_depend_on_absolute_start(items: list[tuple[int, int, str]],
                                                       shift_ms: int) -> None:
    base = min(s for s, _, _ in items)
    shift_ms = max(shift_ms, -base)  # times stay >= 0
    plan, shifted = _plan(_cues(items)), _plan(_cues(items, shift_ms))
    assert (plan is None) == (shifted is None)
    if plan is None or shifted is None:
        return
    assert [s.cue_indices for s in plan.segments] == [s.cue_indices for s in shifted.segments]
    assert _hashes(plan) == _hashes(shifted)


@given(timed, st.integers(0, 5_000))
def test_a_longer_track_only_lengthens_the_last_gap(items: list[tuple[int, int, str]], extra_ms: int) -> None:
    plan = _plan(_cues(items))
    if plan is None:
        return
    longer = _plan(_cues(items), track_end=plan.duration + extra_ms / 1000)
    assert longer is not None
    assert [(s.start, s.end) for s in longer.segments] == [(s.start, s.end) for s in plan.segments]
    assert [s.max_end for s in longer.segments[:-1]] == [s.max_end for s in plan.segments[:-1]]
    assert longer.segments[-1].max_end == max(plan.duration + extra_ms / 1000, longer.segments[-1].end)


times = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10).map(float))


@given(st.lists(st.tuples(times, times, st.one_of(cue_text, st.text(max_size=30))), min_size=1, max_size=8),
       st.one_of(st.none(), times))
# Found by this test: a huge finite start (its milliseconds overflow) crashed the error message.
@example([(1.797693134862316e305, 0.0, "Hello there.")], None)
def test_any_cues_give_a_plan_or_a_user_error(items: list[tuple[float, float, str]],
                                              track_end: float | None) -> None:
    cues = [Cue(k, a, b, text, line=k) for k, (a, b, text) in enumerate(items, 1)]
    plan = _plan(cues, track_end)
    if plan is not None:
        assert all(math.isfinite(s.start) and math.isfinite(s.max_end) for s in plan.segments)
        assert math.isfinite(plan.duration)
