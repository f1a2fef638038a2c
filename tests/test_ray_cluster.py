"""``druginv sweep`` on a Ray cluster of two nodes with token authentication (docs/cli.md, "On a
Ray cluster"): start a head, join a second node, run a sweep from the head, and be refused with
a wrong token, as the docs show.

The two nodes are test hosts of the suite's own: two network namespaces joined by a veth pair
(10.231.7.1 and .2), so that no traffic leaves them (Ray would otherwise use the machine's
interface address, even for 127.0.0.1). That needs root and iproute2, as CI has; elsewhere the
test is skipped, and under ``CI`` it fails instead."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from .helpers import missing

BIN = Path(sys.executable).parent
HEAD_IP, NODE_IP, PORT = "10.231.7.1", "10.231.7.2", 6379


def _needs_namespaces() -> None:
    pytest.importorskip("ray")
    lacking = None
    if os.geteuid() != 0:
        lacking = "root (network namespaces)"
    elif shutil.which("ip") is None:
        lacking = "iproute2's ip"
    if lacking is not None:
        missing(f"the Ray cluster test needs {lacking}")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair: (head namespace, node namespace)."""
    _needs_namespaces()
    tag = secrets.token_hex(3)
    head, node, a, b = f"drh{tag}", f"drn{tag}", f"vh{tag}", f"vn{tag}"
    made = []
    try:
        for ns in (head, node):
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        for ns, dev, addr in ((head, a, HEAD_IP), (node, b, NODE_IP)):
            _ip("link", "set", dev, "netns", ns)
            _ip("netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
            _ip("netns", "exec", ns, "ip", "link", "set", dev, "up")
            _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield head, node
    finally:
        for ns in made:  # deleting a namespace deletes its end of the veth pair, and the pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.mark.slow
def test_sweep_on_a_two_node_cluster_with_token_authentication(two_hosts, tmp_path):
    head_ns, node_ns = two_hosts
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.pop("RAY_ADDRESS", None)
    address = f"{HEAD_IP}:{PORT}"
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    started: list[subprocess.Popen] = []

    def in_ns(ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    def start(ns: str, name: str, *args: str) -> None:
        temp = Path(f"/tmp/ray-{ns}")  # short: Ray's socket paths must fit 107 bytes
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        started.append(
            subprocess.Popen(
                in_ns(ns, str(BIN / "ray"), "start", *args, "--temp-dir", str(temp), *common),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def nodes() -> int:
        r = subprocess.run(
            in_ns(head_ns, str(BIN / "ray"), "status", "--address", address),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return r.stdout.count("node_") if r.returncode == 0 else 0

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 120
        while nodes() < count:
            assert time.monotonic() < deadline, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(1)

    def sweep(out: Path, token_env: dict) -> subprocess.CompletedProcess:
        argv = ["sweep", "--address", address, "--n-drugs", "3", "--horizon", "4"]
        argv += ["--seeds", "0-3", "--policies", "max-min", "--out", str(out)]
        return subprocess.run(
            in_ns(head_ns, str(BIN / "druginv"), *argv),
            env=token_env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    try:
        start(head_ns, "head", "--head", "--node-ip-address", HEAD_IP, "--port", str(PORT))
        start(node_ns, "node", "--address", address, "--node-ip-address", NODE_IP)
        wait_for(2)  # the head and the node that joined it
        done = sweep(tmp_path / "sweep", env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        table = pd.read_csv(tmp_path / "sweep" / "sweep.csv")
        assert sorted(table.seed) == [0, 1, 2, 3] and (table.total_cost > 0).all()
        wrong = sweep(tmp_path / "wrong", {**env, "RAY_AUTH_TOKEN": "0" * 32})
        assert wrong.returncode == 2
        last = wrong.stderr.strip().splitlines()[-1]
        assert last.startswith(f"druginv: error: cannot join the Ray cluster at {address}")
        assert not (tmp_path / "wrong" / "sweep.csv").exists()
    finally:
        for proc in started:  # `ray start --block` stops its node's processes on SIGTERM
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        for ns in two_hosts:
            shutil.rmtree(f"/tmp/ray-{ns}", ignore_errors=True)
