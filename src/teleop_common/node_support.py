"""rclpy helpers shared by the nodes: typed parameters, diagnostics, QoS, throttled warnings."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from teleop_common.config import ConfigError, field_of, flatten, from_mapping
from teleop_common.errors import StartupError
from teleop_common.stats import EventCounter
from teleop_common.text import one_line
from teleop_common.timing import StageStats

T = TypeVar("T")

# Images: the latest frame wins; a late frame is worth less than none.
SENSOR_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
# Poses, commands, status: reliable, short queue (stale entries are useless to a controller).
STATE_QOS = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)

_BUILTIN_PARAMETERS = {"use_sim_time", "start_type_description_service"}


def _descriptor(config_cls: type, key: str) -> ParameterDescriptor:
    """Accepted values of a (dotted) config key, shown by `ros2 param describe`."""
    field, _ = field_of(config_cls, key)
    meta = field.metadata
    if "choices" in meta:
        constraints = "one of " + " | ".join(meta["choices"])
    elif meta.get("low") is not None or meta.get("high") is not None:
        constraints = f"in [{meta.get('low')}, {meta.get('high')}]"
    else:
        constraints = ""
    return ParameterDescriptor(additional_constraints=constraints, dynamic_typing=True)


def declare_config(node: Node, config_cls: type[T], on_change: Callable[[T], None] | None = None) -> T:
    """Declare one ROS parameter per config field, validate them, and return the typed config.

    Fails at start-up (ConfigError naming the key and accepted values) on a bad value or an unknown
    key in the parameter file.  Later `set_parameters` calls are validated the same way and
    rejected with that message instead of reaching the node; accepted ones go to `on_change`
    (without it, changes are refused: the node needs a restart to apply them).
    """
    defaults = flatten(config_cls())
    for key, default in defaults.items():
        node.declare_parameter(key, default, _descriptor(config_cls, key))
    unknown = set(node._parameter_overrides) - set(defaults) - _BUILTIN_PARAMETERS  # noqa: SLF001
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(key, node._parameter_overrides[key].value, "known keys " + ", ".join(defaults))  # noqa: SLF001
    values = {key: node.get_parameter(key).value for key in defaults}
    config = from_mapping(config_cls, values)

    def validate(parameters: list[Parameter]) -> SetParametersResult:
        candidate = dict(values)
        candidate.update({p.name: p.value for p in parameters if p.name in defaults})
        try:
            new_config = from_mapping(config_cls, candidate)
        except ConfigError as error:
            return SetParametersResult(successful=False, reason=str(error))
        if on_change is None:
            return SetParametersResult(successful=False, reason="restart the node to change its configuration")
        values.update(candidate)
        on_change(new_config)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(validate)
    return config


class Diagnostics:
    """Publishes one DiagnosticStatus for the node on /diagnostics, once per `period_s`.
    `fault()` returns why the node cannot do its job ('' when it can): level ERROR with that message."""

    def __init__(self, node: Node, name: str, figures: Callable[[], dict[str, Any]],
                 counters: EventCounter, period_s: float = 1.0, fault: Callable[[], str] | None = None) -> None:
        self._node, self._name, self._figures, self.counters = node, name, figures, counters
        self._fault = fault
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # A steady clock: under use_sim_time the node's clock stands still until /clock comes, and
        # that is when diagnostics matter most.
        node.create_timer(period_s, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def publish(self) -> None:
        values = {key: f"{value:.3f}" if isinstance(value, float) else str(value)
                  for key, value in self._figures().items()}
        values.update(self.counters.as_strings())
        errors = sum(v for k, v in self.counters.items() if k.startswith("error"))
        fault = self._fault() if self._fault is not None else ""
        status = DiagnosticStatus(
            level=DiagnosticStatus.ERROR if fault else DiagnosticStatus.WARN if errors else DiagnosticStatus.OK,
            name=f"{self._node.get_name()}: {self._name}", hardware_id=self._node.get_fully_qualified_name(),
            message=one_line(fault) if fault else f"{errors} errors" if errors else "ok",
            values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array)


class StageTimes:
    """Publishes each frame's stage durations on `~/timing` (DiagnosticArray stamped like the frame:
    one status, one value per stage in ms) and keeps their rolling p50/p99 for /diagnostics."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.stats = StageStats()
        self._publisher = node.create_publisher(DiagnosticArray, "~/timing", STATE_QOS)
        self._name = node.get_name()

    def publish(self, stamp: Any, stages: dict[str, float]) -> None:
        self.stats.add(stages, time.monotonic())
        status = DiagnosticStatus(name=self._name, values=[KeyValue(key=k, value=f"{v:.3f}") for k, v in stages.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = stamp
        self._publisher.publish(array)


def read_stage_times(msg: DiagnosticArray) -> dict[str, float]:
    """The stage durations (ms) a StageTimes message carries."""
    return {value.key: float(value.value) for status in msg.status for value in status.values}


class ThrottledLog:
    """Logs each key at most once per `period_s`.  rclpy's own `throttle_duration_sec` decides only
    after locating its caller's source line (2.5 ms per call measured here): too slow per frame."""

    def __init__(self, node: Node, period_s: float = 5.0) -> None:
        self._node, self._period_s = node, period_s
        self._last_logged: dict[str, float] = {}

    def due(self, key: str) -> bool:
        """Whether `key` may be logged now (then it counts as logged)."""
        now = time.monotonic()
        if now - self._last_logged.get(key, -float("inf")) < self._period_s:
            return False
        self._last_logged[key] = now
        return True

    def info(self, key: str, text: str) -> None:
        if self.due(key):
            self._node.get_logger().info(one_line(text))

    def warning(self, key: str, text: str) -> None:
        if self.due(key):
            self._node.get_logger().warning(one_line(text))


class ErrorReporter:
    """Counts bad inputs by kind and logs each kind at most once per `period_s` (never raises)."""

    def __init__(self, node: Node, counters: EventCounter, period_s: float = 5.0) -> None:
        self._counters = counters
        self._log = ThrottledLog(node, period_s)

    def __call__(self, kind: str, detail: str) -> None:
        key = f"error.{kind}"
        self._counters[key] += 1
        self._log.warning(kind, f"{one_line(kind)}: {one_line(detail)} (seen {self._counters[key]} times)")


def deserialize_capped(raw: bytes, msg_type: type, cap: int, max_element_bytes: int) -> tuple[Any, int]:
    """A serialized message that starts with a std_msgs/Header and then a sequence (e.g.
    WholeBodyPoseArray.poses), deserialized with at most `cap` elements of that sequence, each of at
    most `max_element_bytes`; also returns the sequence's full length.  Nothing beyond those bytes is
    copied or converted, so a huge message costs what a capped one does.  When the sequence was cut,
    the fields after it are not read (they come out as garbage: the caller must not use them).
    Raises ValueError on a payload that is not plain CDR (encapsulation 0x0000 / 0x0001), and
    whatever rclpy raises on one that ends early (an element larger than the bound)."""
    import struct

    from rclpy.serialization import deserialize_message

    if len(raw) < 16 or raw[0] != 0 or raw[1] not in (0, 1):
        raise ValueError("not a plain CDR payload")
    order = "<" if raw[1] == 1 else ">"
    string_length = struct.unpack_from(order + "I", raw, 12)[0]       # header: stamp (8 bytes), frame_id
    offset = 4 + ((12 + string_length + 3) // 4) * 4                   # 4-aligned after the encapsulation
    if offset + 4 > len(raw):
        raise ValueError("truncated message")
    total = struct.unpack_from(order + "I", raw, offset)[0]
    limit = offset + 4 + min(total, cap) * max_element_bytes + 64      # + the fields after the sequence
    if total > cap:
        raw = raw[:offset] + struct.pack(order + "I", cap) + raw[offset + 4:limit]
    elif len(raw) > limit:
        raw = raw[:limit]
    return deserialize_message(raw, msg_type), total


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> None:
    """Standard main() of one node: see run_nodes."""
    run_nodes([factory], args)


def run_nodes(factories: list[Callable[[], Node]], args: list[str] | None = None) -> bool:
    """init, build the nodes, spin them all on one executor, clean shutdown on SIGINT/SIGTERM.
    Returns whether a node says it `failed` (a camera source that broke, for the exit status).

    One executor thread: callbacks only convert and hand over (heavy work has its own thread), and
    rclpy's multi-threaded executor costs more GIL time than it saves (measured on the session
    benchmark: 8.8 fps and p99 919 ms with it, 20.5 fps and p99 158 ms without).

    A ConfigError or other StartupError (e.g. a bad model file) during construction ends the
    process with status 2 and the error's message on one FATAL line, not a traceback.
    """
    import gc
    import sys

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=args)
    nodes: list[Node] = []
    try:
        for factory in factories:
            nodes.append(factory())
    except (ConfigError, StartupError) as error:
        print(f"[FATAL] {one_line(str(error))}", file=sys.stderr)
        for node in nodes:
            _close(node)
        rclpy.try_shutdown()
        raise SystemExit(2) from None
    # What exists now (modules, models, nodes) lives as long as the process: keep it out of the garbage
    # collector's full passes, which would otherwise rescan it (~5x10^4 objects, tens of ms holding the
    # GIL: a latency spike every few seconds); only objects made while serving are scanned.
    gc.collect()
    gc.freeze()
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGTERM can invalidate the context while the executor builds its wait set; that is a
        # shutdown, not a failure. Anything raised while the context is still valid is real.
        if executor.context.ok():
            raise
    finally:
        for node in nodes:
            _close(node)
        rclpy.try_shutdown()
    return any(getattr(node, "failed", False) for node in nodes)


def _close(node: Node) -> None:
    close = getattr(node, "close", None)
    if close is not None:
        close()
    node.destroy_node()
