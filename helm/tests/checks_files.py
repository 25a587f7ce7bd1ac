"""Checks of the Dockerfile, .dockerignore and docker-compose.yml (no Docker engine needed)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

BUILD_PACKAGES = ["cmake", "libssl-dev", "libsasl2-dev", "libcurl4-openssl-dev", "zlib1g-dev", "libzstd-dev", "pkg-config"]
RUNTIME_PACKAGES = ["libssl3", "libsasl2-2", "libcurl4", "zlib1g", "libzstd1", "ca-certificates"]

# Keys of the Compose specification, to catch typos when no compose tool is installed.
COMPOSE_TOP = {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include", "models"}
COMPOSE_SERVICE = {
    "annotations", "attach", "build", "blkio_config", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add", "healthcheck",
    "hostname", "image", "init", "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit",
    "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop", "privileged", "profiles",
    "pull_policy", "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket",
    "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _duration_seconds(text: str) -> float:
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(text)):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total


def dockerfile_structure():
    text = (REPO / "Dockerfile").read_text()
    lines = [ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", "\n".join(lines), re.M))
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert len(froms) >= 2, "the Dockerfile must be multi-stage"
    for f in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), f.split()[1])
        assert "$" not in image, f"unresolved base image {image}"
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", f"base image not pinned to a release: {image}"
        assert re.search(r"\d", tag), f"base image tag is not a version: {image}"
    build_part, runtime_part = text.split(froms[-1].split()[0] + " ", 1)[0], text.rsplit("FROM ", 1)[1]
    for p in BUILD_PACKAGES:
        assert re.search(rf"\b{re.escape(p)}\b", text.split("AS runtime")[0]), f"build stage lacks {p}"
    for p in RUNTIME_PACKAGES:
        assert re.search(rf"\b{re.escape(p)}\b", runtime_part), f"runtime stage lacks {p}"
    assert not re.search(r"\b(cmake|-dev)\b", runtime_part), "build tools leak into the runtime stage"
    assert "COPY --from=build" in runtime_part, "the runtime stage must copy the binary from the build stage"
    users = re.findall(r"^USER\s+(\S+)", runtime_part, re.M)
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root") and (not uid.isdigit() or int(uid) >= 10000), f"runtime user {users[-1]}"
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/allocation-worker"\]', runtime_part, re.M), "ENTRYPOINT"
    assert "--locked" in build_part or "--locked" in text, "cargo build must use --locked"
    assert "rm -rf /var/lib/apt/lists" in runtime_part, "apt lists left in the runtime image"


def dockerignore():
    text = (REPO / ".dockerignore").read_text()
    patterns = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "*" in patterns, ".dockerignore must start from an empty context"
    for needed in ("Cargo.toml", "Cargo.lock", "src/", "schemas/"):
        assert f"!{needed}" in patterns, f".dockerignore excludes {needed}"
    assert any("target" in p and not p.startswith("!") for p in patterns), ".dockerignore must exclude target/"
    # Everything the Dockerfile copies is in the context.
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", (REPO / "Dockerfile").read_text(), re.M):
        for item in src.split():
            name = item.rstrip("/")
            assert f"!{name}/" in patterns or f"!{name}" in patterns, f"Dockerfile copies {item}, .dockerignore excludes it"


def compose_structure():
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    unknown = [k for k in data if k not in COMPOSE_TOP and not k.startswith("x-")]
    assert not unknown, f"unknown top-level keys {unknown}"
    services = data["services"]
    assert set(services) >= {"kafka", "registry", "topics", "worker", "serve"}, sorted(services)
    for name, svc in services.items():
        bad = [k for k in svc if k not in COMPOSE_SERVICE]
        assert not bad, f"service {name}: unknown keys {bad}"
        assert "image" in svc or "build" in svc, f"service {name} has neither image nor build"
        if "image" in svc and "build" not in svc:
            assert re.search(r":[\w.-]*\d", svc["image"]) and not svc["image"].endswith(":latest"), f"{name}: unpinned {svc['image']}"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond.get("condition") in DEPENDS_CONDITIONS, f"{name}: {cond}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy, {dep} has no healthcheck"
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1", kafka["image"]
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, "KRaft combined mode"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "CLUSTER_ID" in env and "KAFKA_CONTROLLER_QUORUM_VOTERS" in env
    assert not [k for k in env if "ZOOKEEPER" in k], "KRaft: no ZooKeeper"
    registry = services["registry"]
    assert registry["image"] == "apicurio/apicurio-registry:3.0.9", registry["image"]
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    for name in ("topics", "worker", "serve"):
        svc = services[name]
        senv = {k: str(v) for k, v in svc["environment"].items()}
        boot = senv["KAFKA_BOOTSTRAP_SERVERS"]
        assert boot.split(":")[0] == "kafka" and f"//{boot}" in advertised, f"{name}: {boot} is not an advertised listener"
        url = senv["SCHEMA_REGISTRY_URL"]
        assert url == "http://registry:8080/apis/ccompat/v7", f"{name}: {url}"
        assert svc.get("read_only") is True and "ALL" in svc.get("cap_drop", []), f"{name}: not hardened"
        assert str(svc.get("user", "")).split(":")[0] not in ("", "0", "root"), f"{name}: runs as root"
    topics = services["topics"]
    assert topics["command"][0] == "topics" and str(topics.get("restart")) == "no"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, verb in (("worker", "run"), ("serve", "serve")):
        svc = services[name]
        assert svc["command"][0] == verb, f"{name}: {svc['command']}"
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    wenv = services["worker"]["environment"]
    assert wenv.get("TRANSACTIONAL_ID"), "the worker needs a stable TRANSACTIONAL_ID"
    grace = _duration_seconds(services["worker"].get("stop_grace_period", "10s"))
    assert grace * 1000 > int(wenv["SHUTDOWN_TIMEOUT_MS"]), "stop_grace_period must exceed SHUTDOWN_TIMEOUT_MS"


def compose_tool():
    """`docker compose config` (or docker-compose) where a compose tool is installed."""
    cmd = None
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        cmd = ["docker", "compose"]
    elif shutil.which("docker-compose") and subprocess.run(["docker-compose", "version"], capture_output=True).returncode == 0:
        cmd = ["docker-compose"]
    if cmd is None:
        print("     (no docker compose tool installed: structural check only)")
        return
    proc = subprocess.run(cmd + ["-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, f"{' '.join(cmd)} config failed:\n{proc.stderr}"
    print(f"     ({' '.join(cmd)} config: valid)")


CHECKS = [
    ("Dockerfile structure (multi-stage, pinned bases, packages, non-root)", dockerfile_structure),
    (".dockerignore", dockerignore),
    ("docker-compose.yml structure", compose_structure),
    ("docker-compose.yml compose config", compose_tool),
]
