{{/*
The webhook configurations, as objects: rendered as chart resources when the server cannot
register them itself (URL mode, or webhook.registration=helm), else handed to the server in a
ConfigMap, which registers them once Ready (admission/cluster/registration.py).
*/}}
{{- define "argo-admission.validatingConfiguration" -}}
{{- $annotations := include "argo-admission.webhook.annotations" . -}}
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{ include "argo-admission.fullname" . }}
  labels:
    {{- include "argo-admission.labels" . | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
webhooks:
  # The enforcing webhook: denies what the policy refuses (policy.mode enforce).
  - name: validate.argo-admission.io
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: {{ include "argo-admission.webhook.failurePolicy" (dict "ctx" . "set" .Values.webhook.validating.failurePolicy) }}
    matchPolicy: Equivalent
    timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
    clientConfig:
      {{- include "argo-admission.webhook.clientConfig" (dict "ctx" . "path" "/validate") | nindent 6 }}
    rules:
      {{- include "argo-admission.webhook.validateRules" . | nindent 6 }}
    namespaceSelector:
      {{- include "argo-admission.webhook.namespaceSelector" (dict "ctx" . "selector" .Values.webhook.namespaceSelector) | nindent 6 }}
    {{- with .Values.webhook.objectSelector }}
    objectSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- include "argo-admission.webhook.matchConditions" (dict "ctx" . "checkCreates" true) | nindent 4 }}
  {{- if .Values.webhook.advisory.enabled }}
  # The advisory webhook: the same checks answered as warnings; never blocks (failurePolicy Ignore).
  - name: advise.argo-admission.io
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: Ignore
    matchPolicy: Equivalent
    timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
    clientConfig:
      {{- include "argo-admission.webhook.clientConfig" (dict "ctx" . "path" .Values.webhook.advisory.path) | nindent 6 }}
    rules:
      {{- include "argo-admission.webhook.validateRules" . | nindent 6 }}
    namespaceSelector:
      {{- include "argo-admission.webhook.namespaceSelector" (dict "ctx" . "selector" .Values.webhook.advisory.namespaceSelector) | nindent 6 }}
    {{- with .Values.webhook.objectSelector }}
    objectSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- include "argo-admission.webhook.matchConditions" (dict "ctx" . "checkCreates" true) | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "argo-admission.mutatingConfiguration" -}}
{{- if and .Values.webhook.mutating.enabled (include "argo-admission.mutate.any" .) -}}
{{- $annotations := include "argo-admission.webhook.annotations" . -}}
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {{ include "argo-admission.fullname" . }}
  labels:
    {{- include "argo-admission.labels" . | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
webhooks:
  # workflowDefaults and the securityContext baseline as idempotent JSONPatches.
  - name: mutate.argo-admission.io
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: {{ include "argo-admission.webhook.failurePolicy" (dict "ctx" . "set" .Values.webhook.mutating.failurePolicy) }}
    matchPolicy: Equivalent
    reinvocationPolicy: {{ .Values.webhook.mutating.reinvocationPolicy }}
    timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
    clientConfig:
      {{- include "argo-admission.webhook.clientConfig" (dict "ctx" . "path" "/mutate") | nindent 6 }}
    rules:
      {{- include "argo-admission.mutate.rules" . | nindent 6 }}
    namespaceSelector:
      {{- include "argo-admission.webhook.namespaceSelector" (dict "ctx" . "selector" .Values.webhook.namespaceSelector) | nindent 6 }}
    {{- with .Values.webhook.objectSelector }}
    objectSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- include "argo-admission.webhook.matchConditions" (dict "ctx" . "extra" (include "argo-admission.mutate.condition" .)) | nindent 4 }}
{{- end -}}
{{- end -}}

{{/* Whether the server registers the configurations itself: in-cluster, registration=server. */}}
{{- define "argo-admission.serverRegisters" -}}
{{- if and (include "argo-admission.inCluster" .) (eq .Values.webhook.registration "server") -}}true{{- end -}}
{{- end -}}

{{- define "argo-admission.webhooksConfigMapName" -}}
{{- printf "%s-webhooks" (include "argo-admission.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}


{{/*
Whether the servers keep the exported ValidatingAdmissionPolicy (validatingAdmissionPolicy):
`true`, or `auto` where the cluster serves it on Kubernetes >= 1.35 (its CEL sorts lists) and
the values make it decide something whole (Strict or Secure, enforce mode). Only where the
servers register the webhook configurations: they narrow them.
*/}}
{{- define "argo-admission.policyInApiServer" -}}
{{- $v := .Values.validatingAdmissionPolicy -}}
{{- $p := .Values.policy -}}
{{- if include "argo-admission.serverRegisters" . -}}
{{- if eq (toString $v.enabled) "true" -}}true
{{- else if and (eq (toString $v.enabled) "auto")
  (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy")
  (include "argo-admission.kubeAtLeast" (dict "ctx" . "version" "1.35"))
  (has $p.workflowRestrictions.templateReferencing (list "Strict" "Secure"))
  (eq $p.mode "enforce") -}}true
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "argo-admission.libraryConfigMapName" -}}
{{- printf "%s-library" (include "argo-admission.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Whether the servers keep the exported MutatingAdmissionPolicy (mutatingAdmissionPolicy):
`true`, or `auto` where the cluster serves it, mode is enforce and securityContext has a
baseline to mutate in (admission/core/mutatingpolicy.py why_not). Only where the servers
register the mutating webhook configuration: they narrow it.
*/}}
{{- define "argo-admission.mapInApiServer" -}}
{{- $v := .Values.mutatingAdmissionPolicy -}}
{{- if and (include "argo-admission.serverRegisters" .) .Values.webhook.mutating.enabled (include "argo-admission.mutate.any" .) -}}
{{- if eq (toString $v.enabled) "true" -}}true
{{- else if and (eq (toString $v.enabled) "auto")
  (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")
  (eq .Values.policy.mode "enforce")
  (include "argo-admission.mutate.baseline" .) -}}true
{{- end -}}
{{- end -}}
{{- end -}}
