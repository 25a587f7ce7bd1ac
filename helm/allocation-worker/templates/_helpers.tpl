{{/* Chart name. */}}
{{- define "allocation-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every object name. Short enough for "<fullname>-worker-NN". */}}
{{- define "allocation-worker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "allocation-worker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "allocation-worker.labels" -}}
helm.sh/chart: {{ include "allocation-worker.chart" .ctx }}
{{ include "allocation-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: allocation-worker
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "worker"). */}}
{{- define "allocation-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "allocation-worker.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "allocation-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "allocation-worker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "allocation-worker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the topic the worker consumes commands from (KEDA's lag source). */}}
{{- define "allocation-worker.commandsTopic" -}}
{{- printf "%sallocation.commands" .Values.kafka.topicPrefix }}
{{- end }}

{{/* KAFKA_PROPERTIES: the pass-through map plus the TLS file locations, sorted, k=v,k=v. */}}
{{- define "allocation-worker.kafkaProperties" -}}
{{- $props := dict }}
{{- range $k, $v := .Values.kafka.properties }}
{{- $_ := set $props $k (toString $v) }}
{{- end }}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
{{- $files := dict "ssl.ca.location" .caKey "ssl.certificate.location" .certKey "ssl.key.location" .keyKey }}
{{- range $prop, $key := $files }}
{{- if $key }}
{{- if hasKey $props $prop }}
{{- fail (printf "kafka.properties.%s is set by kafka.tls: remove it from kafka.properties" $prop) }}
{{- end }}
{{- $_ := set $props $prop (printf "%s/%s" $.Values.kafka.tls.mountPath $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $pairs := list }}
{{- range $k := keys $props | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%s" $k (get $props $k)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Settings shared by run, serve, topics and the test (the ConfigMap "<fullname>"). */}}
{{- define "allocation-worker.commonConfig" -}}
KAFKA_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers | quote }}
SCHEMA_REGISTRY_URL: {{ required "schemaRegistry.url is required" .Values.schemaRegistry.url | quote }}
SCHEMA_REGISTRATION: {{ .Values.schemaRegistry.registration | quote }}
TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
{{- with include "allocation-worker.kafkaProperties" . }}
KAFKA_PROPERTIES: {{ . | quote }}
{{- end }}
LOG_FORMAT: {{ .Values.log.format | quote }}
RUST_LOG: {{ .Values.log.level | quote }}
HTTP_ADDR: {{ printf "0.0.0.0:%d" (int .Values.httpPort) | quote }}
{{- if .Values.configFile.content }}
ALLOCATION_WORKER_CONFIG: {{ printf "%s/%s" .Values.configFile.mountPath .Values.configFile.fileName | quote }}
{{- end }}
{{- end }}

{{/* Settings of `run` only (the ConfigMap "<fullname>-worker"). */}}
{{- define "allocation-worker.workerConfig" -}}
GROUP_ID: {{ .Values.worker.groupId | quote }}
GUARANTEE: {{ .Values.worker.guarantee | quote }}
COMMIT_INTERVAL_MS: {{ .Values.worker.commitIntervalMs | int64 | quote }}
MAX_BATCH: {{ .Values.worker.maxBatch | int64 | quote }}
SESSION_TIMEOUT_MS: {{ .Values.worker.sessionTimeoutMs | int64 | quote }}
TRANSACTION_TIMEOUT_MS: {{ .Values.worker.transactionTimeoutMs | int64 | quote }}
SHUTDOWN_TIMEOUT_MS: {{ .Values.worker.shutdownTimeoutMs | int64 | quote }}
{{- end }}

{{/*
Credentials from existing Secrets, as env entries: user names by secretKeyRef; passwords, tokens
and the key password as files mounted from the Secrets (allocation-worker.secretVolumeMounts),
named by *_FILE variables; the registry CA file's path.
*/}}
{{- define "allocation-worker.secretEnv" -}}
{{- with .Values.kafka.sasl }}
{{- if .existingSecret }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .usernameKey }}
- name: KAFKA_SASL_PASSWORD_FILE
  value: {{ printf "%s/%s" .mountPath .passwordKey | quote }}
{{- end }}
{{- end }}
{{- with .Values.kafka.tls }}
{{- if and .existingSecret .keyPasswordKey }}
- name: KAFKA_SSL_KEY_PASSWORD_FILE
  value: {{ printf "%s/%s" .mountPath .keyPasswordKey | quote }}
{{- end }}
{{- end }}
{{- with .Values.schemaRegistry.auth }}
{{- if and .existingSecret .tokenKey }}
- name: SCHEMA_REGISTRY_TOKEN_FILE
  value: {{ printf "%s/%s" .mountPath .tokenKey | quote }}
{{- else if .existingSecret }}
- name: SCHEMA_REGISTRY_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .usernameKey }}
- name: SCHEMA_REGISTRY_PASSWORD_FILE
  value: {{ printf "%s/%s" .mountPath .passwordKey | quote }}
{{- end }}
{{- end }}
{{- with .Values.schemaRegistry.tls }}
{{- if .existingSecret }}
- name: SCHEMA_REGISTRY_CA_LOCATION
  value: {{ printf "%s/%s" .mountPath .caKey | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Read-only mounts of the credential and registry-CA Secrets (see secretEnv). */}}
{{- define "allocation-worker.secretVolumeMounts" -}}
{{- if .Values.kafka.sasl.existingSecret }}
- name: kafka-sasl
  mountPath: {{ .Values.kafka.sasl.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.schemaRegistry.auth.existingSecret }}
- name: registry-auth
  mountPath: {{ .Values.schemaRegistry.auth.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.schemaRegistry.tls.existingSecret }}
- name: registry-tls
  mountPath: {{ .Values.schemaRegistry.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes matching allocation-worker.secretVolumeMounts: only the keys the binary reads. */}}
{{- define "allocation-worker.secretVolumes" -}}
{{- with .Values.kafka.sasl }}
{{- if .existingSecret }}
- name: kafka-sasl
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .passwordKey }}
        path: {{ .passwordKey }}
{{- end }}
{{- end }}
{{- with .Values.schemaRegistry.auth }}
{{- if .existingSecret }}
- name: registry-auth
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .tokenKey | default .passwordKey }}
        path: {{ .tokenKey | default .passwordKey }}
{{- end }}
{{- end }}
{{- with .Values.schemaRegistry.tls }}
{{- if .existingSecret }}
- name: registry-tls
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .caKey }}
        path: {{ .caKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volume mounts of every allocation-worker container. */}}
{{- define "allocation-worker.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ .Values.kafka.tls.mountPath }}
  readOnly: true
{{- end }}
{{- with include "allocation-worker.secretVolumeMounts" . | trim }}
{{ . }}
{{- end }}
{{- if .Values.configFile.content }}
- name: config-file
  mountPath: {{ .Values.configFile.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes matching allocation-worker.volumeMounts. */}}
{{- define "allocation-worker.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- with include "allocation-worker.secretVolumes" . | trim }}
{{ . }}
{{- end }}
{{- if .Values.configFile.content }}
- name: config-file
  configMap:
    name: {{ include "allocation-worker.fullname" . }}
    items:
      - key: {{ .Values.configFile.fileName }}
        path: {{ .Values.configFile.fileName }}
{{- end }}
{{- end }}

{{/* An HTTP probe; call with (dict "path" "/healthz" "probe" .Values.worker.probes.liveness). */}}
{{- define "allocation-worker.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- range $k, $v := .probe }}
{{ $k }}: {{ $v }}
{{- end }}
{{- end }}

{{/*
Checkov skips of a workload, each with its reason, rendered only when they apply.
Call with (dict "ctx" $ "images" (list .Values.image …)): the images its containers run.
*/}}
{{- define "allocation-worker.checkovSkips" -}}
{{- $undigested := false }}
{{- $notAlways := false }}
{{- range .images }}
{{- if not .digest }}{{ $undigested = true }}{{ end }}
{{- if ne .pullPolicy "Always" }}{{ $notAlways = true }}{{ end }}
{{- end }}
{{- $v := .ctx.Values }}
{{- $skips := list }}
{{- if $undigested }}
{{- $skips = append $skips "CKV_K8S_43=image.digest (tests.image.digest) pins an image by digest when set; by default the release tag is used, and release tags are never re-pushed" }}
{{- end }}
{{- if $notAlways }}
{{- $skips = append $skips "CKV_K8S_15=IfNotPresent is deliberate: a restart (e.g. after a fenced producer) must not depend on the image registry being reachable; tags are immutable and image.digest pins by digest" }}
{{- end }}
{{- if or $v.kafka.sasl.existingSecret $v.schemaRegistry.auth.existingSecret }}
{{- $skips = append $skips "CKV_K8S_35=only the SASL and registry user names come from Secrets as environment variables (KAFKA_SASL_USERNAME, SCHEMA_REGISTRY_USERNAME); passwords, tokens and keys are mounted from the Secrets as files and read through *_FILE variables" }}
{{- end }}
{{- range $i, $s := $skips }}
checkov.io/skip{{ add1 $i }}: {{ $s | quote }}
{{- end }}
{{- end }}

{{/* Refuses values that would render a broken deployment. */}}
{{- define "allocation-worker.validate" -}}
{{- $w := .Values.worker }}
{{- $minGrace := add (div (add $w.shutdownTimeoutMs 999) 1000) 5 }}
{{- if lt (int64 $w.terminationGracePeriodSeconds) (int64 $minGrace) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be at least worker.shutdownTimeoutMs/1000 + 5 = %d, or Kubernetes kills the worker mid-drain" (int64 $w.terminationGracePeriodSeconds) (int64 $minGrace)) }}
{{- end }}
{{- if and $w.autoscaling.enabled (gt (int64 $w.autoscaling.maxReplicas) (int64 .Values.topics.partitions)) }}
{{- fail (printf "worker.autoscaling.maxReplicas (%d) exceeds topics.partitions (%d): a consumer-group member without a partition does nothing" (int64 $w.autoscaling.maxReplicas) (int64 .Values.topics.partitions)) }}
{{- end }}
{{- if and $w.autoscaling.enabled (gt (int64 $w.autoscaling.minReplicas) (int64 $w.autoscaling.maxReplicas)) }}
{{- fail "worker.autoscaling.minReplicas exceeds worker.autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.serve.autoscaling.enabled (gt (int64 .Values.serve.autoscaling.minReplicas) (int64 .Values.serve.autoscaling.maxReplicas)) }}
{{- fail "serve.autoscaling.minReplicas exceeds serve.autoscaling.maxReplicas" }}
{{- end }}
{{- if lt (int64 $w.transactionTimeoutMs) (int64 $w.commitIntervalMs) }}
{{- fail "worker.transactionTimeoutMs must be at least worker.commitIntervalMs" }}
{{- end }}
{{- end }}
