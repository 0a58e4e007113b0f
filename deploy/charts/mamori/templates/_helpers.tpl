{{/* Chart name, overridable. */}}
{{- define "mamori.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: <release>-<chart>, or the release name when it already contains the chart's. */}}
{{- define "mamori.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mamori.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "mamori.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mamori.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "mamori.labels" -}}
helm.sh/chart: {{ include "mamori.chart" . }}
{{ include "mamori.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mamori
{{- end }}

{{/* repository:tag, plus @digest when one is set. */}}
{{- define "mamori.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key. */}}
{{- define "mamori.tlsSecretName" -}}
{{- if .Values.certManager.enabled }}
{{- printf "%s-tls" (include "mamori.fullname" .) }}
{{- else }}
{{- .Values.tls.existingSecret | default (printf "%s-tls" (include "mamori.fullname" .)) }}
{{- end }}
{{- end }}

{{/* The cert-manager Certificate's name, for the CA injector's annotation. */}}
{{- define "mamori.certificateName" -}}
{{- printf "%s-serving" (include "mamori.fullname" .) }}
{{- end }}

{{/* Where the exception file is mounted. */}}
{{- define "mamori.ignorefile" -}}
/exceptions/.mamori-ignore.yaml
{{- end }}

{{/* The runtime agent's name: <fullname>-agent. */}}
{{- define "mamori.agentName" -}}
{{- printf "%s-agent" (include "mamori.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The agent's selector labels: the webhook's, but component agent, so neither selects the other's pods. */}}
{{- define "mamori.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "mamori.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "mamori.agentLabels" -}}
helm.sh/chart: {{ include "mamori.chart" . }}
{{ include "mamori.agentSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mamori
{{- end }}

{{/* Where the agent's exceptions are mounted in the webhook. */}}
{{- define "mamori.agentIgnorefile" -}}
/exceptions/agent.mamori-ignore.yaml
{{- end }}

{{/*
The exceptions the agent DaemonSet needs to pass the restricted checks: one entry per check, each
scoped to exactly this DaemonSet, each saying why. The selector names kind and name but no namespace:
rendered manifests carry none (helm install -n decides it), and the name holds the release's. They are the agent's design (an eBPF sensor must
see the host), not a debt: agent.exception.expires is far off by default; set a review date if your
process wants one.
*/}}
{{- define "mamori.agentExceptions" -}}
{{- $sel := printf "{kind: DaemonSet, name: %s}" (include "mamori.agentName" .) }}
{{- $owner := .Values.agent.exception.owner }}
{{- $expires := .Values.agent.exception.expires }}
exceptions:
{{- range $check, $reason := dict
  "pss-host-namespaces" "hostPID: the agent attributes every process of the node to its container, so it must see the node's PIDs. No host network or IPC."
  "pss-restricted-volumes" "hostPath volumes, all read-only: the kernel's BTF, the cgroup tree, the host's /proc and tracefs, which an eBPF sensor reads and no other volume type provides."
  "k8s-sensitive-host-path" "Read-only /sys/kernel/btf (BTF for CO-RE), /sys/fs/cgroup (cgroup IDs to containers), /proc as /host/proc (processes that started before the agent) and tracefs (tracepoint IDs)."
  "pss-capabilities-restricted" "BPF and PERFMON load and attach the sensor's programs; SYS_RESOURCE lifts the memlock limit (kernels before 5.11); SYS_ADMIN for kernels before 5.8, BPF stats and tracefs; KILL for enforcing rules; SYS_PTRACE to read other processes' /proc entries."
  "k8s-dangerous-capabilities" "BPF, PERFMON, SYS_ADMIN and SYS_PTRACE are what an eBPF runtime sensor is made of (see pss-capabilities-restricted); the container is not privileged, drops every other capability and cannot escalate."
  "pss-run-as-non-root" "Kubernetes grants added capabilities to root only (no ambient capabilities), so the agent runs as UID 0, not privileged, with a read-only root filesystem."
  "pss-run-as-user-root" "runAsUser 0 for the same reason as pss-run-as-non-root: a non-root process would hold none of the capabilities the sensor needs."
}}
  - check: {{ $check }}
    resources:
      - {{ $sel }}
    reason: {{ $reason | quote }}
    owner: {{ $owner | quote }}
    expires: {{ $expires | quote }}
{{- end }}
{{- end }}
