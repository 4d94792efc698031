"""Who may command the robot: one pose publisher, known engage callers, a clock that does not jump (no rclpy).

Any process in the DDS domain can publish poses, call ~/engage or publish /clock.  The node asks the
ROS graph who is there and checks each pose message's publisher GID against the one source it bound;
these classes decide from what it found (Access: all of it; the node only feeds it and acts on its
events).  Anything unexpected is reported as an alarm: the node holds the robot (disengaged) and
reports ERROR on /diagnostics until it is gone, so sources are never mixed.
"""
from __future__ import annotations

from dataclasses import dataclass

from pose_retarget.config import AccessConfig
from teleop_common.text import printable


@dataclass(frozen=True)
class Endpoint:
    node: str     # fully qualified node name ('/ns/name'; rmw reports unknown names as such)
    gid: bytes


def node_name(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('/')}/{name}"


class SourceGuard:
    """The one publisher whose poses are followed: the configured node's (or, with none configured,
    the only publisher at the first message), bound by its GID for the whole run.  If that publisher
    disappears, the next one of the configured node is bound (`rebound`: a new engage is needed)."""

    def __init__(self, source_node: str) -> None:
        self.source_node = source_node
        self.bound: Endpoint | None = None
        self.rebound = False

    def review(self, publishers: list[Endpoint]) -> str:
        """Update from the graph's publishers of the input; the problem, '' when only the source publishes."""
        gids = {p.gid for p in publishers}
        if self.bound is not None and self.bound.gid not in gids:
            self.bound, self.rebound = None, True
        if self.bound is None:
            candidates = [p for p in publishers if not self.source_node or p.node == self.source_node]
            if len(candidates) > 1:
                names = ", ".join(sorted(repr(p.node) for p in candidates))
                return f"{len(candidates)} publishers claim to be the pose source: {names}"
            if candidates:
                self.bound = candidates[0]
        others = sorted(repr(p.node) for p in publishers if self.bound is None or p.gid != self.bound.gid)
        if others:
            return f"another publisher on the pose input: {', '.join(others)}"
        return ""

    def accepts(self, gid: bytes) -> bool:
        return self.bound is not None and gid == self.bound.gid


def foreign_callers(clients: list[Endpoint], allowed: list[str]) -> list[str]:
    """Nodes holding a client of the engage service that are not allowed to ([] when any node may)."""
    return sorted({c.node for c in clients if allowed and c.node not in allowed})


class ClockGuard:
    """Compares the node's clock (ROS time: /clock under use_sim_time) with a steady clock: a step
    backwards, or one further ahead than `max_jump_s` beyond the steady time, is a jump; under
    use_sim_time a clock still at zero means no /clock has arrived."""

    def __init__(self, max_jump_s: float, sim_time: bool) -> None:
        self.max_jump_ns = int(max_jump_s * 1e9)
        self.sim_time = sim_time
        self._last: tuple[int, int] | None = None

    def check(self, clock_ns: int, steady_ns: int) -> str:
        """'' while the clock is sound, else what is wrong with it ('no clock', or the jump)."""
        if self.sim_time and clock_ns == 0:
            return "no clock"
        last, self._last = self._last, (clock_ns, steady_ns)
        if last is None or last[0] == 0:           # the first reading, or /clock just started
            return ""
        ahead = (clock_ns - last[0]) - (steady_ns - last[1])
        if clock_ns < last[0]:
            return f"clock jumped back {(last[0] - clock_ns) * 1e-9:.3f} s"
        if ahead > self.max_jump_ns:
            return f"clock jumped {ahead * 1e-9:.3f} s ahead"
        return ""


@dataclass(frozen=True)
class Event:
    """Something the node reports (counted, logged): it holds the robot, or, a clock jump, makes the
    retargeting core forget the times it took (which disengages it there)."""

    kind: str
    text: str
    clock_jump: bool = False


class Access:
    """Everything that holds the robot whatever its input: the bound pose source, the engage callers
    and the clock.  The node feeds it what the ROS graph and its clocks say and acts on the events;
    `alarm()` is the ERROR text while something is wrong ('' when sound)."""

    def __init__(self, config: AccessConfig, sim_time: bool) -> None:
        self.source = SourceGuard(config.pose_source)
        self.clock = ClockGuard(config.max_clock_jump_s, sim_time)
        self.allowed = config.callers()
        self._alarms: dict[str, str] = {}      # by kind; '' entries are cleared

    def alarm(self) -> str:
        return "; ".join(text for text in self._alarms.values() if text)

    def _set(self, kind: str, text: str) -> list[Event]:
        """Set (or, with '', clear) one alarm; a new one is an event."""
        new = bool(text) and not self._alarms.get(kind)
        self._alarms[kind] = text
        return [Event(kind, text)] if new else []

    def review(self, publishers: list[Endpoint], clients: list[Endpoint]) -> list[Event]:
        """From the graph: the pose input's publishers and the engage service's clients (only read
        when access.engage_callers restricts them)."""
        events = self._set("foreign_publisher", self.source.review(publishers))
        if self.source.rebound:                # the source restarted: never carry an engagement over
            self.source.rebound = False
            events.append(Event("source_restarted", "the bound pose publisher is gone; bound the next one of the source"))
        if self.allowed:
            foreign = foreign_callers(clients, self.allowed)
            events += self._set("foreign_engage_client", "a client of ~/engage outside access.engage_callers: "
                                + ", ".join(map(printable, foreign)) if foreign else "")
        return events

    def check_clock(self, clock_ns: int, steady_ns: int) -> tuple[bool, list[Event]]:
        """False while the clock cannot be trusted (no /clock under use_sim_time, or it just jumped)."""
        why = self.clock.check(clock_ns, steady_ns)
        if why == "no clock":
            return False, self._set("no_clock", "no clock: use_sim_time is set and no /clock has arrived")
        self._alarms["no_clock"] = ""
        return True, [Event("clock_jump", why, clock_jump=True)] if why else []
