{{/* The chart's name, and the full name every object starts with (the release name by default). */}}
{{- define "finx-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "finx-operator.fullname" -}}
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

{{- define "finx-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "finx-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the manager's Pods; the Services add a component label of their own. */}}
{{- define "finx-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "finx-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "finx-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "finx-operator.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "finx-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The port number of a bind address such as ":8443" or "0.0.0.0:8443". */}}
{{- define "finx-operator.port" -}}
{{- $parts := splitList ":" . }}
{{- last $parts }}
{{- end }}

{{/* The manager's rules: equal to config/rbac/role.yaml (generated from the controllers' RBAC
markers); a test compares them. Bound cluster-wide, or per watched namespace. */}}
{{- define "finx-operator.managerRules" -}}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, delete, get, list, update, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [banking.finx-operator.io]
  resources: [bankconnections, clusterfinxclients, finxclients]
  verbs: [get, list, watch]
- apiGroups: [banking.finx-operator.io]
  resources: [bankconnections/status, clusterfinxclients/status, finxclients/status]
  verbs: [patch]
{{- end }}

{{/* What the manager needs cluster-wide in namespaced mode: cluster-scoped objects only, no Secret
(as config/namespaced/operator/cluster_scope_role.yaml). */}}
{{- define "finx-operator.clusterScopeRules" -}}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
- apiGroups: [banking.finx-operator.io]
  resources: [clusterfinxclients]
  verbs: [get, list, watch]
- apiGroups: [banking.finx-operator.io]
  resources: [clusterfinxclients/status]
  verbs: [patch]
{{- end }}
