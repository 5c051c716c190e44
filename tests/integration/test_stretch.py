"""voicecast.audio.stretch with the real Rubber Band tool (so not a unit test)."""

from __future__ import annotations

import numpy as np
import pytest
from audiocheck import dominant_hz, syllables

from voicecast import audio

SR = 24000


@pytest.mark.parametrize("ratio", [0.7, 0.8, 1.25, 1.4])
def test_stretch_exact_length_and_pitch_kept(ratio: float) -> None:
    pause = np.zeros(SR // 10, np.float32)
    x = np.concatenate([pause, syllables(8 * 0.22), pause])
    target = int(round(x.size * ratio))
    y = audio.stretch(x, SR, target)
    assert y.dtype == np.float32 and y.size == target
    assert dominant_hz(y, SR) == pytest.approx(dominant_hz(x, SR), abs=3)
    # the speech itself is stretched (to within a few ms), not cut or padded
    fy, ly = audio.speech_bounds(y, SR, -40.0)
    fx, lx = audio.speech_bounds(x, SR, -40.0)
    assert (ly - fy) == pytest.approx((lx - fx) * ratio, abs=0.005 * SR)
