{{/*
The wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport CRDs (the Policy WG's report
API, as Kyverno and Policy Reporter install it), written from its types: one schema, two scopes.
Called with (dict "kind" "PolicyReport"|"ClusterPolicyReport" "root" $).
*/}}
{{- define "argo-admission.policyReportCRD" -}}
{{- $kind := .kind -}}
{{- $plural := printf "%ss" (lower $kind) -}}
{{- $namespaced := eq $kind "PolicyReport" -}}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {{ $plural }}.wgpolicyk8s.io
  labels:
    {{- include "argo-admission.labels" .root | nindent 4 }}
spec:
  group: wgpolicyk8s.io
  names:
    kind: {{ $kind }}
    listKind: {{ $kind }}List
    plural: {{ $plural }}
    singular: {{ lower $kind }}
    shortNames: [{{ if $namespaced }}polr{{ else }}cpolr{{ end }}]
  scope: {{ if $namespaced }}Namespaced{{ else }}Cluster{{ end }}
  versions:
    - name: v1alpha2
      served: true
      storage: true
      additionalPrinterColumns:
        - {name: Kind, type: string, jsonPath: .scope.kind, priority: 1}
        - {name: Name, type: string, jsonPath: .scope.name, priority: 1}
        {{- range list "pass" "fail" "warn" "error" "skip" }}
        - {name: {{ title . }}, type: integer, jsonPath: .summary.{{ . }}}
        {{- end }}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
      schema:
        openAPIV3Schema:
          description: {{ $kind }} holds the results of policy checks{{ if $namespaced }} in one namespace{{ else }} of cluster-scoped objects{{ end }}.
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            scope:
              description: The object the report is about, when it is about one object.
              {{- include "argo-admission.policyReportObjectReference" . | nindent 14 }}
            scopeSelector:
              description: The objects the report is about, by label.
              {{- include "argo-admission.policyReportLabelSelector" . | nindent 14 }}
            summary:
              description: How many results of each kind the report holds.
              type: object
              properties:
                {{- range list "pass" "fail" "warn" "error" "skip" }}
                {{ . }}: {type: integer}
                {{- end }}
            results:
              type: array
              items:
                type: object
                required: [policy]
                properties:
                  source: {type: string, description: The tool that produced the result.}
                  policy: {type: string, description: The policy the result is about.}
                  rule: {type: string, description: The rule of the policy.}
                  category: {type: string}
                  severity:
                    type: string
                    enum: [critical, high, low, medium, info]
                  timestamp:
                    type: object
                    required: [seconds, nanos]
                    properties:
                      seconds: {type: integer, format: int64}
                      nanos: {type: integer, format: int32}
                  result:
                    type: string
                    enum: [pass, fail, warn, error, skip]
                  scored: {type: boolean}
                  message: {type: string}
                  resources:
                    type: array
                    items:
                      {{- include "argo-admission.policyReportObjectReference" . | nindent 22 }}
                  resourceSelector:
                    {{- include "argo-admission.policyReportLabelSelector" . | nindent 20 }}
                  properties:
                    type: object
                    additionalProperties: {type: string}
      subresources: {}
{{- end }}

{{- define "argo-admission.policyReportObjectReference" -}}
type: object
x-kubernetes-map-type: atomic
properties:
  {{- range list "apiVersion" "kind" "name" "namespace" "uid" "resourceVersion" "fieldPath" }}
  {{ . }}: {type: string}
  {{- end }}
{{- end }}

{{- define "argo-admission.policyReportLabelSelector" -}}
type: object
x-kubernetes-map-type: atomic
properties:
  matchLabels:
    type: object
    additionalProperties: {type: string}
  matchExpressions:
    type: array
    items:
      type: object
      required: [key, operator]
      properties:
        key: {type: string}
        operator: {type: string}
        values:
          type: array
          items: {type: string}
{{- end }}
