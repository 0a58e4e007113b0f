{{- define "web.labels" -}}
app.kubernetes.io/name: web
{{- end }}
