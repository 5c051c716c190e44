import pytest

from orchestrator.output.assembly import Clip, plan_timeline


def test_placements_are_sample_exact_and_never_overlap():
    sr = 24000
    clips = [Clip(1, "b", 2.0, 5.0), Clip(0, "a", 0.5, 3.0), Clip(2, "c", 4.0, 9.0)]
    placements, total = plan_timeline(clips, sr, 6.0)
    assert total == 6 * sr
    assert [p.idx for p in placements] == [0, 1, 2]
    assert placements[0].start == 12000
    # limits are clipped to the next clip's start and the track end
    assert placements[0].limit == 2 * sr
    assert placements[1].limit == 4 * sr
    assert placements[2].limit == 6 * sr
    for a, b in zip(placements, placements[1:], strict=False):
        assert a.limit <= b.start


def test_clip_past_track_end_is_an_error():
    with pytest.raises(ValueError, match="past the track end"):
        plan_timeline([Clip(0, "a", 7.0, 8.0)], 24000, 6.0)


def test_sequential_clips_add_each_lines_own_pause():
    from types import SimpleNamespace

    from orchestrator.output.assembly import sequential_clips

    segs = [SimpleNamespace(idx=i, audio_key=f"k{i}", final_s=1.0, pause_after_s=p)
            for i, p in enumerate([None, 2.0, 0.0])]
    clips, total = sequential_clips(segs, head_s=0.5, pause_s=0.6, tail_s=1.0)
    assert [c.start_s for c in clips] == pytest.approx([0.5, 2.1, 5.7])
    assert total == pytest.approx(7.7)
    # A pause after the last line comes before the tail.
    segs[2].pause_after_s = 1.5
    assert sequential_clips(segs, head_s=0.5, pause_s=0.6, tail_s=1.0)[1] == pytest.approx(9.2)
