{{/* Labels: the recommended app.kubernetes.io set. Selector labels never change across upgrades. */}}

{{/* Labels of the webhook server's pods, matched by the Service, PDB and anti-affinity. */}}
{{- define "argo-admission.selectorLabels" -}}
app.kubernetes.io/name: {{ include "argo-admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/* Labels of every object but the test pod; `commonLabels` cannot override the chart's own. */}}
{{- define "argo-admission.labels" -}}
{{- include "argo-admission.labelsFor" (dict "ctx" . "component" "webhook") -}}
{{- end -}}

{{/* Labels for a component: include "argo-admission.labelsFor" (dict "ctx" . "component" "test") */}}
{{- define "argo-admission.labelsFor" -}}
{{- $ := .ctx -}}
{{- $labels := dict
  "helm.sh/chart" (include "argo-admission.chart" $)
  "app.kubernetes.io/name" (include "argo-admission.name" $)
  "app.kubernetes.io/instance" $.Release.Name
  "app.kubernetes.io/version" ($.Values.image.tag | default $.Chart.AppVersion | toString)
  "app.kubernetes.io/managed-by" $.Release.Service
  "app.kubernetes.io/part-of" "argo-admission"
  "app.kubernetes.io/component" .component
-}}
{{- toYaml (merge $labels (deepCopy ($.Values.commonLabels | default dict))) -}}
{{- end -}}
