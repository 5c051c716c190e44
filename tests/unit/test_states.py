import pytest

from orchestrator.store.states import (
    InvalidTransition,
    JobStatus,
    SegmentStatus,
    check_job,
    check_segment,
)


def test_happy_path_and_resume():
    s = JobStatus.PENDING
    for nxt in (JobStatus.RENDERING, JobStatus.ASSEMBLING, JobStatus.DONE):
        s = check_job(s, nxt)
    assert check_job(JobStatus.FAILED, JobStatus.RENDERING) is JobStatus.RENDERING


@pytest.mark.parametrize("old,new", [
    (JobStatus.DONE, JobStatus.RENDERING),
    (JobStatus.PENDING, JobStatus.DONE),
    (JobStatus.FAILED, JobStatus.DONE),
])
def test_illegal_job_transitions(old, new):
    with pytest.raises(InvalidTransition):
        check_job(old, new)


def test_segment_done_is_final_but_idempotent():
    assert check_segment(SegmentStatus.DONE, SegmentStatus.DONE) is SegmentStatus.DONE
    with pytest.raises(InvalidTransition):
        check_segment(SegmentStatus.DONE, SegmentStatus.FAILED)


def test_status_values_are_plain_strings():
    assert JobStatus.DONE == "done" and f"{SegmentStatus.QUEUED}" == "queued"
