{{/*
The policy file the server loads (`--config`), built from `policy:` values. The mandatory
exemptions are merged in whatever the user sets: the release namespace, kube-system and Argo's
controller identity (it writes status and the stored spec; denying it stops Argo).
*/}}

{{- define "argo-admission.exemptNamespaces" -}}
{{- $mandatory := list (include "argo-admission.namespace" .) "kube-system" -}}
{{- toYaml (concat $mandatory (.Values.policy.exemptions.namespaces | default list) | uniq | sortAlpha) -}}
{{- end -}}

{{- define "argo-admission.controllerServiceAccount" -}}
{{- $sa := .Values.argo.controller.serviceAccount -}}
{{- printf "%s/%s" $sa.namespace $sa.name -}}
{{- end -}}

{{- define "argo-admission.exemptServiceAccounts" -}}
{{- $mandatory := list (include "argo-admission.controllerServiceAccount" .) -}}
{{- toYaml (concat $mandatory (.Values.policy.exemptions.serviceAccounts | default list) | uniq | sortAlpha) -}}
{{- end -}}

{{/* Usernames the API server sends for every exempt user and ServiceAccount. */}}
{{- define "argo-admission.exemptUsernames" -}}
{{- $users := .Values.policy.exemptions.users | default list -}}
{{- range (include "argo-admission.exemptServiceAccounts" . | fromYamlArray) -}}
{{- $users = append $users (printf "system:serviceaccount:%s" (replace "/" ":" .)) -}}
{{- end -}}
{{- toYaml ($users | uniq | sortAlpha) -}}
{{- end -}}

{{/* The policy file, keys in the order of policies/*.yaml. */}}
{{- define "argo-admission.policy" -}}
{{- $p := .Values.policy -}}
{{- $ex := $p.exemptions -}}
{{- $library := dict
  "namespaces" ($p.templateLibrary.namespaces | default list)
  "clusterScopedOnly" $p.templateLibrary.clusterScopedOnly
  "allowClusterTemplates" $p.templateLibrary.allowClusterTemplates
-}}
{{- with $p.templateLibrary.selector -}}
{{- $_ := set $library "selector" . -}}
{{- end -}}
{{- $authors := $p.templateLibrary.authors | default dict -}}
{{- if or $authors.users $authors.groups $authors.serviceAccounts -}}
{{- $_ := set $library "authors" (dict
  "users" ($authors.users | default list | uniq | sortAlpha)
  "groups" ($authors.groups | default list | uniq | sortAlpha)
  "serviceAccounts" ($authors.serviceAccounts | default list | uniq | sortAlpha)) -}}
{{- end -}}
{{- $exemptions := dict
  "namespaces" (include "argo-admission.exemptNamespaces" . | fromYamlArray)
  "users" ($ex.users | default list | uniq | sortAlpha)
  "groups" ($ex.groups | default list | uniq | sortAlpha)
  "serviceAccounts" (include "argo-admission.exemptServiceAccounts" . | fromYamlArray)
-}}
{{- $securityContext := dict
  "mode" $p.securityContext.mode
  "pod" ($p.securityContext.pod | default dict)
  "container" ($p.securityContext.container | default dict)
  "restricted" $p.securityContext.restricted
-}}
{{- toYaml (dict "workflowRestrictions" (dict "templateReferencing" $p.workflowRestrictions.templateReferencing)) }}
{{ toYaml (dict "mode" $p.mode) }}
{{ toYaml (dict "workflowDefaults" ($p.workflowDefaults | default dict)) }}
{{ toYaml (dict "securityContext" $securityContext) }}
{{ toYaml (dict "exemptions" $exemptions) }}
{{ toYaml (dict "templateLibrary" $library) }}
{{ toYaml (dict "overrideAllowlist" ($p.overrideAllowlist | default list)) }}
{{ toYaml (dict "controllerInstanceIDs" $p.controllerInstanceIDs) }}
{{ toYaml (dict "mutation" (dict "refDefaults" ($p.mutation.refDefaults | default list))) }}
{{ toYaml (dict "lookupFailurePolicy" $p.lookupFailurePolicy) }}
{{ toYaml (dict "taskResultWriters" $p.taskResultWriters) }}
{{- end -}}
