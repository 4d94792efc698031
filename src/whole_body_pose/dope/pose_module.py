"""The pose module: joins detected hands and faces to detected bodies into whole-body poses.

A hand joins the body whose wrist is nearest its root joint when that body is also the hand's
nearest and the distance is within `hand_reach` hand sizes; the wrist it joins decides which hand
it is (more reliable than the classifier's left/right).  A face joins the body whose head joint is
nearest the face's centre, mutually, with the head inside the face box grown by `face_reach`.
Parts that join no body stay persons of their own (a hand seen without its body is still useful).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from whole_body_pose.dope.merge import Detection
from whole_body_pose.dope.parts import PartJoints


@dataclass
class WholeBody:
    body: Detection | None = None
    left_hand: Detection | None = None
    right_hand: Detection | None = None
    face: Detection | None = None

    @property
    def score(self) -> float:
        return max(d.score for d in (self.body, self.left_hand, self.right_hand, self.face) if d is not None)


def _mutual_nearest(distance: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, col) that are each other's nearest and allowed."""
    if distance.size == 0:
        return []
    pairs = []
    for col in range(distance.shape[1]):
        row = int(np.argmin(distance[:, col]))
        if allowed[row, col] and int(np.argmin(distance[row])) == col:
            pairs.append((row, col))
    return pairs


def assemble(detections: dict[str, list[Detection]], joints: dict[str, PartJoints],
             hand_reach: float = 1.0, face_reach: float = 0.5) -> list[WholeBody]:
    bodies = [WholeBody(body=b) for b in detections.get("body", [])]
    hands, faces = detections.get("hand", []), detections.get("face", [])
    body_joints = joints["body"]
    used_hands: set[int] = set()
    if bodies and hands:
        wrists = np.array([[b.body.pose2d[body_joints.joint("left_wrist")], b.body.pose2d[body_joints.joint("right_wrist")]]
                           for b in bodies]).reshape(-1, 2)                           # (2 * bodies, 2), left then right
        roots = np.array([h.pose2d[joints["hand"].joint("root")] for h in hands])
        sizes = np.array([(h.box[2:] - h.box[:2]).max() for h in hands])
        distance = np.linalg.norm(wrists[:, None] - roots[None], axis=-1)
        for row, col in _mutual_nearest(distance, distance <= hand_reach * sizes[None]):
            body, is_right = divmod(row, 2)
            hand = replace(hands[col], right=bool(is_right))
            if is_right:
                bodies[body].right_hand = hand
            else:
                bodies[body].left_hand = hand
            used_hands.add(col)
    used_faces: set[int] = set()
    if bodies and faces:
        heads = np.array([b.body.pose2d[body_joints.joint("head")] for b in bodies])
        boxes = np.array([f.box for f in faces])
        grow = face_reach * (boxes[:, 2:] - boxes[:, :2])
        low, high = boxes[:, :2] - grow, boxes[:, 2:] + grow
        inside = ((heads[:, None] >= low[None]) & (heads[:, None] <= high[None])).all(-1)
        distance = np.linalg.norm(heads[:, None] - (boxes[None, :, :2] + boxes[None, :, 2:]) / 2, axis=-1)
        for row, col in _mutual_nearest(distance, inside):
            bodies[row].face = faces[col]
            used_faces.add(col)
    alone = [WholeBody(right_hand=h) if h.right else WholeBody(left_hand=h)
             for i, h in enumerate(hands) if i not in used_hands]
    alone += [WholeBody(face=f) for i, f in enumerate(faces) if i not in used_faces]
    return bodies + alone
