{{/* Pod-level pieces of the server Deployment. */}}

{{/* The user's affinity, with a default pod anti-affinity by hostname unless they set one. */}}
{{- define "argo-admission.affinity" -}}
{{- $affinity := deepCopy (.Values.server.affinity | default dict) -}}
{{- if and (not $affinity.podAntiAffinity) (ne .Values.server.podAntiAffinity "none") -}}
{{- $term := dict
  "topologyKey" "kubernetes.io/hostname"
  "labelSelector" (dict "matchLabels" (include "argo-admission.selectorLabels" . | fromYaml))
-}}
{{- if eq .Values.server.podAntiAffinity "hard" -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- else -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) -}}
{{- end -}}
{{- end -}}
{{- with $affinity -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/* What must roll the pods when it changes: the policy the server loads at start-up (Argo's
ConfigMap, when named, is watched live and needs no roll). */}}
{{- define "argo-admission.policyChecksum" -}}
{{- $parts := list (include "argo-admission.policy" .) -}}
{{- join "\n---\n" $parts | sha256sum -}}
{{- end -}}
