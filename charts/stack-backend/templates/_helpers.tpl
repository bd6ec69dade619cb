{{/* Base name of every object; see fullnameOverride in values.yaml. */}}
{{- define "stack-backend.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select this release's pods; "component" tells server, migrations and cron pods apart.
     Call with (dict "ctx" $ "component" "server"). */}}
{{- define "stack-backend.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* Labels of every object. Call with (dict "ctx" $ "component" "server"); component may be empty. */}}
{{- define "stack-backend.labels" -}}
{{ include "stack-backend.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | toString | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* "repository:tag", refusing a tag that is empty or "latest". Call with (dict "image" .Values.x.image "field" "x.image"). */}}
{{- define "stack-backend.image" -}}
{{- $tag := toString .image.tag -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail (printf "%s.tag is %q: pin a version (for example \"2.8.39\") so a rollout is a deliberate change" .field $tag) -}}
{{- end -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}

{{/* Env of the Stack Auth containers (server and migrations): public URLs, ports and the extra tuning env.
     Secrets come from envFrom; env listed here wins over a Secret key of the same name. */}}
{{- define "stack-backend.appEnv" -}}
{{- $reserved := list "NEXT_PUBLIC_STACK_API_URL" "NEXT_PUBLIC_STACK_DASHBOARD_URL" "BACKEND_PORT" "DASHBOARD_PORT" "STACK_SKIP_MIGRATIONS" "STACK_SKIP_SEED_SCRIPT" -}}
- name: NEXT_PUBLIC_STACK_API_URL
  value: {{ required "urls.api is required: the public https URL of the API" .Values.urls.api | quote }}
- name: NEXT_PUBLIC_STACK_DASHBOARD_URL
  value: {{ required "urls.dashboard is required: the public https URL of the dashboard" .Values.urls.dashboard | quote }}
- name: BACKEND_PORT
  value: {{ .Values.ports.api | quote }}
- name: DASHBOARD_PORT
  value: {{ .Values.ports.dashboard | quote }}
{{- range $name, $value := .Values.extraEnv }}
{{- if has $name $reserved }}
{{- fail (printf "extraEnv.%s is set by the chart itself: remove it from extraEnv" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level security shared by every pod of the release. Call with (dict "user" 1000 "group" 1000). */}}
{{- define "stack-backend.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .user }}
runAsGroup: {{ .group }}
fsGroup: {{ .group }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security shared by every container of the release. */}}
{{- define "stack-backend.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Writable scratch space under a read-only root filesystem: /var/tmp (the runtime copy of the app) and /tmp. */}}
{{- define "stack-backend.scratchVolumes" -}}
- name: var-tmp
  emptyDir:
    sizeLimit: {{ .Values.runtimeVolume.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "stack-backend.scratchVolumeMounts" -}}
- name: var-tmp
  mountPath: /var/tmp
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Egress rule to Postgres. Call with .Values.networkPolicy.database. */}}
{{- define "stack-backend.databaseEgress" -}}
- to:
    {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - protocol: TCP
      port: {{ .port }}
{{- end -}}
