import pytest

from voicecast.storage import LocalStore
from workers.synth import CrashLoop, crash_guard


def test_a_segment_that_keeps_killing_its_worker_is_failed(tmp_path):
    store = LocalStore(tmp_path)
    key = "attempts/job/7"
    # Two deliveries die inside: entered, never left (kept alive, as a killed
    # process never runs its cleanup).
    dead = [crash_guard(store, key, 2) for _ in range(2)]
    for guard in dead:
        guard.__enter__()
    # ...the third is refused with a reason, and the counter is cleared.
    with pytest.raises(CrashLoop, match="killed its worker 2 times"):
        crash_guard(store, key, 2).__enter__()
    assert not store.exists(key)


def test_normal_ends_reset_the_count(tmp_path):
    store = LocalStore(tmp_path)
    for _ in range(5):
        with crash_guard(store, "attempts/j/1", 2):
            pass
    with pytest.raises(ValueError):
        with crash_guard(store, "attempts/j/1", 2):
            raise ValueError("engine error: an ordinary failure, not a crash")
    assert not store.exists("attempts/j/1")
