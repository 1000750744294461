{{/* Names of the chart's objects. One definition per name, used everywhere. */}}

{{- define "argo-admission.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name: `<release>-<chart>`, or the release name alone when it already says it. */}}
{{- define "argo-admission.fullname" -}}
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

{{- define "argo-admission.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "argo-admission.namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Object names; suffixes keep them within 63 characters. */}}
{{- define "argo-admission.serviceName" -}}
{{- include "argo-admission.fullname" . -}}
{{- end -}}

{{- define "argo-admission.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "argo-admission.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "argo-admission.policyConfigMapName" -}}
{{- printf "%s-policy" (include "argo-admission.fullname" . | trunc 56 | trimSuffix "-") -}}
{{- end -}}

{{- define "argo-admission.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- .Values.tls.secret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "argo-admission.fullname" . | trunc 59 | trimSuffix "-") -}}
{{- end -}}
{{- end -}}

{{- define "argo-admission.certificateName" -}}
{{- printf "%s-serving" (include "argo-admission.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{- define "argo-admission.caCertificateName" -}}
{{- printf "%s-ca" (include "argo-admission.fullname" . | trunc 60 | trimSuffix "-") -}}
{{- end -}}

{{- define "argo-admission.clusterRoleName" -}}
{{- printf "%s:%s" (include "argo-admission.fullname" .) (include "argo-admission.namespace" .) -}}
{{- end -}}

{{/* The Service's DNS names, as the API server and the serving certificate know them. */}}
{{- define "argo-admission.dnsNames" -}}
{{- $svc := include "argo-admission.serviceName" . -}}
{{- $ns := include "argo-admission.namespace" . -}}
{{- toYaml (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) -}}
{{- end -}}

{{/* The server image reference: digest wins over tag; the tag defaults to appVersion. */}}
{{- define "argo-admission.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* In url mode the server runs outside the cluster: no Deployment, Service or TLS objects. */}}
{{- define "argo-admission.inCluster" -}}
{{- if not .Values.webhook.url -}}true{{- end -}}
{{- end -}}

{{/* The Lease electing the server that runs the background audit. */}}
{{- define "argo-admission.auditLeaseName" -}}
{{- printf "%s-audit" (include "argo-admission.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end }}
