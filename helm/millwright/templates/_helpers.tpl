{{/*
Names, labels and shared snippets of the Millwright chart.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "millwright.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, or `<release>-<name>` (just the release
name when it already contains the chart name). Kept to 52 characters so suffixes such as
`-migrate` and `-connector-<site>` still fit in a 63-character name.
*/}}
{{- define "millwright.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* `<chart>-<version>` for the helm.sh/chart label. */}}
{{- define "millwright.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels common to every resource. */}}
{{- define "millwright.labels" -}}
helm.sh/chart: {{ include "millwright.chart" . }}
{{ include "millwright.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: millwright
{{- end }}

{{/* Labels that select the release's pods (add app.kubernetes.io/component to pick a kind). */}}
{{- define "millwright.selectorLabels" -}}
app.kubernetes.io/name: {{ include "millwright.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of the platform (API) pods. */}}
{{- define "millwright.platformSelectorLabels" -}}
{{ include "millwright.selectorLabels" . }}
app.kubernetes.io/component: platform
{{- end }}

{{/* The ServiceAccount of the platform pods. */}}
{{- define "millwright.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "millwright.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The platform image: repository plus digest, or plus tag (appVersion by default). */}}
{{- define "millwright.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The connector image: connectors.image, falling back to the platform image. */}}
{{- define "millwright.connectorImage" -}}
{{- if or .Values.connectors.image.repository .Values.connectors.image.tag }}
{{- printf "%s:%s" (default .Values.image.repository .Values.connectors.image.repository) (default (default .Chart.AppVersion .Values.image.tag) .Values.connectors.image.tag) }}
{{- else }}
{{- include "millwright.image" . }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the database URLs. */}}
{{- define "millwright.databaseSecretName" -}}
{{- default (include "millwright.fullname" .) .Values.database.existingSecret }}
{{- end }}

{{/* Fails the render when no database is configured. */}}
{{- define "millwright.requireDatabase" -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) }}
{{- fail "\n\nMillwright needs an external PostgreSQL database: set database.url (the owner role's URL, e.g. postgres://millwright_owner:PASSWORD@db:5432/millwright) and database.appUrl, or database.existingSecret (a Secret with DATABASE_URL and APP_DATABASE_URL)." }}
{{- end }}
{{- if not (or .Values.database.appUrl .Values.database.existingSecret .Values.database.setRoleFallback) }}
{{- fail "\n\nMillwright serves requests as the unprivileged login role millwright_app: set database.appUrl (e.g. postgres://millwright_app:PASSWORD@db:5432/millwright). database.setRoleFallback=true serves on the owner's connection after SET ROLE instead, which SQL injected into a request could undo." }}
{{- end }}
{{- end }}

{{/* The platform URL the connectors send to. */}}
{{- define "millwright.platformUrl" -}}
{{- default (printf "http://%s.%s.svc:%v" (include "millwright.fullname" .) .Release.Namespace .Values.service.port) .Values.connectors.platformUrl }}
{{- end }}

{{/*
Environment shared by the platform and the migration containers: the settings file, the
database URLs from a Secret, the listen address matching the pod, and extraEnv.
Call with (dict "root" $ "secret" SECRET-NAME), adding "migrations" true for the migration Job.
*/}}
{{- define "millwright.env" -}}
{{- $v := .root.Values -}}
- name: MILLWRIGHT_CONFIG
  value: /etc/millwright/millwright.toml
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ $v.database.urlKey }}
- name: APP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ $v.database.appUrlKey }}
      # The platform does not start without it, unless the SET ROLE fallback is chosen;
      # migrations run as the owner and need only DATABASE_URL.
      optional: {{ or $v.database.setRoleFallback (default false .migrations) }}
- name: MILLWRIGHT__AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ $v.auth.jwtSecretKey }}
      optional: true
- name: MILLWRIGHT__HTTP__LISTEN
  value: "0.0.0.0:{{ $v.containerPort }}"
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
TOML rendering. Helm's own toToml writes every number from a values file as a float (365
becomes 365.0, which the platform's integer settings reject), so the chart renders TOML itself:
whole numbers as integers, maps as [tables], lists of maps as [[arrays of tables]], null
values left out.

millwright.toml: the whole document for a map.
*/}}
{{- define "millwright.toml" -}}
{{- include "millwright.toml.table" (dict "path" list "table" .) }}
{{- end }}

{{/* One table: its plain keys first, then its sub-tables and arrays of tables. */}}
{{- define "millwright.toml.table" -}}
{{- $path := .path }}
{{- $table := .table }}
{{- range $k, $v := $table }}
{{- if and (not (kindIs "invalid" $v)) (not (kindIs "map" $v)) (not (include "millwright.toml.isTableArray" $v)) }}
{{ include "millwright.toml.key" $k }} = {{ include "millwright.toml.value" $v }}
{{- end }}
{{- end }}
{{- range $k, $v := $table }}
{{- $sub := append $path (include "millwright.toml.key" $k) }}
{{- if kindIs "map" $v }}

[{{ join "." $sub }}]
{{- include "millwright.toml.table" (dict "path" $sub "table" $v) }}
{{- else if include "millwright.toml.isTableArray" $v }}
{{- range $item := $v }}

[[{{ join "." $sub }}]]
{{- include "millwright.toml.table" (dict "path" $sub "table" $item) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when a value is a non-empty list of maps only. */}}
{{- define "millwright.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) }}
{{- $maps := true }}
{{- range . }}{{ if not (kindIs "map" .) }}{{ $maps = false }}{{ end }}{{ end }}
{{- if $maps }}true{{ end }}
{{- end }}
{{- end }}

{{/* A key: bare when it can be, quoted otherwise. */}}
{{- define "millwright.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/* A value written inline: string, boolean, number, array or inline table. */}}
{{- define "millwright.toml.value" -}}
{{- if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "bool" . }}{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "float32" .) }}
{{- if eq . (float64 (int64 .)) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if kindIs "slice" . }}[{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ include "millwright.toml.value" $e }}{{ end }}]
{{- else if kindIs "map" . }}{ {{- $first := true }}{{ range $k, $v := . }}{{ if not (kindIs "invalid" $v) }}{{ if not $first }},{{ end }}{{ $first = false }} {{ include "millwright.toml.key" $k }} = {{ include "millwright.toml.value" $v }}{{ end }}{{ end }} }
{{- else }}{{ . }}
{{- end }}
{{- end }}
