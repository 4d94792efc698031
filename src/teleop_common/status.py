"""Why an arm's command was held or clamped: the reason codes of whole_body_teleop/ArmStatus.

The message constants are the source; this enum is built from them so the retargeting core, the node
and the session report cannot disagree with what goes on the wire.
"""
from __future__ import annotations

from enum import IntEnum

from whole_body_teleop.msg import ArmStatus

Reason = IntEnum("Reason", {name: value for name, value in vars(ArmStatus).items()
                            if name.isupper() and isinstance(value, int)})
Reason.__doc__ = "ArmStatus reason codes (OK = sent as asked)."


def reason_name(code: int) -> str:
    """The constant's name for a reason code; the number itself when the code is unknown."""
    try:
        return Reason(code).name
    except ValueError:
        return str(code)
