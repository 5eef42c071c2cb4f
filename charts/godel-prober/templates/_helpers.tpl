{{/* Names and labels. */}}

{{- define "godel-prober.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "godel-prober.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "godel-prober.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "godel-prober.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "godel-prober.selectorLabels" -}}
app.kubernetes.io/name: {{ include "godel-prober.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "godel-prober.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "godel-prober.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "godel-prober.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Godel's namespace: where the Roles live. */}}
{{- define "godel-prober.godelNamespace" -}}
{{- default .Release.Namespace .Values.godel.namespace -}}
{{- end -}}

{{- define "godel-prober.keysDir" -}}/var/run/secrets/godel-prober{{- end -}}

{{/* The prober config (YAML), from the values. */}}
{{- define "godel-prober.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $auth := merge (dict "key_file" (printf "%s/%s" (include "godel-prober.keysDir" .) .Values.secretKeys.apiKey)) $cfg.target.auth -}}
{{- if .Values.secretKeys.userKey -}}
{{- $_ := set $auth "non_admin_key_file" (printf "%s/%s" (include "godel-prober.keysDir" .) .Values.secretKeys.userKey) -}}
{{- end -}}
{{- $_ := set $cfg.target "auth" $auth -}}
{{- $_ := set $cfg.target "base_url" .Values.godel.url -}}
{{- $_ := set $cfg.daemon "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) -}}
{{- if .Values.podMetrics.enabled -}}
{{- $sel := list -}}
{{- range $k, $v := .Values.godel.podLabels -}}
{{- $sel = append $sel (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- $_ := set $cfg.resources "pods" (dict "namespace" (include "godel-prober.godelNamespace" .) "selector" (join "," $sel)) -}}
{{- end -}}
{{- if .Values.guard.enabled -}}
{{- $releases := list -}}
{{- range .Values.guard.releases -}}
{{- $releases = append $releases (merge (deepCopy .) (dict "namespace" (include "godel-prober.godelNamespace" $))) -}}
{{- end -}}
{{- $guard := deepCopy .Values.guard.settings -}}
{{- $_ := set $guard "dry_run" (not (and .Values.rollback.enabled (eq .Values.rollback.mode "rollback"))) -}}
{{- $_ := set $guard "release" $releases -}}
{{- $_ := set $cfg "guard" $guard -}}
{{- end -}}
{{- $_ := set $cfg "probe" .Values.probes -}}
{{- toYaml $cfg -}}
{{- end -}}
