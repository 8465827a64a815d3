"""tools/cassandra_cluster.py without starting anything: the nodes' settings (addresses,
tokens, seeds, snitch, racks), the partition rules, and the command line's bad input."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tool = _load("cassandra_cluster")


def _cluster(tmp_path: Path, nodes: int = 3):
    return tool.ClusterSettings(directory=str(tmp_path / "cluster"), nodes=nodes)


def test_nodes_share_ports_and_differ_in_address(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    nodes = [tool.node_settings(cluster, n) for n in cluster.node_numbers]
    assert [s.host for s in nodes] == ["127.0.2.1", "127.0.2.2", "127.0.2.3"]
    assert {s.port for s in nodes} == {9042} and {s.effective_storage_port for s in nodes} == {7000}
    assert len({s.node_dir for s in nodes}) == 3
    assert cluster.contact_points == "127.0.2.1:9042,127.0.2.2:9042,127.0.2.3:9042"


def test_tokens_are_assigned_up_front_and_evenly(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    configs = [
        tool.node_tool.cassandra_yaml_config(tool.node_settings(cluster, n))
        for n in cluster.node_numbers
    ]
    tokens = [int(c["initial_token"]) for c in configs]
    assert tokens[0] == -(2**63)
    assert tokens[1] - tokens[0] == tokens[2] - tokens[1] == 2**64 // 3
    for config in configs:
        assert config["num_tokens"] == 1 and config["auto_bootstrap"] is False
        assert config["endpoint_snitch"] == "GossipingPropertyFileSnitch"
        seeds = config["seed_provider"][0]["parameters"][0]["seeds"]
        assert seeds == "127.0.2.1:7000,127.0.2.2:7000,127.0.2.3:7000"
        assert config["listen_address"] == config["rpc_address"]


def test_each_node_has_its_own_rack_in_one_datacenter(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    settings = tool.node_settings(cluster, 2)
    tool._write_rack_properties(settings, 2)
    text = (settings.conf_dir / "cassandra-rackdc.properties").read_text()
    assert text == "dc=dc1\nrack=rack2\n"


def test_a_partition_drops_the_node_address_and_its_own_sockets() -> None:
    rules = list(tool._rule_args("127.0.2.2"))
    assert ("-d", "127.0.2.2/32", "-j", "DROP") in rules
    # Outgoing connections leave from 127.0.0.1: only the node's cgroup tells them apart.
    assert ("-m", "cgroup", "--path", "pc-cassandra/127.0.2.2", "-j", "DROP") in rules


def test_commit_log_mode_reaches_the_yaml(tmp_path: Path) -> None:
    cluster = tool.ClusterSettings(directory=str(tmp_path), commitlog_sync="group")
    config = tool.node_tool.cassandra_yaml_config(tool.node_settings(cluster, 1))
    assert config["commitlog_sync"] == "group" and "commitlog_sync_group_window" in config


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "--nodes", "0"], "a local cluster has 1 to 9 nodes"),
        (["kill", "4"], "node 4: the cluster has nodes 1 to 3"),
        (["status"], "no cluster in"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    directory = tmp_path / "cluster"
    if argv[0] == "kill":  # a recorded 3-node cluster that is not running
        directory.mkdir()
        (directory / "cluster.json").write_text('{"nodes": 3}')
    code = tool.main([*argv, "--dir", str(directory)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert message in err[-1] and "Traceback" not in "\n".join(err)
