"""The access core (pose_retarget.source_guard.Access) alone: what the retargeting node is told to do
for each graph and clock it sees.  test_retarget_access.py runs the same over real DDS."""
from __future__ import annotations

from pose_retarget.config import AccessConfig
from pose_retarget.source_guard import Access, Endpoint

POSE = Endpoint("/whole_body_pose", b"\x01" * 16)
POSE_RESTARTED = Endpoint("/whole_body_pose", b"\x02" * 16)
INTRUDER = Endpoint("/intruder", b"\x03" * 16)


def test_the_source_is_bound_and_a_second_publisher_raises_one_alarm_until_gone() -> None:
    access = Access(AccessConfig(pose_source="/whole_body_pose"), sim_time=False)
    assert access.review([POSE], []) == [] and access.source.accepts(POSE.gid)
    events = access.review([POSE, INTRUDER], [])
    assert [(e.kind, e.clock_jump) for e in events] == [("foreign_publisher", False)] and "'/intruder'" in access.alarm()
    assert access.review([POSE, INTRUDER], []) == []            # still there: no second event, still held
    assert access.alarm()
    assert access.review([POSE], []) == [] and access.alarm() == ""   # gone: sound again


def test_a_restarted_source_is_bound_again_and_disengages() -> None:
    access = Access(AccessConfig(pose_source="/whole_body_pose"), sim_time=False)
    access.review([POSE], [])
    events = access.review([POSE_RESTARTED], [])
    assert [e.kind for e in events] == ["source_restarted"] and not events[0].clock_jump
    assert access.source.accepts(POSE_RESTARTED.gid) and not access.source.accepts(POSE.gid)


def test_engage_clients_outside_the_allowed_nodes_raise_an_alarm() -> None:
    access = Access(AccessConfig(engage_callers="/teleop_ui"), sim_time=False)
    assert access.review([POSE], [Endpoint("/teleop_ui", b"\x04" * 16)]) == []
    events = access.review([POSE], [INTRUDER])
    assert [e.kind for e in events] == ["foreign_engage_client"] and "/intruder" in access.alarm()
    assert Access(AccessConfig(), sim_time=False).review([POSE], [INTRUDER]) == []   # anyone may


def test_no_clock_under_sim_time_and_a_jump_back() -> None:
    access = Access(AccessConfig(), sim_time=True)
    sound, events = access.check_clock(0, 10**9)
    assert not sound and [e.kind for e in events] == ["no_clock"] and "no clock" in access.alarm()
    assert access.check_clock(5 * 10**9, 2 * 10**9) == (True, []) and access.alarm() == ""
    sound, events = access.check_clock(4 * 10**9, 3 * 10**9)        # one second back
    assert sound and [(e.kind, e.clock_jump) for e in events] == [("clock_jump", True)]
    sound, events = access.check_clock(10 * 10**9, 4 * 10**9)       # 5 s ahead of 1 s of steady time
    assert sound and "ahead" in events[0].text
