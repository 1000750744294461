{{/*
Pieces shared by the webhook configurations. The release namespace and kube-system are always
excluded through `kubernetes.io/metadata.name NotIn`, appended to whatever selector the user gives
(Gatekeeper's approach): the webhook must never gate its own namespace or the control plane.
*/}}

{{/* The Argo kinds we police; CREATE and UPDATE only (DELETE changes nothing we check). */}}
{{- define "argo-admission.webhook.rules" -}}
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["workflows", "cronworkflows", "workflowtemplates", "clusterworkflowtemplates"]
  scope: "*"
{{- end -}}

{{/*
The validating webhooks also see the DELETE of a template (only the library's authors may delete
a library template) and what the controller reads back as step results: task results
(written by each step's executor) and task sets (status written by the agent). Argo's own
`argo-aggregate-to-edit` role lets namespace editors write both; the policy lets only their real
writers through (docs/status-trust.md). Their DELETE too (a deletecollection reaches the webhook
once per object): a deleted result of a running Workflow makes room for a forged one.
*/}}
{{- define "argo-admission.webhook.validateRules" -}}
{{ include "argo-admission.webhook.rules" . }}
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["workflowtaskresults", "workflowtasksets", "workflowtasksets/status"]
  scope: "Namespaced"
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  operations: ["DELETE"]
  resources: ["workflowtemplates", "clusterworkflowtemplates"]
  scope: "*"
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  operations: ["DELETE"]
  resources: ["workflowtaskresults", "workflowtasksets"]
  scope: "Namespaced"
{{- end -}}

{{/* include "argo-admission.webhook.clientConfig" (dict "ctx" . "path" "/validate") */}}
{{- define "argo-admission.webhook.clientConfig" -}}
{{- $ := .ctx -}}
{{- if $.Values.webhook.url -}}
url: {{ printf "%s%s" (trimSuffix "/" $.Values.webhook.url) .path | quote }}
{{- else -}}
service:
  name: {{ include "argo-admission.serviceName" $ }}
  namespace: {{ include "argo-admission.namespace" $ }}
  path: {{ .path | quote }}
  port: {{ $.Values.service.port }}
{{- end }}
{{- with include "argo-admission.caBundle" $ }}
caBundle: {{ . }}
{{- end }}
{{- end -}}

{{/* Namespaces the API server never sends: the mandatory ones, plus exempt ones under skipExempt. */}}
{{- define "argo-admission.webhook.excludedNamespaces" -}}
{{- if .Values.webhook.skipExempt -}}
{{- include "argo-admission.exemptNamespaces" . -}}
{{- else -}}
{{- toYaml (list (include "argo-admission.namespace" .) "kube-system" | uniq | sortAlpha) -}}
{{- end -}}
{{- end -}}

{{/* include "argo-admission.webhook.namespaceSelector" (dict "ctx" . "selector" .Values.webhook.namespaceSelector) */}}
{{- define "argo-admission.webhook.namespaceSelector" -}}
{{- $ := .ctx -}}
{{- $selector := deepCopy (.selector | default dict) -}}
{{- $exclude := dict
  "key" "kubernetes.io/metadata.name"
  "operator" "NotIn"
  "values" (include "argo-admission.webhook.excludedNamespaces" $ | fromYamlArray)
-}}
{{- $_ := set $selector "matchExpressions" (append ($selector.matchExpressions | default list) $exclude) -}}
{{- toYaml $selector -}}
{{- end -}}

{{/*
matchConditions (GA in Kubernetes 1.30; rendered only there): skip exempt identities when
skipExempt is on, so Argo's controller keeps working while the webhook is down, then the user's.
The validating webhooks still see a Workflow CREATE by an exempt identity (`checkCreates`): the
controller spawns Workflows from CronWorkflows admitted earlier, and their refs must still lead
into the library. CEL list literals are written as JSON arrays of strings, which CEL reads the
same way.
include "argo-admission.webhook.matchConditions" (dict "ctx" . "checkCreates" true)
*/}}
{{- define "argo-admission.webhook.matchConditions" -}}
{{- $ := .ctx -}}
{{- $conditions := list -}}
{{- $creates := "" -}}
{{- if .checkCreates -}}
{{- $creates = " || (request.resource.resource == 'workflows' && request.operation == 'CREATE')" -}}
{{- end -}}
{{- if include "argo-admission.kubeAtLeast" (dict "ctx" $ "version" "1.30") -}}
{{- if $.Values.webhook.skipExempt -}}
{{- $users := include "argo-admission.exemptUsernames" $ | fromYamlArray -}}
{{- if $users -}}
{{- $conditions = append $conditions (dict
  "name" "not-an-exempt-user"
  "expression" (printf "!(request.userInfo.username in %s)%s" (toJson $users) $creates)) -}}
{{- end -}}
{{- $groups := $.Values.policy.exemptions.groups | default list | uniq | sortAlpha -}}
{{- if $groups -}}
{{- $conditions = append $conditions (dict
  "name" "not-in-an-exempt-group"
  "expression" (printf "!(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in %s))%s" (toJson $groups) $creates)) -}}
{{- end -}}
{{- end -}}
{{- with .extra -}}
{{- $conditions = concat $conditions (fromYamlArray .) -}}
{{- end -}}
{{- $conditions = concat $conditions ($.Values.webhook.matchConditions | default list) -}}
{{- end -}}
{{- with $conditions -}}
matchConditions:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* Annotations of both configurations: cert-manager's CA injection under tls.mode cert-manager. */}}
{{- define "argo-admission.webhook.annotations" -}}
{{- $annotations := deepCopy (.Values.webhook.annotations | default dict) -}}
{{- if and (include "argo-admission.inCluster" .) (eq .Values.tls.mode "cert-manager") (not .Values.webhook.caBundle) -}}
{{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/%s" (include "argo-admission.namespace" .) (include "argo-admission.certificateName" .)) -}}
{{- end -}}
{{- with $annotations -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/*
Whether the cluster runs at least Kubernetes `version` (major.minor):
include "argo-admission.kubeAtLeast" (dict "ctx" . "version" "1.30"). Only major.minor of
.Capabilities.KubeVersion is read, so provider suffixes (v1.30.2-eks-1a2b, 1.31+) and unparseable
development builds (treated as too old) never break the render.
*/}}
{{- define "argo-admission.kubeAtLeast" -}}
{{- $found := regexFind "^v?[0-9]+\\.[0-9]+" .ctx.Capabilities.KubeVersion.Version | trimPrefix "v" -}}
{{- if and $found (semverCompare (printf ">=%s.0-0" .version) (printf "%s.0" $found)) -}}true{{- end -}}
{{- end -}}


{{/*
The failure policy of a webhook: the configured one in enforce mode; `Ignore` in warn and audit
modes, which never refuse, so a server that is down must not refuse either.
include "argo-admission.webhook.failurePolicy" (dict "ctx" . "set" .Values.webhook.validating.failurePolicy)
*/}}
{{- define "argo-admission.webhook.failurePolicy" -}}
{{- if eq .ctx.Values.policy.mode "enforce" -}}{{ .set }}{{- else -}}Ignore{{- end -}}
{{- end -}}

{{/*
What /mutate can change, decided from the policy values (admission/core/mutate.py):
- refWorkflows: a Workflow (or a CronWorkflow's workflowSpec) with a ref gets only the
  `mutation.refDefaults` fields of workflowDefaults, and workflowDefaults' labels and
  annotations; with the defaults read from Argo's ConfigMap at run time, any refDefaults may apply;
- plain: a Workflow without a ref gets workflowDefaults and the securityContext baseline;
- templates: a (Cluster)WorkflowTemplate gets the securityContext baseline.
Each is "true" or "".
*/}}
{{- define "argo-admission.mutate.baseline" -}}
{{- $sc := .Values.policy.securityContext -}}
{{- if and (eq $sc.mode "mutate") (or $sc.pod $sc.container) -}}true{{- end -}}
{{- end -}}

{{- define "argo-admission.mutate.refWorkflows" -}}
{{- $p := .Values.policy -}}
{{- $defaults := $p.workflowDefaults | default dict -}}
{{- $spec := $defaults.spec | default dict -}}
{{- $meta := $defaults.metadata | default dict -}}
{{- $hit := "" -}}
{{- range ($p.mutation.refDefaults | default list) -}}
{{- if or (hasKey $spec .) $.Values.argo.controller.configMap.name -}}{{- $hit = "true" -}}{{- end -}}
{{- end -}}
{{- if or $meta.labels $meta.annotations $.Values.argo.controller.configMap.name -}}{{- $hit = "true" -}}{{- end -}}
{{- $hit -}}
{{- end -}}

{{- define "argo-admission.mutate.plain" -}}
{{- if or .Values.policy.workflowDefaults .Values.argo.controller.configMap.name (include "argo-admission.mutate.baseline" .) -}}true{{- end -}}
{{- end -}}

{{/* Whether /mutate can change anything at all: otherwise no mutating webhook is registered. */}}
{{- define "argo-admission.mutate.any" -}}
{{- if or (include "argo-admission.mutate.refWorkflows" .) (include "argo-admission.mutate.plain" .) -}}true{{- end -}}
{{- end -}}

{{/*
The mutating webhook's rules: Workflows on CREATE only (a running Workflow's spec is never
rewritten), CronWorkflows when their spec can change, templates only with a baseline to apply.
*/}}
{{- define "argo-admission.mutate.rules" -}}
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  operations: ["CREATE"]
  resources: ["workflows"]
  scope: "Namespaced"
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["cronworkflows"{{ if include "argo-admission.mutate.baseline" . }}, "workflowtemplates", "clusterworkflowtemplates"{{ end }}]
  scope: "*"
{{- end -}}

{{/*
A matchCondition (Kubernetes >= 1.30) that sends /mutate only the Workflows and CronWorkflows it
can change: with or without a ref, as decided above. Every `has` is guarded: a match condition
that errors is treated by the failure policy.
*/}}
{{- define "argo-admission.mutate.condition" -}}
{{- $ref := ternary "true" "false" (eq (include "argo-admission.mutate.refWorkflows" .) "true") -}}
{{- $plain := ternary "true" "false" (eq (include "argo-admission.mutate.plain" .) "true") -}}
{{- if ne $ref $plain -}}
{{- $wfRef := "has(object.spec) && has(object.spec.workflowTemplateRef)" -}}
{{- $cronRef := "has(object.spec) && has(object.spec.workflowSpec) && has(object.spec.workflowSpec.workflowTemplateRef)" -}}
{{- $expression := printf "request.resource.resource == 'workflows' ? ((%s) ? %s : %s) : request.resource.resource == 'cronworkflows' ? ((%s) ? %s : %s) : true" $wfRef $ref $plain $cronRef $ref $plain -}}
- name: something-to-mutate
  expression: {{ $expression | quote }}
{{- end -}}
{{- end -}}
