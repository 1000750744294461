{{/*
TLS material of `tls.mode: helm`, computed once per render and cached in .Values so the Secret,
the webhook caBundle and the Deployment checksum agree. An existing Secret (found with `lookup`
on install/upgrade) is reused until `renewBeforeDays` before the expiry recorded on it; on renewal
the webhook trusts both the old and the new CA, so pods still serving the old certificate keep
answering while they roll. `helm template` cannot look anything up and generates anew each time.
*/}}
{{- define "argo-admission.tls.helm" -}}
{{- if not (hasKey .Values "__argoAdmissionTLS") -}}
{{- $ns := include "argo-admission.namespace" . -}}
{{- $name := include "argo-admission.tlsSecretName" . -}}
{{- $days := int .Values.tls.helm.validityDays -}}
{{- $now := now | unixEpoch | int64 -}}
{{- $existing := lookup "v1" "Secret" $ns $name | default dict -}}
{{- $oldCA := dig "data" "ca.crt" "" $existing -}}
{{- $oldCert := dig "data" "tls.crt" "" $existing -}}
{{- $oldKey := dig "data" "tls.key" "" $existing -}}
{{- $notAfter := dig "metadata" "annotations" "argo-admission.io/not-after" "0" $existing | int64 -}}
{{- $margin := mul (int .Values.tls.helm.renewBeforeDays) 86400 -}}
{{- $tls := dict -}}
{{- if and $oldCA $oldCert $oldKey (gt (sub $notAfter $now) $margin) -}}
{{- $tls = dict "ca.crt" $oldCA "tls.crt" $oldCert "tls.key" $oldKey "notAfter" (toString $notAfter) "caBundle" $oldCA -}}
{{- else -}}
{{- $ca := genCA (printf "%s-ca" (include "argo-admission.fullname" .)) $days -}}
{{- $cn := printf "%s.%s.svc" (include "argo-admission.serviceName" .) $ns -}}
{{- $cert := genSignedCert $cn nil (include "argo-admission.dnsNames" . | fromYamlArray) $days $ca -}}
{{- $bundle := $ca.Cert -}}
{{- if $oldCA -}}
{{- $bundle = printf "%s\n%s" (trim $ca.Cert) (trim (b64dec $oldCA)) -}}
{{- end -}}
{{- $tls = dict "ca.crt" (b64enc $ca.Cert) "tls.crt" (b64enc $cert.Cert) "tls.key" (b64enc $cert.Key) "notAfter" (toString (add $now (mul $days 86400))) "caBundle" (b64enc $bundle) -}}
{{- end -}}
{{- $_ := set .Values "__argoAdmissionTLS" $tls -}}
{{- end -}}
{{- toYaml (get .Values "__argoAdmissionTLS") -}}
{{- end -}}

{{/* The base64 CA bundle put in the webhook configurations; empty under cert-manager (injected). */}}
{{- define "argo-admission.caBundle" -}}
{{- if .Values.webhook.caBundle -}}
{{- .Values.webhook.caBundle -}}
{{- else if not (include "argo-admission.inCluster" .) -}}
{{- else if eq .Values.tls.mode "helm" -}}
{{- get (include "argo-admission.tls.helm" . | fromYaml) "caBundle" -}}
{{- else if eq .Values.tls.mode "secret" -}}
{{- .Values.tls.secret.caBundle -}}
{{- end -}}
{{- end -}}

{{/* What must roll the pods when it changes: the serving certificate Helm manages. */}}
{{- define "argo-admission.tlsChecksum" -}}
{{- if eq .Values.tls.mode "helm" -}}
{{- get (include "argo-admission.tls.helm" . | fromYaml) "tls.crt" | sha256sum -}}
{{- else if eq .Values.tls.mode "secret" -}}
{{- printf "%s/%s" .Values.tls.secret.name .Values.tls.secret.caBundle | sha256sum -}}
{{- else -}}
{{- include "argo-admission.certificateName" . | sha256sum -}}
{{- end -}}
{{- end -}}
