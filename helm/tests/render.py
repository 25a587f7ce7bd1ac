"""Runs helm for the checks: lint and template with pinned Kubernetes / API versions."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CHART = HERE.parent / "allocation-worker"
CI_DIR = CHART / "ci"

# The chart's oldest supported Kubernetes (Chart.yaml kubeVersion) and the one it is rendered for.
KUBE_VERSIONS = ["1.27.0", "1.33.0"]
RENDER_KUBE_VERSION = KUBE_VERSIONS[-1]
# CRDs the optional objects need: KEDA and the Prometheus operator.
API_VERSIONS = ["keda.sh/v1alpha1/ScaledObject", "monitoring.coreos.com/v1/ServiceMonitor"]
RELEASE = "aw"
NAMESPACE = "allocation"


class RenderError(AssertionError):
    pass


class Renderer:
    def __init__(self, helm: str, values_dir: Path):
        self.helm = helm
        self.values_dir = values_dir
        values_dir.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, list[dict]] = {}

    def _values_file(self, values: dict) -> Path:
        text = yaml.safe_dump(values, sort_keys=True)
        path = self.values_dir / (hashlib.sha256(text.encode()).hexdigest()[:16] + ".yaml")
        path.write_text(text)
        return path

    def _files(self, files: list) -> list[str]:
        out = []
        for f in files:
            out.append(str(self._values_file(f) if isinstance(f, dict) else f))
        return out

    def lint(self, files: list) -> subprocess.CompletedProcess:
        cmd = [self.helm, "lint", "--strict", str(CHART), "--kube-version", RENDER_KUBE_VERSION]
        for f in self._files(files):
            cmd += ["-f", f]
        return subprocess.run(cmd, capture_output=True, text=True)

    def template_raw(self, files: list, release: str = RELEASE, extra: list[str] | None = None) -> subprocess.CompletedProcess:
        cmd = [self.helm, "template", release, str(CHART), "--namespace", NAMESPACE,
               "--kube-version", RENDER_KUBE_VERSION]
        for api in API_VERSIONS:
            cmd += ["--api-versions", api]
        for f in self._files(files):
            cmd += ["-f", f]
        cmd += extra or []
        return subprocess.run(cmd, capture_output=True, text=True)

    def render(self, *files, release: str = RELEASE) -> list[dict]:
        """Rendered objects of the chart with these values files / dicts (later ones win)."""
        key = json.dumps([str(f) if not isinstance(f, dict) else f for f in files], sort_keys=True) + release
        if key not in self._cache:
            proc = self.template_raw(list(files), release=release)
            if proc.returncode != 0:
                raise RenderError(f"helm template failed:\n{proc.stderr}")
            self._cache[key] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        # Callers may mutate: hand out a copy.
        return json.loads(json.dumps(self._cache[key]))

    def refuses(self, *files) -> str:
        """helm template must fail with these values; returns its error."""
        proc = self.template_raw(list(files))
        if proc.returncode == 0:
            raise AssertionError(f"helm template accepted {files}")
        return proc.stderr

    def notes(self, *files) -> str:
        cmd = [self.helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
        for f in self._files(list(files)):
            cmd += ["-f", f]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RenderError(f"helm install --dry-run=client failed:\n{proc.stderr}")
        return proc.stdout.split("NOTES:", 1)[1] if "NOTES:" in proc.stdout else ""
