{{- define "switchboard.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "switchboard.labels" -}}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret the pods read their credentials from: the user's, or the one this chart creates. */}}
{{- define "switchboard.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- if not (get .Values.secrets "SWITCHBOARD_DATABASE_URL") -}}
{{- fail "set existingSecret, or secrets.SWITCHBOARD_DATABASE_URL (a PostgreSQL URL every replica reaches)" -}}
{{- end -}}
{{- include "switchboard.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Environment shared by the init container and the server. */}}
{{- define "switchboard.envFrom" -}}
- secretRef:
    name: {{ include "switchboard.secretName" . }}
{{- if .Values.env }}
- configMapRef:
    name: {{ include "switchboard.fullname" . }}
{{- end }}
{{- end -}}
