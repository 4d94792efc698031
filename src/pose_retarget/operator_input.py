"""The operator's arms as end-effector targets, frame by frame: what the retargeting core reads (no ROS).

One frame: reject it whole if it breaks the message contract (input_check) or is stale, pick the
operator (operator.OperatorSelector), and map each arm (mapping.Mapper).  An arm whose keypoints are
invalid in a frame (a wrist missed for a frame or two, as the pose node's temporal model would fill)
keeps its last target for `input.bridge_s`: it goes on moving instead of stalling, and is not slowed
to re-sync when its input returns; longer, it holds.  An operator unseen for
`operator.lost_timeout_s` by the node's clock is forgotten, and so is anyone after a change of
operator: targets are only ever the current operator's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pose_retarget.config import RetargetNodeConfig
from pose_retarget.input_check import frame_problem
from pose_retarget.mapping import ArmTarget, InputInvalid, Mapper
from pose_retarget.operator import OperatorSelector
from pose_retarget.robot import Robot
from teleop_common.pose import PoseFrame
from teleop_common.status import Reason

Problems = dict[str, tuple[Reason, str]]


@dataclass
class Reading:
    """What one frame gave: targets of the arms with usable input, the reason of the others."""

    targets: dict[str, ArmTarget] = field(default_factory=dict)
    problems: Problems = field(default_factory=dict)
    rejected: str = ""                                      # kind of a whole-frame rejection
    bridged: dict[str, str] = field(default_factory=dict)   # arms on their last target, and why
    operator_changed: str = ""                              # the engaged operator was replaced: why


class OperatorInput:
    def __init__(self, config: RetargetNodeConfig, robot: Robot) -> None:
        self.config, self.robot = config, robot
        self.selector = OperatorSelector(config.operator, config.input.min_confidence)
        self.mapper = Mapper(robot, config.mapping, config.input)
        self.targets: dict[str, ArmTarget] = {}   # the last frame's targets (engagement compares with them)
        self.targets_stamp_ns = 0
        self._last_targets: dict[str, tuple[ArmTarget, int]] = {}   # per arm: last mapped target, its stamp
        self._last_stamp_ns: int | None = None
        self._seen_ns: int | None = None          # this node's clock, when the operator was last seen

    def everyone(self, reason: Reason, detail: str) -> Problems:
        return {arm.name: (reason, detail) for arm in self.robot.arms}

    def fresh(self, now_ns: int) -> bool:
        """A target of the current operator from a frame recent enough to engage on."""
        age = (now_ns - self.targets_stamp_ns) * 1e-9
        return (-self.config.input.max_future_s <= age <= self.config.input.stale_timeout_s
                and bool(self.targets) and self.selector.track_id is not None)

    def forget(self, times: bool = False) -> None:
        """Forget the operator (and, with `times`, every time taken: the clock jumped)."""
        self.selector.reset()
        self.mapper.reset()
        self.targets, self.targets_stamp_ns, self._last_targets = {}, 0, {}
        if times:
            self._last_stamp_ns = self._seen_ns = None

    def lost(self, now_ns: int) -> str:
        """Why the operator is forgotten now ('' while not): unseen for operator.lost_timeout_s by this
        node's clock, whether frames keep arriving or none come at all (a restarted pose node reuses
        track ids for whoever it sees first)."""
        if self.selector.track_id is None or self._seen_ns is None:
            return ""
        unseen = (now_ns - self._seen_ns) * 1e-9
        if unseen <= self.config.operator.lost_timeout_s:
            return ""
        why = f"operator (track {self.selector.track_id}) unseen for {unseen:.2f} s"
        self.forget()
        return why

    def read(self, frame: PoseFrame, now_ns: int, engaged: bool, ee_positions: dict[str, np.ndarray]) -> Reading:
        """This frame's targets; `ee_positions` (per arm, where the end effector is) anchor hand-source motion."""
        problem = frame_problem(frame, now_ns, self.config.input.max_future_s)
        if problem is not None:                 # rejected before it can make later frames look stale
            return Reading(problems=self.everyone(Reason.INPUT_INVALID, problem[1]), rejected=problem[0])
        stale = (now_ns - frame.stamp_ns) * 1e-9 > self.config.input.stale_timeout_s or \
            (self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns)
        if stale:
            return Reading(problems=self.everyone(Reason.INPUT_STALE, "input is stale"))
        self._last_stamp_ns = frame.stamp_ns
        reading = Reading()
        previous = self.selector.track_id
        person = self.selector.select(frame.poses, frame.stamp_ns)
        if self.selector.track_id != previous and not self.selector.reacquired:   # the operator back: re-syncs
            self.mapper.reset()
            self.targets, self._last_targets = {}, {}   # engage only on the new operator's own pose
            if previous is not None:                    # never carry an engagement over to someone else
                reading.operator_changed = f"operator changed from track {previous} to {self.selector.track_id}"
        if person is None:
            reading.problems = self.everyone(Reason.INPUT_INVALID, self.selector.refused or "no operator in view")
            return reading
        self._seen_ns = now_ns
        if not engaged:
            self.mapper.rebase()                        # hand source: motion counts from engagement on
        for arm in self.robot.arms:
            try:
                target = self.mapper.map_arm(person, arm, self.robot.shoulders[arm.name], ee_positions[arm.name])
                reading.targets[arm.name] = target
                self._last_targets[arm.name] = (target, frame.stamp_ns)
            except InputInvalid as error:
                last = self._last_targets.get(arm.name)
                if last and (frame.stamp_ns - last[1]) * 1e-9 <= self.config.input.bridge_s:
                    reading.targets[arm.name] = last[0]
                    reading.bridged[arm.name] = f"{error}; bridged: moving on to the last target"
                else:
                    reading.problems[arm.name] = (Reason.INPUT_INVALID, str(error))
        if reading.targets:
            self.targets, self.targets_stamp_ns = reading.targets, frame.stamp_ns
        return reading
