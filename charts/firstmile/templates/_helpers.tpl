{{/* Names and labels. Other templates (dashboards, rules) use firstmile.fullname and firstmile.labels. */}}

{{- define "firstmile.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firstmile.fullname" -}}
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

{{- define "firstmile.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firstmile.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firstmile.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "firstmile.labels" -}}
helm.sh/chart: {{ include "firstmile.chart" . }}
{{ include "firstmile.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: firstmile
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* (dict "root" $ "component" "edge") */}}
{{- define "firstmile.componentName" -}}
{{- printf "%s-%s" (include "firstmile.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firstmile.componentSelectorLabels" -}}
{{ include "firstmile.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "firstmile.componentLabels" -}}
{{ include "firstmile.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "firstmile.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "firstmile.componentName" .) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{- define "firstmile.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Configuration ---------------------------------------------------------------------------- */}}

{{/* camelCase setting key -> FIRSTMILE_SNAKE_CASE, the rule of services/firstmile/src/config.ts. */}}
{{- define "firstmile.envName" -}}
{{- printf "FIRSTMILE_%s" (regexReplaceAll "([A-Z])" . "_${1}" | upper) -}}
{{- end -}}

{{/*
An environment variable's text for a values scalar. Numbers arrive from YAML as float64 and would
print as 1.6777215e+07; the settings' numbers are all integers.
*/}}
{{- define "firstmile.envValue" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- printf "%d" (int64 .) -}}
{{- else if kindIs "bool" . -}}
{{- ternary "true" "false" . -}}
{{- else if kindIs "string" . -}}
{{- . -}}
{{- else -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{/* The settings a component is given explicitly: its own config over the shared one (JSON). */}}
{{- define "firstmile.explicitConfig" -}}
{{- $own := (index .root.Values .component).config | default dict -}}
{{- toJson (merge (deepCopy $own) (deepCopy (.root.Values.config | default dict))) -}}
{{- end -}}

{{/* What the process will run with: explicit settings over the settings' defaults (JSON). */}}
{{- define "firstmile.effectiveConfig" -}}
{{- $defaults := include "firstmile.settingDefaults" .root | fromJson -}}
{{- toJson (merge (include "firstmile.explicitConfig" . | fromJson) $defaults) -}}
{{- end -}}

{{/* One effective setting as text: (dict "root" $ "component" "edge" "key" "httpPort"). */}}
{{- define "firstmile.setting" -}}
{{- $cfg := include "firstmile.effectiveConfig" . | fromJson -}}
{{- if not (hasKey $cfg .key) -}}
{{- fail (printf "setting %s has no value and no default" .key) -}}
{{- end -}}
{{- include "firstmile.envValue" (index $cfg .key) -}}
{{- end -}}

{{- define "firstmile.shutdownSeconds" -}}
{{- $ms := include "firstmile.setting" (dict "root" .root "component" .component "key" "shutdownTimeoutMs") | int -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/*
Secrets the services read from files: setting -> values entry under `secrets`, file name, and the
components that read it. Mounted as one projected volume (a directory, so kubelet updates it).
*/}}
{{- define "firstmile.secretFileTable" -}}
adminTokenFile: {secret: adminToken, file: admin-token, components: [control]}
keyHashSecretFile: {secret: keyHashSecret, file: key-hash-secret, components: [control]}
playbackSecretFile: {secret: playbackSecret, file: playback-secret, components: [control, origin]}
signedSecretFile: {secret: signedSecret, file: signed-secret, components: [control, edge]}
webhookSecretFile: {secret: webhookSecret, file: webhook-secret, components: [control]}
jwtKeyFile: {secret: jwtKey, file: jwt-key, components: [edge], optionalSecret: true}
{{- end -}}

{{- define "firstmile.secretsDir" -}}/etc/firstmile/secrets{{- end -}}

{{/* Whether the chart creates or references `secrets.<name>` at all (jwtKey only when given). */}}
{{- define "firstmile.secretWanted" -}}
{{- $s := index .root.Values.secrets .name -}}
{{- $row := dict -}}
{{- range $k, $v := include "firstmile.secretFileTable" .root | fromYaml -}}
{{- if eq $v.secret $.name -}}{{- $row = $v -}}{{- end -}}
{{- end -}}
{{- if or (not $row.optionalSecret) $s.existingSecret $s.value -}}true{{- end -}}
{{- end -}}

{{/* The secret files one component mounts, as JSON: [{setting, secretName, key, file}]. */}}
{{- define "firstmile.secretFiles" -}}
{{- $out := list -}}
{{- $root := .root -}}
{{- $component := .component -}}
{{- range $setting, $row := include "firstmile.secretFileTable" $root | fromYaml -}}
{{- $s := index $root.Values.secrets $row.secret -}}
{{- if and (has $component $row.components) (include "firstmile.secretWanted" (dict "root" $root "name" $row.secret)) -}}
{{- $name := default (printf "%s-secrets" (include "firstmile.fullname" $root)) $s.existingSecret -}}
{{- $out = append $out (dict "setting" $setting "secretName" $name "key" $s.key "file" $row.file) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* NATS ------------------------------------------------------------------------------------- */}}

{{- define "firstmile.natsName" -}}
{{- printf "%s-nats" (include "firstmile.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "firstmile.natsUrl" -}}
{{- if .Values.nats.external.enabled -}}
{{- required "nats.external.url is required when nats.external.enabled" .Values.nats.external.url -}}
{{- else -}}
{{- printf "%s://%s:4222" (ternary "tls" "nats" .Values.nats.tls.enabled) (include "firstmile.natsName" .) -}}
{{- end -}}
{{- end -}}

{{- define "firstmile.natsAuthSecret" -}}
{{- default (printf "%s-auth" (include "firstmile.natsName" .)) .Values.nats.builtin.auth.existingSecret -}}
{{- end -}}

{{- define "firstmile.natsTlsSecret" -}}
{{- default (printf "%s-tls" (include "firstmile.natsName" .)) .Values.nats.tls.existingSecret -}}
{{- end -}}

{{/* Whether services verify NATS with a CA from a Secret (built-in always; external when given). */}}
{{- define "firstmile.natsCaMounted" -}}
{{- if and .Values.nats.tls.enabled (or (not .Values.nats.external.enabled) .Values.nats.tls.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* Pods ------------------------------------------------------------------------------------- */}}

{{- define "firstmile.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "firstmile.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Default topology spread: across zones, then nodes; never blocks scheduling. */}}
{{- define "firstmile.topologySpread" -}}
{{- $values := index .root.Values .component -}}
{{- if $values.topologySpreadConstraints -}}
{{ toYaml $values.topologySpreadConstraints }}
{{- else -}}
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "firstmile.componentSelectorLabels" $ | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end -}}
{{- end -}}

{{/* The env of a firstmile container: the chart-managed settings, then the explicit config. */}}
{{- define "firstmile.env" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $nats := $root.Values.nats -}}
- name: FIRSTMILE_EDGE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: FIRSTMILE_NATS_URL
  value: {{ include "firstmile.natsUrl" $root | toJson }}
{{- if $nats.external.enabled }}
{{- $cred := index $nats.external.credentials $c }}
{{- if and $cred.existingSecret $cred.credsKey }}
- name: FIRSTMILE_NATS_CREDS
  value: /etc/firstmile/nats-creds/nats.creds
{{- else if and $cred.existingSecret $cred.user }}
- name: FIRSTMILE_NATS_USER
  value: {{ $cred.user | toJson }}
- name: FIRSTMILE_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $cred.existingSecret }}
      key: {{ required (printf "nats.external.credentials.%s.passwordKey is required with user" $c) $cred.passwordKey }}
{{- end }}
{{- else }}
- name: FIRSTMILE_NATS_USER
  value: {{ $c }}
- name: FIRSTMILE_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "firstmile.natsAuthSecret" $root }}
      key: {{ $c }}-password
{{- end }}
{{- if include "firstmile.natsCaMounted" $root }}
- name: FIRSTMILE_NATS_TLS_CA
  value: /etc/firstmile/nats-tls/ca.crt
{{- end }}
{{- if and $nats.tls.enabled $nats.tls.clientSecret }}
- name: FIRSTMILE_NATS_TLS_CERT
  value: /etc/firstmile/nats-client-tls/tls.crt
- name: FIRSTMILE_NATS_TLS_KEY
  value: /etc/firstmile/nats-client-tls/tls.key
{{- end }}
{{- if and (eq $c "edge") $root.Values.tls.enabled }}
- name: FIRSTMILE_RTMPS_PORT
  value: {{ $root.Values.tls.containerPort | int64 | toString | toJson }}
- name: FIRSTMILE_TLS_CERT
  value: /etc/firstmile/tls/tls.crt
- name: FIRSTMILE_TLS_KEY
  value: /etc/firstmile/tls/tls.key
{{- end }}
{{- if eq $c "control" }}
- name: FIRSTMILE_K8S_EDGE_SERVICE
  value: {{ include "firstmile.componentName" (dict "root" $root "component" "edge") }}
- name: FIRSTMILE_LEASE_NAME
  value: {{ include "firstmile.componentName" (dict "root" $root "component" "control") }}
{{- end }}
{{- range include "firstmile.secretFiles" . | fromJsonArray }}
- name: {{ include "firstmile.envName" .setting }}
  value: {{ printf "%s/%s" (include "firstmile.secretsDir" $root) .file }}
{{- end }}
{{- $explicit := include "firstmile.explicitConfig" . | fromJson }}
{{- range $key := keys $explicit | sortAlpha }}
{{- $v := index $explicit $key }}
{{- if not (kindIs "invalid" $v) }}
- name: {{ include "firstmile.envName" $key }}
  value: {{ include "firstmile.envValue" $v | toJson }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "firstmile.volumeMounts" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $nats := $root.Values.nats -}}
- name: tmp
  mountPath: /tmp
{{- if include "firstmile.secretFiles" . | fromJsonArray }}
- name: secrets
  mountPath: {{ include "firstmile.secretsDir" $root }}
  readOnly: true
{{- end }}
{{- if and (eq $c "edge") $root.Values.tls.enabled }}
- name: tls
  mountPath: /etc/firstmile/tls
  readOnly: true
{{- end }}
{{- if include "firstmile.natsCaMounted" $root }}
- name: nats-tls
  mountPath: /etc/firstmile/nats-tls
  readOnly: true
{{- end }}
{{- if and $nats.tls.enabled $nats.tls.clientSecret }}
- name: nats-client-tls
  mountPath: /etc/firstmile/nats-client-tls
  readOnly: true
{{- end }}
{{- if $nats.external.enabled }}
{{- $cred := index $nats.external.credentials $c }}
{{- if and $cred.existingSecret $cred.credsKey }}
- name: nats-creds
  mountPath: /etc/firstmile/nats-creds
  readOnly: true
{{- end }}
{{- end }}
{{- with (index $root.Values $c).extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "firstmile.volumes" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $nats := $root.Values.nats -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- $files := include "firstmile.secretFiles" . | fromJsonArray }}
{{- if $files }}
- name: secrets
  projected:
    defaultMode: 288 # 0440: the pod's group (fsGroup) reads, nobody writes
    sources:
      {{- range $files }}
      - secret:
          name: {{ .secretName }}
          items:
            - key: {{ .key }}
              path: {{ .file }}
      {{- end }}
{{- end }}
{{- if and (eq $c "edge") $root.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ default (printf "%s-tls" (include "firstmile.fullname" $root)) $root.Values.tls.existingSecret }}
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if include "firstmile.natsCaMounted" $root }}
- name: nats-tls
  secret:
    secretName: {{ include "firstmile.natsTlsSecret" $root }}
    defaultMode: 288
    items:
      - key: {{ $nats.tls.caKey }}
        path: ca.crt
{{- end }}
{{- if and $nats.tls.enabled $nats.tls.clientSecret }}
- name: nats-client-tls
  secret:
    secretName: {{ $nats.tls.clientSecret }}
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if $nats.external.enabled }}
{{- $cred := index $nats.external.credentials $c }}
{{- if and $cred.existingSecret $cred.credsKey }}
- name: nats-creds
  secret:
    secretName: {{ $cred.existingSecret }}
    defaultMode: 288
    items:
      - key: {{ $cred.credsKey }}
        path: nats.creds
{{- end }}
{{- end }}
{{- with (index $root.Values $c).extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The pod template of edge, origin and control: one image, the component chosen by the command.
Readiness fails first on SIGTERM (the process stops accepting and drains); preStop keeps the pod
in the endpoints a few seconds longer so load balancers stop routing to it before that.
*/}}
{{- define "firstmile.podTemplate" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $values := index $root.Values $c -}}
{{- $httpPort := include "firstmile.setting" (dict "root" $root "component" $c "key" "httpPort") | int -}}
{{- $rtmpPort := include "firstmile.setting" (dict "root" $root "component" $c "key" "rtmpPort") | int -}}
{{- $grace := add $values.preStopSleepSeconds (include "firstmile.shutdownSeconds" .) $values.terminationGraceExtraSeconds -}}
metadata:
  labels:
    {{- include "firstmile.componentLabels" . | nindent 4 }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- /* Env and secret files change with these; the RTMPS certificate does not restart pods (hot reload). */}}
    checksum/secrets: {{ print (include (print $root.Template.BasePath "/secrets.yaml") $root) (include (print $root.Template.BasePath "/nats-auth-secret.yaml") $root) | sha256sum }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "firstmile.serviceAccountName" . }}
  automountServiceAccountToken: {{ eq $c "control" }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $grace }}
  securityContext:
    {{- include "firstmile.podSecurityContext" . | nindent 4 }}
  topologySpreadConstraints:
    {{- include "firstmile.topologySpread" . | trim | nindent 4 }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ $c }}
      image: {{ include "firstmile.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: [{{ $c }}]
      ports:
        {{- if ne $c "control" }}
        - name: rtmp
          containerPort: {{ $rtmpPort }}
          protocol: TCP
        {{- end }}
        {{- if and (eq $c "edge") $root.Values.tls.enabled }}
        - name: rtmps
          containerPort: {{ $root.Values.tls.containerPort }}
          protocol: TCP
        {{- end }}
        - name: http
          containerPort: {{ $httpPort }}
          protocol: TCP
      env:
        {{- include "firstmile.env" . | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
        failureThreshold: 2
        timeoutSeconds: 2
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        initialDelaySeconds: 10
        periodSeconds: 10
        failureThreshold: 6
        timeoutSeconds: 3
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $values.preStopSleepSeconds }}
      resources:
        {{- toYaml $values.resources | nindent 8 }}
      securityContext:
        {{- include "firstmile.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        {{- include "firstmile.volumeMounts" . | nindent 8 }}
  volumes:
    {{- include "firstmile.volumes" . | nindent 4 }}
{{- end -}}

{{/* The Prometheus pods that scrape /metrics (a NetworkPolicyPeer list). */}}
{{- define "firstmile.prometheusPeer" -}}
- namespaceSelector:
    {{- toYaml .Values.networkPolicy.prometheus.namespaceSelector | nindent 4 }}
  podSelector:
    {{- toYaml .Values.networkPolicy.prometheus.podSelector | nindent 4 }}
{{- end -}}

{{/* Refuse combinations that would deploy but not work. */}}
{{- define "firstmile.validate" -}}
{{- $v := .Values -}}
{{- if not $v.nats.external.enabled -}}
{{- range $c := list "edge" "origin" "control" -}}
{{- $cfg := include "firstmile.effectiveConfig" (dict "root" $ "component" $c) | fromJson -}}
{{- range $key := list "indexReplicas" "keysReplicas" -}}
{{- if gt (int (index $cfg $key)) (int $v.nats.builtin.replicas) -}}
{{- fail (printf "%s.config.%s (%d) is more than nats.builtin.replicas (%d): JetStream cannot place the replicas" $c $key (int (index $cfg $key)) (int $v.nats.builtin.replicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $v.tls.enabled -}}
{{- if not (or $v.tls.existingSecret (and $v.tls.cert $v.tls.key) $v.tls.selfSigned.enabled) -}}
{{- fail "tls.enabled needs tls.existingSecret, tls.cert and tls.key, or tls.selfSigned.enabled" -}}
{{- end -}}
{{- end -}}
{{- if and $v.nats.tls.clientSecret (not $v.nats.tls.enabled) -}}
{{- fail "nats.tls.clientSecret needs nats.tls.enabled" -}}
{{- end -}}
{{- end -}}
