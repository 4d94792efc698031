"""SROS2 with the Kilted wheels: tools/sros2_keystore.sh makes a keystore that rcl accepts, and a node
started with ROS_SECURITY_ENABLE=true either runs secured or, as measured with the PyPI wheels (Fast
DDS built without -DSECURITY=ON), fails at start with the message the README quotes.  If a later
wheel ships the security plugins, this test says so by taking the other branch: two secured nodes
then talk, and the README must be updated."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

MISSING = "This Fast DDS version doesn't have the security libraries"
PROBE = """
import sys, time, rclpy
from std_msgs.msg import String
rclpy.init(args=["--ros-args", "--enclave", sys.argv[1]])
node = rclpy.create_node("probe_" + sys.argv[1].rsplit("/", 1)[1])
got = []
node.create_subscription(String, "/sros2_probe", got.append, 10)
publisher = node.create_publisher(String, "/sros2_probe", 10)
deadline = time.monotonic() + 20
while not got and time.monotonic() < deadline:
    publisher.publish(String(data="hello"))
    rclpy.spin_once(node, timeout_sec=0.1)
print("received" if got else "nothing received")
"""


def test_secured_node_runs_or_fails_with_the_measured_error(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the keystore")
    keystore = tmp_path / "keystore"
    subprocess.run(["bash", str(REPO / "tools" / "sros2_keystore.sh"), str(keystore), "/teleop/probe"],
                   check=True, capture_output=True)
    enclave = keystore / "enclaves" / "teleop" / "probe"
    assert {"cert.pem", "key.pem", "identity_ca.cert.pem", "permissions_ca.cert.pem", "governance.p7s",
            "permissions.p7s"} <= {p.name for p in enclave.iterdir()}
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(enclave / "identity_ca.cert.pem"),
                             str(enclave / "cert.pem")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), ROS_SECURITY_ENABLE="true", ROS_SECURITY_STRATEGY="Enforce",
               ROS_SECURITY_KEYSTORE=str(keystore))
    run = subprocess.run([sys.executable, "-c", PROBE, "/teleop/probe"], capture_output=True, text=True, env=env,
                         timeout=60)
    output = run.stdout + run.stderr
    assert "Found security directory" in output, output        # rcl found and accepted the enclave
    if MISSING in output:
        assert run.returncode != 0                              # refused at start: never silently unsecured
    else:
        assert run.returncode == 0 and "received" in run.stdout, output
