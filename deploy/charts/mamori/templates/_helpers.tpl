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
