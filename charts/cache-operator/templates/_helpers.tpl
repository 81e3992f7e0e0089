{{- define "cache-operator.labels" -}}
app.kubernetes.io/name: cache-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "cache-operator.selector" -}}
app.kubernetes.io/name: cache-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
