"""Composed mode: several nodes of the teleop graph in one process, spun by one executor.

    teleop_container [--video FILE] [--image-topic T] [--camera-info-topic T] [--config-dir DIR]
                     [--only NODE ...] [--set NODE:KEY:=VALUE ...]

As in a ROS 2 component container, each node is built with exactly the arguments it gets in its
own process (bringup.node_arguments: name, parameter file, remappings) as node-local arguments,
so both modes run the same graph.  rclpy has no intra-process transport (messages still cross the
middleware on loopback), but one process avoids a second interpreter competing for the two
cores, and one executor serves every callback of the chain in turn.
"""
from __future__ import annotations

import os
import sys

from teleop_common.node_support import run_nodes
from teleop_session.bringup import graph, graph_parser, node_arguments, topic_overrides
from teleop_session.graph import CAMERA_SOURCE, NodeSpec


def parse_settings(settings: list[str], specs: list[NodeSpec]) -> dict[str, dict[str, str]]:
    """NODE:KEY:=VALUE -> {node: {key: value}}; an unknown node or a malformed setting fails at start-up."""
    names = {spec.name for spec in specs}
    parsed: dict[str, dict[str, str]] = {}
    for setting in settings:
        node, _, assignment = setting.partition(":")
        key, sep, value = assignment.partition(":=")
        if node not in names or not key or not sep:
            raise SystemExit(f"--set {setting!r}: expected NODE:KEY:=VALUE with NODE one of {sorted(names)}")
        parsed.setdefault(node, {})[key] = value
    return parsed


def main(argv: list[str] | None = None) -> None:
    parser = graph_parser(__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="NODE:KEY:=VALUE",
                        help="parameter override for one node (as -p in its own process)")
    args, _ros_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    specs = graph(args.video, args.only)
    settings = parse_settings(args.set, specs)
    overrides = topic_overrides(args.image_topic, args.camera_info_topic)

    def factory(spec: NodeSpec):
        extra = dict(settings.get(spec.name, {}))
        if spec is CAMERA_SOURCE:
            extra["source"] = args.video
        arguments = node_arguments(spec, args.config_dir, overrides, extra)
        return lambda: spec.load_node_class()(cli_args=arguments, use_global_arguments=False)

    failed = run_nodes([factory(spec) for spec in specs])
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
