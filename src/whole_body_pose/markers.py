"""PoseFrame -> visualization_msgs/MarkerArray skeletons in the camera frame (for RViz)."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from teleop_common.layout import SKELETON_EDGES
from teleop_common.pose import PoseFrame

_EDGES = np.asarray(SKELETON_EDGES, np.int64)
_LIFETIME = Duration(sec=0, nanosec=500_000_000)


def _color(track_id: int) -> ColorRGBA:
    hue = (track_id * 0.618034) % 1.0
    r, g, b = (np.clip(np.abs((hue * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)).tolist()
    return ColorRGBA(r=r, g=g, b=b, a=1.0)


def frame_to_markers(frame: PoseFrame, header: Header, min_confidence: float = 0.3) -> MarkerArray:
    """One LINE_LIST (bones) and one SPHERE_LIST (joints) per person; stale ones expire."""
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for person in frame.poses:
        visible = (person.confidence >= min_confidence) & np.isfinite(person.points).all(axis=1)
        edges = _EDGES[visible[_EDGES[:, 0]] & visible[_EDGES[:, 1]]]
        color = _color(person.track_id)
        bones = Marker(header=header, ns="bones", id=int(person.track_id), type=Marker.LINE_LIST,
                       action=Marker.ADD, lifetime=_LIFETIME, color=color)
        bones.scale.x = 0.01
        bones.pose.orientation.w = 1.0
        bones.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in person.points[edges.reshape(-1)]]
        joints = Marker(header=header, ns="joints", id=int(person.track_id), type=Marker.SPHERE_LIST,
                        action=Marker.ADD, lifetime=_LIFETIME, color=color)
        joints.scale.x = joints.scale.y = joints.scale.z = 0.02
        joints.pose.orientation.w = 1.0
        joints.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in person.points[visible]]
        markers += [bones, joints]
    return MarkerArray(markers=markers)
