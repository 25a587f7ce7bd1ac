"""Assertions on the chart's rendered objects: each test_* fails when the chart regresses.

A test gets a Context: ctx.default() is the chart rendered with the minimum values (required
settings only), ctx.docs(name) a ci/*-values.yaml render, ctx.render(overrides) the minimum
values plus overrides. SELF_TESTS mutate the default render and expect a test to fail.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

from render import CHART, NAMESPACE, RELEASE, Renderer

BASE = {"kafka": {"bootstrapServers": "kafka:9092"}, "schemaRegistry": {"url": "http://registry:8081"}}
STANDARD_LABELS = ["helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"]
# Environment the binary's `run` reads (the contract); each must reach the worker container.
RUN_ENV = ["KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRATION", "TOPIC_PREFIX", "GROUP_ID",
           "TRANSACTIONAL_ID", "GROUP_INSTANCE_ID", "GUARANTEE", "COMMIT_INTERVAL_MS", "MAX_BATCH",
           "SESSION_TIMEOUT_MS", "TRANSACTION_TIMEOUT_MS", "SHUTDOWN_TIMEOUT_MS", "LOG_FORMAT", "RUST_LOG", "HTTP_ADDR"]
WORKER_ONLY_ENV = ["GROUP_ID", "GUARANTEE", "TRANSACTIONAL_ID", "GROUP_INSTANCE_ID", "COMMIT_INTERVAL_MS", "MAX_BATCH"]


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Context:
    def __init__(self, renderer: Renderer, rendered: dict[str, Path], default_docs: list[dict] | None = None):
        self.renderer = renderer
        self.rendered = rendered
        self._default = default_docs

    @classmethod
    def from_docs(cls, renderer: Renderer, docs: list[dict]) -> "Context":
        return cls(renderer, {}, docs)

    def default(self) -> list[dict]:
        if self._default is not None:
            return json.loads(json.dumps(self._default))
        return self.render({})

    def render(self, overrides: dict, release: str = RELEASE) -> list[dict]:
        return self.renderer.render(merge(BASE, overrides), release=release)

    def docs(self, ci_name: str) -> list[dict]:
        if ci_name in self.rendered:
            return [d for d in yaml.safe_load_all(self.rendered[ci_name].read_text()) if d]
        return self.renderer.render(CHART / "ci" / ci_name)

    def all_ci(self) -> dict[str, list[dict]]:
        names = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
        return {n: self.docs(n) for n in names}


# ---------------------------------------------------------------------------------------------
# Helpers

def objs(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, component=None):
    found = [d for d in objs(docs, kind)
             if component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(found) == 1, f"expected one {kind} (component {component}), found {len(found)}"
    return found[0]


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def containers(workload, init=True):
    spec = pod_spec(workload)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def container(workload, name):
    found = [c for c in containers(workload) if c["name"] == name]
    assert found, f"{workload['kind']} {workload['metadata']['name']} has no container {name}"
    return found[0]


def env_of(c) -> dict:
    return {e["name"]: e for e in c.get("env", [])}


def configmap(docs, name):
    found = [d for d in objs(docs, "ConfigMap") if d["metadata"]["name"] == name]
    assert found, f"no ConfigMap {name}"
    return found[0]


def effective_env(docs, c) -> dict:
    """What the container sees: envFrom ConfigMaps, then env (values, or a description of refs)."""
    out = {}
    for src in c.get("envFrom", []):
        assert "configMapRef" in src, f"unexpected envFrom {src}"
        out.update(configmap(docs, src["configMapRef"]["name"]).get("data", {}))
    for e in c.get("env", []):
        out[e["name"]] = e["value"] if "value" in e else e["valueFrom"]
    return out


def workloads(docs):
    return [d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "Job")]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def worker(docs):
    return one(docs, "StatefulSet", "worker")


def serve(docs):
    return one(docs, "Deployment", "serve")


# ---------------------------------------------------------------------------------------------
# Tests

def test_standard_labels(ctx):
    for name, docs in ctx.all_ci().items():
        for d in docs:
            labels = d["metadata"].get("labels", {})
            missing = [k for k in STANDARD_LABELS if k not in labels]
            assert not missing, f"{name}: {d['kind']} {d['metadata']['name']} lacks labels {missing}"
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert d["metadata"].get("namespace") == NAMESPACE, f"{d['kind']} {d['metadata']['name']} has no namespace"
            assert len(d["metadata"]["name"]) <= 63
        for w in workloads(docs):
            tpl = w["spec"]["template"]["metadata"]["labels"]
            missing = [k for k in STANDARD_LABELS + ["app.kubernetes.io/component"] if k not in tpl]
            assert not missing, f"{name}: pods of {w['metadata']['name']} lack labels {missing}"
            if w["kind"] != "Job":
                sel = w["spec"]["selector"]["matchLabels"]
                assert selects(sel, tpl), f"{w['metadata']['name']}: selector {sel} does not select its pods"
                assert "app.kubernetes.io/version" not in sel and "helm.sh/chart" not in sel, \
                    "selectors must not carry labels that change on upgrade (immutable field)"


def test_worker_statefulset(ctx):
    docs = ctx.default()
    sts = worker(docs)
    assert sts["spec"]["podManagementPolicy"] == "Parallel", "worker pods must be managed in parallel"
    assert sts["spec"]["replicas"] == 3
    c = container(sts, "worker")
    assert c["args"] == ["run"], c["args"]
    assert c["image"] == "allocation-worker:" + yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert len(sts["metadata"]["name"]) <= 52, "a StatefulSet name over 52 characters breaks its pods' revision label"
    headless = [s for s in objs(docs, "Service") if s["metadata"]["name"] == sts["spec"]["serviceName"]]
    assert headless, "the StatefulSet's serviceName has no Service"
    assert headless[0]["spec"]["clusterIP"] == "None"
    assert selects(headless[0]["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
    # With a digest, the image is pinned by it.
    digest = "sha256:" + "ab" * 32
    c = container(worker(ctx.render({"image": {"repository": "r.example/aw", "digest": digest}})), "worker")
    assert c["image"] == f"r.example/aw@{digest}"


def test_ids_from_pod_name(ctx):
    env = env_of(container(worker(ctx.default()), "worker"))
    for var in ("TRANSACTIONAL_ID", "GROUP_INSTANCE_ID"):
        assert var in env, f"worker has no {var}"
        assert env[var].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name", \
            f"{var} must be the pod name (downward API metadata.name): {env[var]}"
    # With a prefix: "<prefix>$(POD_NAME)", POD_NAME from the downward API and defined before it.
    c = container(worker(ctx.render({"worker": {"transactionalIdPrefix": "stg."}})), "worker")
    names = [e["name"] for e in c["env"]]
    env = env_of(c)
    assert env["TRANSACTIONAL_ID"]["value"] == "stg.$(POD_NAME)", env["TRANSACTIONAL_ID"]
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert names.index("POD_NAME") < names.index("TRANSACTIONAL_ID"), "$(POD_NAME) must be defined before use"
    assert env["GROUP_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_env_wiring(ctx):
    docs = ctx.render({
        "kafka": {"topicPrefix": "stg.", "properties": {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}},
        "schemaRegistry": {"registration": "require"},
        "log": {"format": "text", "level": "debug"},
        "httpPort": 9090,
        "worker": {"groupId": "g1", "guarantee": "at-least-once", "commitIntervalMs": 250, "maxBatch": 77,
                   "sessionTimeoutMs": 12000, "transactionTimeoutMs": 45000, "shutdownTimeoutMs": 15000},
    })
    env = effective_env(docs, container(worker(docs), "worker"))
    missing = [v for v in RUN_ENV if v not in env]
    assert not missing, f"the worker container lacks {missing}"
    expected = {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "SCHEMA_REGISTRY_URL": "http://registry:8081",
                "SCHEMA_REGISTRATION": "require", "TOPIC_PREFIX": "stg.", "GROUP_ID": "g1",
                "GUARANTEE": "at-least-once", "COMMIT_INTERVAL_MS": "250", "MAX_BATCH": "77",
                "SESSION_TIMEOUT_MS": "12000", "TRANSACTION_TIMEOUT_MS": "45000", "SHUTDOWN_TIMEOUT_MS": "15000",
                "LOG_FORMAT": "text", "RUST_LOG": "debug", "HTTP_ADDR": "0.0.0.0:9090",
                "KAFKA_PROPERTIES": "sasl.mechanism=PLAIN,security.protocol=SASL_SSL"}
    for k, v in expected.items():
        assert env.get(k) == v, f"{k}={env.get(k)!r}, want {v!r}"
    port = container(worker(docs), "worker")["ports"][0]
    assert port["name"] == "http" and port["containerPort"] == 9090
    # serve: the shared settings, none of the worker's (it must never join the worker's group).
    senv = effective_env(docs, container(serve(docs), "serve"))
    for k in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "TOPIC_PREFIX", "HTTP_ADDR", "LOG_FORMAT", "KAFKA_PROPERTIES"):
        assert senv.get(k) == expected[k], f"serve {k}={senv.get(k)!r}"
    leaked = [k for k in WORKER_ONLY_ENV if k in senv]
    assert not leaked, f"serve gets worker-only settings {leaked}"
    assert container(serve(docs), "serve")["args"] == ["serve"]
    # Defaults: no KAFKA_PROPERTIES at all when nothing is passed through.
    assert "KAFKA_PROPERTIES" not in effective_env(ctx.default(), container(worker(ctx.default()), "worker"))


def test_secrets_by_reference(ctx):
    docs = ctx.docs("secure-values.yaml")
    for w in workloads(docs):
        for c in containers(w):
            if not c["image"].startswith("registry.example.com/platform/allocation-worker"):
                continue
            env = env_of(c)
            refs = {"KAFKA_SASL_USERNAME": ("allocation-worker-kafka", "user"),
                    "SCHEMA_REGISTRY_USERNAME": ("allocation-worker-registry", "username")}
            for var, (secret, key) in refs.items():
                assert var in env, f"{w['metadata']['name']}/{c['name']} lacks {var}"
                ref = env[var]["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == (secret, key), f"{var}: {ref}"
            # Passwords, the key password and the registry CA: files mounted from the Secrets.
            files = {
                "KAFKA_SASL_PASSWORD_FILE": ("/var/run/secrets/allocation-worker/kafka-sasl/pass", "allocation-worker-kafka"),
                "SCHEMA_REGISTRY_PASSWORD_FILE": ("/var/run/secrets/allocation-worker/registry-auth/password",
                                                  "allocation-worker-registry"),
                "KAFKA_SSL_KEY_PASSWORD_FILE": ("/etc/kafka/tls/tls.key.password", "allocation-worker-kafka-tls"),
                "SCHEMA_REGISTRY_CA_LOCATION": ("/etc/schema-registry/tls/ca.crt", "allocation-worker-registry-ca"),
            }
            assert_secret_files(w, c, files)
            plain = [k for k in ("KAFKA_SASL_PASSWORD", "SCHEMA_REGISTRY_PASSWORD", "SCHEMA_REGISTRY_TOKEN") if k in env]
            assert not plain, f"{w['metadata']['name']}/{c['name']}: secrets as env values {plain}"
    assert not objs(docs, "Secret"), "the chart must not create Secrets (existingSecret only)"
    for cm in objs(docs, "ConfigMap"):
        for k, v in cm.get("data", {}).items():
            assert not re.search(r"(?i)password|secret|jaas", k), f"ConfigMap key {k} looks secret"
    # Without existingSecret, no credential variables at all.
    env = env_of(container(worker(ctx.default()), "worker"))
    assert not [k for k in env if "PASSWORD" in k or "USERNAME" in k]


def assert_secret_files(w, c, files):
    """Each variable names a file inside a read-only mount of the given Secret that projects that key."""
    env = env_of(c)
    vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
    where = f"{w['metadata']['name']}/{c['name']}"
    for var, (path, secret) in files.items():
        assert env.get(var, {}).get("value") == path, f"{where}: {var}={env.get(var)}, want {path}"
        mounts = [m for m in c.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")]
        assert len(mounts) == 1 and mounts[0].get("readOnly"), f"{where}: {path} is not in one read-only mount"
        vol = vols[mounts[0]["name"]]["secret"]
        assert vol["secretName"] == secret, f"{where}: {path} comes from {vol['secretName']}, want {secret}"
        key = path[len(mounts[0]["mountPath"].rstrip("/")) + 1:]
        items = vol.get("items")
        assert items is None or {"key": key, "path": key} in items, f"{where}: {secret} does not project {key}"


def test_registry_token_and_ca(ctx):
    docs = ctx.render({"schemaRegistry": {"auth": {"existingSecret": "reg", "tokenKey": "token"},
                                          "tls": {"existingSecret": "reg-ca", "caKey": "bundle.pem"}}})
    for w in (worker(docs), serve(docs)):
        c = containers(w)[0]
        assert_secret_files(w, c, {"SCHEMA_REGISTRY_TOKEN_FILE": ("/var/run/secrets/allocation-worker/registry-auth/token", "reg"),
                                   "SCHEMA_REGISTRY_CA_LOCATION": ("/etc/schema-registry/tls/bundle.pem", "reg-ca")})
        env = env_of(c)
        assert "SCHEMA_REGISTRY_USERNAME" not in env and "SCHEMA_REGISTRY_PASSWORD_FILE" not in env, env
    # The helm test's curl sends the token and trusts the registry CA.
    jobs = [j for j in objs(docs, "Job") if j["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    curl = pod_spec(jobs[0])["containers"][0]
    env = env_of(curl)
    assert env["SCHEMA_REGISTRY_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "reg", "key": "token"}
    assert env["CURL_CA_BUNDLE"]["value"] == "/etc/schema-registry/tls/bundle.pem"
    assert "--oauth2-bearer" in " ".join(curl["args"])
    # Without a registry Secret, nothing is mounted for it.
    for m in containers(worker(ctx.default()))[0].get("volumeMounts", []):
        assert m["name"] not in ("registry-auth", "registry-tls", "kafka-sasl"), m


def test_tls_files(ctx):
    docs = ctx.docs("secure-values.yaml")
    props = configmap(docs, f"{RELEASE}-allocation-worker")["data"]["KAFKA_PROPERTIES"]
    pairs = dict(p.split("=", 1) for p in props.split(","))
    assert pairs["ssl.ca.location"] == "/etc/kafka/tls/ca.crt"
    assert pairs["ssl.certificate.location"] == "/etc/kafka/tls/tls.crt"
    assert pairs["ssl.key.location"] == "/etc/kafka/tls/tls.key"
    assert pairs["security.protocol"] == "SASL_SSL"
    for w in workloads(docs):
        vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
        for c in containers(w):
            if "allocation-worker" not in c["image"].split("/")[-1]:
                continue
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            m = mounts.get("/etc/kafka/tls")
            assert m and m.get("readOnly"), f"{w['metadata']['name']}/{c['name']}: TLS Secret not mounted read-only"
            assert vols[m["name"]]["secret"]["secretName"] == "allocation-worker-kafka-tls"
    # Server-only TLS: only the CA is configured.
    docs = ctx.render({"kafka": {"tls": {"existingSecret": "ca-only"}}})
    props = configmap(docs, f"{RELEASE}-allocation-worker")["data"]["KAFKA_PROPERTIES"]
    assert props == "ssl.ca.location=/etc/kafka/tls/ca.crt", props


def test_config_file(ctx):
    docs = ctx.docs("secure-values.yaml")
    cm = configmap(docs, f"{RELEASE}-allocation-worker")
    path = cm["data"]["ALLOCATION_WORKER_CONFIG"]
    assert path == "/etc/allocation-worker/allocation-worker.toml", path
    assert "max_batch = 500" in cm["data"]["allocation-worker.toml"]
    sts = worker(docs)
    mounts = {m["mountPath"]: m for m in container(sts, "worker")["volumeMounts"]}
    vol = next(v for v in pod_spec(sts)["volumes"] if v["name"] == mounts["/etc/allocation-worker"]["name"])
    assert vol["configMap"]["name"] == cm["metadata"]["name"]
    assert "ALLOCATION_WORKER_CONFIG" not in configmap(ctx.default(), f"{RELEASE}-allocation-worker")["data"]


def test_probes(ctx):
    for name, docs in ctx.all_ci().items():
        for w in [d for d in workloads(docs) if d["kind"] != "Job"]:
            for c in containers(w, init=False):
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                expect = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
                for probe, path in expect.items():
                    assert probe in c, f"{name}: {w['metadata']['name']}/{c['name']} has no {probe}"
                    get = c[probe]["httpGet"]
                    assert get["path"] == path, f"{probe} GETs {get['path']}, want {path}"
                    assert get["port"] in ports or get["port"] in ports.values(), f"{probe} port {get['port']} is not a container port"
                assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= 30, \
                    "the startup probe must leave time to start"


def test_termination_grace(ctx):
    for name, docs in ctx.all_ci().items():
        sts = worker(docs)
        grace = pod_spec(sts)["terminationGracePeriodSeconds"]
        shutdown = int(effective_env(docs, container(sts, "worker"))["SHUTDOWN_TIMEOUT_MS"])
        assert grace * 1000 >= shutdown + 5000, f"{name}: grace {grace}s does not exceed the {shutdown} ms drain + 5 s"
    err = ctx.renderer.refuses(merge(BASE, {"worker": {"shutdownTimeoutMs": 40000, "terminationGracePeriodSeconds": 30}}))
    assert "terminationGracePeriodSeconds" in err, err


def test_security_context(ctx):
    for name, docs in ctx.all_ci().items():
        for w in workloads(docs):
            wn = f"{name}: {w['kind']} {w['metadata']['name']}"
            spec = pod_spec(w)
            psc = spec.get("securityContext", {})
            assert psc.get("runAsNonRoot") is True, f"{wn}: pod runAsNonRoot"
            assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{wn}: pod seccomp"
            assert spec.get("automountServiceAccountToken") is False, f"{wn}: service-account token automounted"
            for key in ("hostNetwork", "hostPID", "hostIPC"):
                assert not spec.get(key), f"{wn}: {key}"
            vols = {v["name"]: v for v in spec.get("volumes", [])}
            assert not [v for v in vols.values() if "hostPath" in v], f"{wn}: hostPath volume"
            for c in containers(w):
                cn = f"{wn}/{c['name']}"
                sc = c.get("securityContext", {})
                assert sc.get("allowPrivilegeEscalation") is False, f"{cn}: allowPrivilegeEscalation"
                assert sc.get("readOnlyRootFilesystem") is True, f"{cn}: readOnlyRootFilesystem"
                assert sc.get("privileged") in (None, False), f"{cn}: privileged"
                assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{cn}: runAsNonRoot"
                assert (sc.get("runAsUser") or psc.get("runAsUser") or 0) > 0, f"{cn}: runs as root"
                caps = sc.get("capabilities", {})
                assert "ALL" in caps.get("drop", []) and not caps.get("add"), f"{cn}: capabilities {caps}"
                assert sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") == "RuntimeDefault"
                tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
                assert tmp and "emptyDir" in vols[tmp[0]["name"]], f"{cn}: /tmp is not an emptyDir"
    for name, docs in ctx.all_ci().items():
        for sa in objs(docs, "ServiceAccount"):
            assert sa.get("automountServiceAccountToken") is False, f"{name}: ServiceAccount automounts its token"


def test_resources(ctx):
    for name, docs in ctx.all_ci().items():
        for w in workloads(docs):
            for c in containers(w):
                r = c.get("resources", {})
                for kind in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        assert res in r.get(kind, {}), f"{name}: {w['metadata']['name']}/{c['name']} lacks {kind}.{res}"


def test_pdb(ctx):
    docs = ctx.default()
    for component, workload in (("worker", worker(docs)), ("serve", serve(docs))):
        pdb = one(docs, "PodDisruptionBudget", component)
        assert pdb["spec"].get("maxUnavailable") == 1, f"{component} PDB: {pdb['spec']}"
        assert "minAvailable" not in pdb["spec"]
        sel = pdb["spec"]["selector"]["matchLabels"]
        assert selects(sel, workload["spec"]["template"]["metadata"]["labels"]), f"{component} PDB does not select its pods"
        other = serve(docs) if component == "worker" else worker(docs)
        assert not selects(sel, other["spec"]["template"]["metadata"]["labels"]), f"{component} PDB selects other pods"


def test_checksum_config(ctx):
    def sums(docs):
        return {w["kind"]: w["spec"]["template"]["metadata"].get("annotations", {}).get("checksum/config")
                for w in (worker(docs), serve(docs))}

    base = sums(ctx.default())
    assert all(base.values()), f"checksum/config missing: {base}"
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in base.values())
    for change in ({"log": {"level": "debug"}}, {"worker": {"maxBatch": 10}}, {"kafka": {"properties": {"linger.ms": 5}}}):
        changed = sums(ctx.render(change))
        assert changed["StatefulSet"] != base["StatefulSet"], f"worker pods do not roll on {change}"
    assert sums(ctx.render({"log": {"level": "debug"}}))["Deployment"] != base["Deployment"], "serve pods do not roll on config"
    assert sums(ctx.render({"worker": {"replicas": 5}})) == base, "checksum changes without a config change"


def test_keda_autoscaling(ctx):
    docs = ctx.docs("autoscaling-values.yaml")
    values = yaml.safe_load((CHART / "ci" / "autoscaling-values.yaml").read_text())
    sts = worker(docs)
    assert "replicas" not in sts["spec"], "replicas must be left out of the StatefulSet when KEDA scales it"
    so = one(docs, "ScaledObject")
    ref = so["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"], ref.get("apiVersion")) == ("StatefulSet", sts["metadata"]["name"], "apps/v1")
    assert so["spec"]["maxReplicaCount"] <= values["topics"]["partitions"]
    assert so["spec"]["minReplicaCount"] == values["worker"]["autoscaling"]["minReplicas"]
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    md = trigger["metadata"]
    assert md["topic"] == "allocation.commands"
    assert md["consumerGroup"] == "allocation-worker"
    assert md["bootstrapServers"] == values["kafka"]["bootstrapServers"]
    assert md["lagThreshold"] == "500" and md["allowIdleConsumers"] == "false"
    assert all(isinstance(v, str) for v in md.values()), "KEDA trigger metadata values must be strings"
    assert trigger["authenticationRef"] == {"name": "kafka-keda-auth", "kind": "ClusterTriggerAuthentication"}
    # The prefix and group reach the trigger.
    so = one(ctx.render({"kafka": {"topicPrefix": "stg."}, "worker": {"groupId": "g2", "autoscaling": {"enabled": True, "maxReplicas": 4}}}), "ScaledObject")
    assert so["spec"]["triggers"][0]["metadata"]["topic"] == "stg.allocation.commands"
    assert so["spec"]["triggers"][0]["metadata"]["consumerGroup"] == "g2"
    # serve's HPA; replicas left out of its Deployment.
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert "replicas" not in serve(docs)["spec"]
    # maxReplicas above the partition count is refused.
    err = ctx.renderer.refuses(merge(BASE, {"topics": {"partitions": 4}, "worker": {"autoscaling": {"enabled": True, "maxReplicas": 5}}}))
    assert "exceeds topics.partitions" in err, err


def test_no_hpa_with_keda(ctx):
    renders = dict(ctx.all_ci())
    renders["keda-only"] = ctx.render({"worker": {"autoscaling": {"enabled": True}}})
    for name, docs in renders.items():
        keda_targets = {(d["spec"]["scaleTargetRef"]["kind"], d["spec"]["scaleTargetRef"]["name"]) for d in objs(docs, "ScaledObject")}
        hpa_targets = {(d["spec"]["scaleTargetRef"]["kind"], d["spec"]["scaleTargetRef"]["name"]) for d in objs(docs, "HorizontalPodAutoscaler")}
        assert not keda_targets & hpa_targets, f"{name}: an HPA and a ScaledObject target {keda_targets & hpa_targets}"
        assert not [t for t in hpa_targets if t[0] == "StatefulSet"], f"{name}: an HPA targets the worker"
        for w in objs(docs, "StatefulSet") + objs(docs, "Deployment"):
            target = (w["kind"], w["metadata"]["name"])
            if target in keda_targets or target in hpa_targets:
                assert "replicas" not in w["spec"], f"{name}: {target} is autoscaled but sets replicas"
            else:
                assert "replicas" in w["spec"], f"{name}: {target} has no replicas"
    assert not objs(renders["keda-only"], "HorizontalPodAutoscaler")


# Strict schemas of the CRD fields the chart uses (kubernetes-validate has no CRD schemas).
def _strict(props, required=()):
    return {"type": "object", "additionalProperties": False, "required": list(required), "properties": props}


_STR, _INT, _OBJ = {"type": "string"}, {"type": "integer"}, {"type": "object"}
_DURATION = {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}
_KEDA_TRIGGER = _strict({
    "type": _STR, "name": _STR, "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
    "useCachedMetrics": {"type": "boolean"},
    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    "authenticationRef": _strict({"name": _STR, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}}, ["name"]),
}, ["type", "metadata"])
SCALED_OBJECT_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"apiVersion": {"const": "keda.sh/v1alpha1"}, "spec": _strict({
        "scaleTargetRef": _strict({"apiVersion": _STR, "kind": _STR, "name": _STR, "envSourceContainerName": _STR}, ["name"]),
        "pollingInterval": _INT, "cooldownPeriod": _INT, "initialCooldownPeriod": _INT, "idleReplicaCount": _INT,
        "minReplicaCount": _INT, "maxReplicaCount": _INT, "fallback": _OBJ, "advanced": _OBJ,
        "triggers": {"type": "array", "minItems": 1, "items": _KEDA_TRIGGER},
    }, ["scaleTargetRef", "triggers"])},
}
_MATCH_EXPRESSION = _strict({"key": _STR, "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                             "values": {"type": "array", "items": _STR}}, ["key", "operator"])
_ENDPOINT = _strict({"port": _STR, "path": _STR, "scheme": {"enum": ["http", "https"]}, "interval": _DURATION,
                     "scrapeTimeout": _DURATION, "honorLabels": {"type": "boolean"},
                     "relabelings": {"type": "array"}, "metricRelabelings": {"type": "array"}})
SERVICE_MONITOR_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"apiVersion": {"const": "monitoring.coreos.com/v1"}, "spec": _strict({
        "jobLabel": _STR, "namespaceSelector": _OBJ,
        "selector": _strict({"matchLabels": {"type": "object", "additionalProperties": _STR},
                             "matchExpressions": {"type": "array", "items": _MATCH_EXPRESSION}}),
        "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
    }, ["selector", "endpoints"])},
}


def test_crd_objects(ctx):
    docs = ctx.docs("autoscaling-values.yaml")
    jsonschema.validate(one(docs, "ScaledObject"), SCALED_OBJECT_SCHEMA)
    sm = one(docs, "ServiceMonitor")
    jsonschema.validate(sm, SERVICE_MONITOR_SCHEMA)
    assert sm["metadata"]["labels"].get("release") == "kube-prometheus-stack"
    (ep,) = sm["spec"]["endpoints"]
    assert ep["path"] == "/metrics" and ep["port"] == "http"
    # It selects the worker's headless Service and serve's Service, both with an `http` port.
    selected = []
    for svc in objs(docs, "Service"):
        labels = svc["metadata"]["labels"]
        if selects(sm["spec"]["selector"]["matchLabels"], labels) and all(
                labels.get(e["key"]) in e["values"] for e in sm["spec"]["selector"].get("matchExpressions", [])):
            assert "http" in [p["name"] for p in svc["spec"]["ports"]]
            selected.append(labels["app.kubernetes.io/component"])
    assert sorted(selected) == ["serve", "worker"], selected
    assert not objs(ctx.default(), "ScaledObject") and not objs(ctx.default(), "ServiceMonitor")


def test_serve_service(ctx):
    docs = ctx.default()
    svc = [s for s in objs(docs, "Service") if s["metadata"]["labels"]["app.kubernetes.io/component"] == "serve"]
    assert len(svc) == 1
    svc = svc[0]
    assert selects(svc["spec"]["selector"], serve(docs)["spec"]["template"]["metadata"]["labels"])
    assert not selects(svc["spec"]["selector"], worker(docs)["spec"]["template"]["metadata"]["labels"])
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    docs = ctx.docs("networkpolicy-values.yaml")
    assert not objs(docs, "Deployment") and not [s for s in objs(docs, "Service") if s["metadata"]["labels"]["app.kubernetes.io/component"] == "serve"]


def test_network_policy(ctx):
    values = yaml.safe_load((CHART / "ci" / "networkpolicy-values.yaml").read_text())["networkPolicy"]
    docs = ctx.docs("networkpolicy-values.yaml")
    np = one(docs, "NetworkPolicy")
    assert sorted(np["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    for w in workloads(docs):
        assert selects(np["spec"]["podSelector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"]), \
            f"the NetworkPolicy does not cover {w['metadata']['name']}"
    allowed = {9093: values["kafka"]["to"], 8081: values["schemaRegistry"]["to"], 53: values["dns"]["to"]}
    for rule in np["spec"]["egress"]:
        assert rule.get("ports"), f"an egress rule allows every port: {rule}"
        assert rule.get("to"), f"an egress rule allows every destination: {rule}"
        for p in rule["ports"]:
            if p["port"] in allowed:
                assert rule["to"] == allowed[p["port"]], f"port {p['port']} goes to {rule['to']}"
            else:
                assert p["port"] == 8080, f"unexpected egress port {p}"
                assert rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    ports = {p["port"] for r in np["spec"]["egress"] for p in r["ports"]}
    assert ports == {9093, 8081, 53, 8080}, ports
    (ing,) = np["spec"]["ingress"]
    assert ing["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert values["ingress"]["from"][0] in ing["from"]
    assert not objs(ctx.default(), "NetworkPolicy")


def test_helm_test_job(ctx):
    docs = ctx.default()
    jobs = [j for j in objs(docs, "Job") if j["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert len(jobs) == 1, "one helm test Job"
    job = jobs[0]
    init = pod_spec(job)["initContainers"][0]
    assert init["args"][:2] == ["topics", "--verify-only"], init["args"]
    assert {"configMapRef": {"name": f"{RELEASE}-allocation-worker"}} in init["envFrom"]
    script = " ".join(pod_spec(job)["containers"][0]["args"])
    assert "SCHEMA_REGISTRY_URL" in script and "/subjects" in script
    assert f"{RELEASE}-allocation-worker-serve.{NAMESPACE}.svc:8080/readyz" in script
    assert f"{RELEASE}-allocation-worker-worker.{NAMESPACE}.svc:8080/healthz" in script
    assert pod_spec(job)["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0


def test_topics_hook(ctx):
    assert not [j for j in objs(ctx.default(), "Job") if "topics" in j["metadata"]["name"]]
    docs = ctx.docs("secure-values.yaml")
    job = one(docs, "Job", "topics")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in ann["helm.sh/hook-delete-policy"]
    c = container(job, "topics")
    assert c["args"] == ["topics", "--partitions=12", "--replication-factor=3"], c["args"]
    # A pre-install hook runs before the release's ConfigMaps and ServiceAccount exist.
    assert "envFrom" not in c, "the hook must not depend on the release's ConfigMap"
    assert "serviceAccountName" not in pod_spec(job), "the hook must not depend on the release's ServiceAccount"
    env = env_of(c)
    common = configmap(docs, f"{RELEASE}-allocation-worker")["data"]
    for k, v in common.items():
        if k.isupper():
            assert env.get(k, {}).get("value") == v, f"hook {k}={env.get(k)}, ConfigMap has {v!r}"
    assert env["KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]["name"] == "allocation-worker-kafka"
    assert_secret_files(job, c, {"KAFKA_SASL_PASSWORD_FILE": ("/var/run/secrets/allocation-worker/kafka-sasl/pass",
                                                              "allocation-worker-kafka")})


def test_checkov_skips_justified(ctx):
    """Every checkov skip annotation names a check and gives a reason; only known checks are skipped."""
    known = {"CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_35"}
    for name, docs in ctx.all_ci().items():
        for d in docs:
            for k, v in d["metadata"].get("annotations", {}).items():
                if k.startswith("checkov.io/skip"):
                    m = re.fullmatch(r"(CKV2?_K8S_\d+)=(.{30,})", v)
                    assert m, f"{name}: {d['metadata']['name']} {k}: no reason: {v!r}"
                    assert m.group(1) in known, f"{name}: unexpected skip {m.group(1)}"
    # Pinned by digest and always pulled: nothing about images is skipped.
    for d in ctx.docs("secure-values.yaml"):
        for v in d["metadata"].get("annotations", {}).values():
            assert not str(v).startswith(("CKV_K8S_43", "CKV_K8S_15")), f"{d['metadata']['name']} skips {v}"


def test_notes(ctx):
    notes = ctx.renderer.notes(merge(BASE, {"kafka": {"topicPrefix": "stg."}, "worker": {"groupId": "g9", "replicas": 10}}))
    for want in ("stg.allocation.commands", "stg.allocation.events", "stg.allocation.dlq", "Consumer group:     g9",
                 "kafka-consumer-groups.sh --bootstrap-server kafka:9092", "--describe --group g9", "helm test aw",
                 "WARNING: 10 replicas for 8 partitions"):
        assert want in notes, f"NOTES lacks {want!r}:\n{notes}"


def test_values_documented(ctx):
    """Every key of values.yaml has a comment (or sits in a documented Kubernetes block) and a schema entry."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    undocumented = []
    inherit = ("probes.", "resources", "podSecurityContext", "securityContext", ".resources")
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        path = ".".join(k for _, k in stack)
        j = i - 1
        documented = j >= 0 and lines[j].strip().startswith("#")
        if not documented and not any(x in path for x in inherit) and not line.rstrip().endswith(":"):
            undocumented.append(path)
    assert not undocumented, f"values without a comment: {undocumented}"
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(v, s, path):
        if s.get("type") == "object" and "properties" in s:
            assert s.get("additionalProperties") is False, f"schema {path or '.'} lacks additionalProperties: false"
            assert isinstance(v, dict), path
            for k, sub in v.items():
                assert k in s["properties"], f"values.yaml {path}.{k} is not in the schema"
                walk(sub, s["properties"][k], f"{path}.{k}")
            for k, sub in s["properties"].items():
                assert "description" in sub, f"schema {path}.{k} has no description"

    walk(values, schema, "")
    jsonschema.validate(values, schema)


TESTS = [test_standard_labels, test_worker_statefulset, test_ids_from_pod_name, test_env_wiring,
         test_secrets_by_reference, test_registry_token_and_ca, test_tls_files, test_config_file, test_probes, test_termination_grace,
         test_security_context, test_resources, test_pdb, test_checksum_config, test_keda_autoscaling,
         test_no_hpa_with_keda, test_crd_objects, test_serve_service, test_network_policy, test_helm_test_job,
         test_topics_hook, test_checkov_skips_justified, test_notes, test_values_documented]


# ---------------------------------------------------------------------------------------------
# Self-tests: a mutated default render must make the named test fail.

def _worker_container(docs):
    return container(worker(docs), "worker")


def ordered_pod_management(docs):
    worker(docs)["spec"]["podManagementPolicy"] = "OrderedReady"


def transactional_id_from_value(docs):
    for e in _worker_container(docs)["env"]:
        if e["name"] == "TRANSACTIONAL_ID":
            e.pop("valueFrom", None)
            e["value"] = "worker"


def group_instance_id_dropped(docs):
    c = _worker_container(docs)
    c["env"] = [e for e in c["env"] if e["name"] != "GROUP_INSTANCE_ID"]


def escalation_allowed(docs):
    _worker_container(docs)["securityContext"]["allowPrivilegeEscalation"] = True


def token_automounted(docs):
    pod_spec(serve(docs))["automountServiceAccountToken"] = True


def readiness_on_healthz(docs):
    _worker_container(docs)["readinessProbe"]["httpGet"]["path"] = "/healthz"


def pdb_max_two(docs):
    one(docs, "PodDisruptionBudget", "worker")["spec"]["maxUnavailable"] = 2


def worker_configmap_unreferenced(docs):
    c = _worker_container(docs)
    c["envFrom"] = c["envFrom"][:1]


def label_dropped(docs):
    del worker(docs)["metadata"]["labels"]["app.kubernetes.io/part-of"]


def _default_only(test):
    """Runs a test that reads ctx.all_ci() against the mutated default render instead."""
    def run(ctx):
        ctx.all_ci = lambda: {"mutated": ctx.default()}
        test(ctx)
    run.__name__ = test.__name__
    return run


def _env_default(ctx):
    docs = ctx.default()
    env = effective_env(docs, _worker_container(docs))
    missing = [v for v in RUN_ENV if v not in env]
    assert not missing, missing


_env_default.__name__ = "test_env_wiring(default)"

SELF_TESTS = [
    (ordered_pod_management, test_worker_statefulset),
    (transactional_id_from_value, test_ids_from_pod_name),
    (group_instance_id_dropped, test_ids_from_pod_name),
    (escalation_allowed, _default_only(test_security_context)),
    (token_automounted, _default_only(test_security_context)),
    (readiness_on_healthz, _default_only(test_probes)),
    (pdb_max_two, test_pdb),
    (worker_configmap_unreferenced, _env_default),
    (label_dropped, _default_only(test_standard_labels)),
]
