#!/usr/bin/env python3
"""Offline checks of the Helm chart, the Dockerfile and docker-compose.yml (run by scripts/helm-check).

For every helm/allocation-worker/ci/*-values.yaml:
  helm lint --strict; helm template (--kube-version, KEDA / ServiceMonitor --api-versions);
  kubernetes-validate --strict against the chart's oldest and the rendered Kubernetes version;
  checkov --framework kubernetes with no failed check (every skip is an annotation with its
  reason in the chart).
Then assertions on the rendered objects (tests_chart.py), negative cases (helm/tests/bad-values:
values the chart must refuse), self-tests that the validators really catch what they are there
for, and the Dockerfile / docker-compose.yml checks.

Prints one line per check and `helm-check: N passed, M failed`; exits 1 when M > 0.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks_files  # noqa: E402
import tests_chart  # noqa: E402
from render import CHART, CI_DIR, KUBE_VERSIONS, Renderer  # noqa: E402

REPO = HERE.parents[1]
BAD_VALUES = HERE / "bad-values"
OUT = REPO / "target" / "helm-check"
CRD_KINDS = {"ScaledObject", "ServiceMonitor"}


class Runner:
    def __init__(self, only: str | None):
        self.only = only
        self.passed: list[str] = []
        self.failed: list[str] = []

    def run(self, name: str, fn) -> None:
        if self.only and self.only not in name:
            return
        start = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            self.failed.append(name)
            detail = str(e) if isinstance(e, (AssertionError, CheckFailed)) else traceback.format_exc()
            detail = detail.strip() or repr(e)
            print(f"FAIL {name}\n" + "\n".join("     " + line for line in detail.splitlines()), flush=True)
            return
        self.passed.append(name)
        print(f"ok   {name} ({time.monotonic() - start:.1f}s)", flush=True)


class CheckFailed(Exception):
    pass


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ci_files() -> list[Path]:
    files = sorted(CI_DIR.glob("*-values.yaml"))
    if not files:
        raise SystemExit(f"no ci values files in {CI_DIR}")
    return files


def kubernetes_validate(path: Path, version: str) -> None:
    proc = sh(["kubernetes-validate", "--strict", "--quiet", "-k", version, str(path)])
    problems = []
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("WARN") and any(f"kind {k} " in line for k in CRD_KINDS):
            continue  # CRDs: checked against their own schemas in tests_chart
        if line.strip():
            problems.append(line)
    if proc.returncode != 0 or problems:
        raise CheckFailed(f"kubernetes-validate -k {version} (exit {proc.returncode}):\n" + "\n".join(problems))


def run_checkov(directory: Path, framework: str) -> list[dict]:
    """Runs checkov once over a directory; returns its per-framework reports."""
    proc = sh(["checkov", "--framework", framework, "--skip-download", "--compact", "-o", "json", "-d", str(directory)])
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise CheckFailed(f"checkov gave no JSON (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    reports = data if isinstance(data, list) else [data]
    # An empty scan is reported as a summary without results: refuse it (nothing was checked).
    if not any(r.get("results") for r in reports):
        raise CheckFailed(f"checkov scanned nothing in {directory}: {proc.stdout[:500]}")
    return reports


def checkov_results(reports: list[dict], file_name: str) -> tuple[list, list, list]:
    failed, passed, skipped = [], [], []
    for r in reports:
        res = r.get("results", {})
        for key, acc in (("failed_checks", failed), ("passed_checks", passed), ("skipped_checks", skipped)):
            acc.extend(c for c in res.get(key, []) if Path(c["file_path"]).name == file_name)
    return failed, passed, skipped


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("-k", dest="only", help="only the checks whose name contains this")
    args = ap.parse_args()

    if OUT.exists():
        shutil.rmtree(OUT)
    rendered_dir = OUT / "rendered"
    rendered_dir.mkdir(parents=True)
    renderer = Renderer(args.helm, OUT / "values")
    runner = Runner(args.only)
    version = sh([args.helm, "version", "--short"]).stdout.strip()
    print(f"helm-check: helm {version}; kubernetes-validate, checkov from {shutil.which('checkov')}", flush=True)

    # 1. helm lint / helm template / kubernetes-validate per ci values file.
    rendered: dict[str, Path] = {}
    for f in ci_files():
        name = f.name

        def lint(f=f):
            proc = renderer.lint([f])
            if proc.returncode != 0:
                raise CheckFailed(proc.stdout + proc.stderr)

        def template(f=f, name=name):
            proc = renderer.template_raw([f])
            if proc.returncode != 0:
                raise CheckFailed(proc.stderr)
            docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
            assert docs, "rendered nothing"
            path = rendered_dir / name
            path.write_text(proc.stdout)
            rendered[name] = path

        runner.run(f"lint --strict {name}", lint)
        runner.run(f"template {name}", template)
        for kv in KUBE_VERSIONS:
            runner.run(f"kubernetes-validate --strict -k {kv} {name}",
                       lambda name=name, kv=kv: kubernetes_validate(rendered[name], kv))

    # 2. checkov over every rendered ci file at once (one start-up), then judged per file.
    reports: list[dict] = []

    def checkov_scan():
        reports.extend(run_checkov(rendered_dir, "kubernetes"))

    runner.run("checkov scan of the rendered ci files", checkov_scan)
    skipped_all: dict[str, str] = {}
    for name in sorted(rendered):
        def judge(name=name):
            failed, passed, skipped = checkov_results(reports, name)
            assert passed, f"checkov passed no check in {name}: was it scanned?"
            for c in skipped:
                skipped_all.setdefault(c["check_id"], (c.get("check_result") or {}).get("suppress_comment", ""))
            if failed:
                raise CheckFailed("\n".join(f"{c['check_id']} {c['check_name']}: {c['resource']}" for c in failed))
        runner.run(f"checkov --framework kubernetes {name}", judge)
    for check_id, reason in sorted(skipped_all.items()):
        print(f"     checkov skip {check_id}: {reason}")

    # 3. Assertions on the rendered objects.
    ctx = tests_chart.Context(renderer, {n: p for n, p in rendered.items()})
    for test in tests_chart.TESTS:
        runner.run(f"assert {test.__name__[5:]}", lambda test=test: test(ctx))

    # 4. Negative cases: values the chart must refuse, each with the error it must give.
    for bad in sorted(BAD_VALUES.glob("*.yaml")):
        m = re.search(r"^# expect: (.+)$", bad.read_text(), re.M)
        assert m, f"{bad} has no '# expect: <regex>' line"
        expected = m.group(1).strip()

        def refuse(bad=bad, expected=expected):
            proc = renderer.template_raw([bad])
            if proc.returncode == 0:
                raise CheckFailed(f"helm template accepted {bad.name}")
            if not re.search(expected, proc.stderr):
                raise CheckFailed(f"failed, but not with /{expected}/:\n{proc.stderr}")
            # Schema violations also fail `helm lint --strict`; Helm 4's lint only logs `fail` and
            # `required` (it renders leniently), so for those `helm template` is the gate.
            if "don't meet the specifications" in proc.stderr:
                lint = renderer.lint([bad])
                if lint.returncode == 0:
                    raise CheckFailed(f"helm lint --strict accepted {bad.name}")

        runner.run(f"refuses bad-values/{bad.name}", refuse)

    # 5. Self-tests: the validators catch the regressions they are here for.
    def validator_catches_unknown_field():
        docs = ctx.docs("default-values.yaml")
        sts = next(d for d in docs if d["kind"] == "StatefulSet")
        sts["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "broken.yaml"
            p.write_text(yaml.safe_dump(sts))
            try:
                kubernetes_validate(p, KUBE_VERSIONS[-1])
            except CheckFailed as e:
                assert "livenesProbe" in str(e), str(e)
                return
        raise CheckFailed("kubernetes-validate --strict accepted a typo'd container field")

    def checkov_catches_privileged():
        docs = ctx.docs("default-values.yaml")
        sts = next(d for d in docs if d["kind"] == "StatefulSet")
        sts["metadata"].pop("annotations", None)
        c = sts["spec"]["template"]["spec"]["containers"][0]
        c["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": True}
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "broken.yaml").write_text(yaml.safe_dump(sts))
            failed, _, _ = checkov_results(run_checkov(Path(tmp), "kubernetes"), "broken.yaml")
        ids = {c["check_id"] for c in failed}
        for want in ("CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_22"):
            assert want in ids, f"checkov did not flag {want} on a privileged container: {sorted(ids)}"

    def assertions_catch_regressions():
        for mutate, test in tests_chart.SELF_TESTS:
            docs = ctx.docs("default-values.yaml")
            mutate(docs)
            try:
                test(tests_chart.Context.from_docs(renderer, docs))
            except AssertionError:
                continue
            raise CheckFailed(f"{test.__name__} accepted a chart mutated by {mutate.__name__}")

    runner.run("self-test kubernetes-validate catches a typo'd field", validator_catches_unknown_field)
    runner.run("self-test checkov catches a privileged container", checkov_catches_privileged)
    runner.run("self-test assertions catch mutated objects", assertions_catch_regressions)

    # 6. Dockerfile, .dockerignore, docker-compose.yml.
    for name, fn in checks_files.CHECKS:
        runner.run(name, fn)

    def checkov_dockerfile():
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(REPO / "Dockerfile", Path(tmp) / "Dockerfile")
            failed, passed, _ = checkov_results(run_checkov(Path(tmp), "dockerfile"), "Dockerfile")
        assert passed, "checkov passed no Dockerfile check"
        if failed:
            raise CheckFailed("\n".join(f"{c['check_id']} {c['check_name']}" for c in failed))

    runner.run("checkov --framework dockerfile Dockerfile", checkov_dockerfile)

    total_failed = len(runner.failed)
    if runner.failed:
        print("\nfailed:\n" + "\n".join("  " + n for n in runner.failed))
    print(f"rendered manifests: {rendered_dir.relative_to(REPO)}")
    print(f"helm-check: {len(runner.passed)} passed, {total_failed} failed")
    return 1 if total_failed or not runner.passed else 0


if __name__ == "__main__":
    sys.exit(main())
