{{/* Names and labels shared by every template (the usual Helm naming scheme). */}}

{{- define "rayop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-rayop", or just the release name when it already contains the chart's name. */}}
{{- define "rayop.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rayop.labels" -}}
app.kubernetes.io/name: {{ include "rayop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: rayop
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* The operator pods: what the Deployment and the metrics Service select. */}}
{{- define "rayop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rayop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "rayop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rayop.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rayop.leaseName" -}}
{{- default (printf "%s-leader" (include "rayop.fullname" .)) .Values.leaseName -}}
{{- end -}}

{{/* The namespaces rayop watches: the list, else the release namespace for a single-namespace
install, else none (= all namespaces). */}}
{{- define "rayop.watchNamespaces" -}}
{{- if .Values.watchNamespace -}}
{{- toYaml .Values.watchNamespace -}}
{{- else if .Values.singleNamespaceInstall -}}
{{- toYaml (list .Release.Namespace) -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* What rayop calls, and nothing else; the same rules as manifests/operator/clusterrole.yaml
(tests/component/deploy/test_helm.py keeps the two equal). */}}
{{- define "rayop.rules" -}}
rules:
  - apiGroups: ["ray.io"]
    resources: ["rayclusters"]
    verbs: ["list", "watch", "patch"]
  - apiGroups: ["ray.io"]
    resources: ["rayclusters/status"]
    verbs: ["patch"]
  - apiGroups: ["apps"]
    resources: ["statefulsets", "deployments"]
    verbs: ["list", "watch", "create", "patch", "delete"]
  - apiGroups: [""]
    resources: ["services", "serviceaccounts"]
    verbs: ["list", "watch", "create", "patch", "delete"]
  - apiGroups: ["autoscaling"]
    resources: ["horizontalpodautoscalers"]
    verbs: ["list", "watch", "create", "patch", "delete"]
  - apiGroups: ["rbac.authorization.k8s.io"]
    resources: ["roles", "rolebindings"]
    verbs: ["list", "watch", "create", "patch", "delete"]
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["list", "watch", "patch", "delete"]
  - apiGroups: [""]
    resources: ["events"]
    verbs: ["create", "patch"]
  # Held for escalation prevention: the rules of the Role rayop creates for the Ray autoscaler.
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "list", "watch", "patch"]
  - apiGroups: [""]
    resources: ["pods/resize"]
    verbs: ["patch"]
  - apiGroups: ["ray.io"]
    resources: ["rayclusters"]
    verbs: ["get", "patch"]
{{- end -}}
