{{/*
Objects every firstmile component has: Deployment, its http Service (health and /metrics, never
exposed outside the cluster), ServiceAccount, PodDisruptionBudget and HorizontalPodAutoscaler.
(dict "root" $ "component" "edge")
*/}}
{{- define "firstmile.componentObjects" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $values := index $root.Values $c -}}
{{- $name := include "firstmile.componentName" . -}}
{{- $autoscaling := and (hasKey $values "autoscaling") $values.autoscaling.enabled -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "firstmile.componentLabels" . | nindent 4 }}
spec:
  {{- if not $autoscaling }}
  replicas: {{ $values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "firstmile.componentSelectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # New pods are ready before old ones start draining their connections.
      maxSurge: 1
      maxUnavailable: 0
  template:
    {{- include "firstmile.podTemplate" . | nindent 4 }}
---
{{- /* Control's API is its main Service; edges and origins get a separate in-cluster one. */}}
{{- $control := eq $c "control" }}
apiVersion: v1
kind: Service
metadata:
  name: {{ ternary $name (printf "%s-http" $name) $control }}
  labels:
    {{- include "firstmile.componentLabels" . | nindent 4 }}
    firstmile.io/metrics: "true"
  {{- if and $control $values.service.annotations }}
  annotations:
    {{- toYaml $values.service.annotations | nindent 4 }}
  {{- end }}
spec:
  type: {{ ternary $values.service.type "ClusterIP" $control }}
  selector:
    {{- include "firstmile.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ ternary $values.service.port (include "firstmile.setting" (dict "root" $root "component" $c "key" "httpPort") | int) $control }}
      targetPort: http
      protocol: TCP
{{- if $values.serviceAccount.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "firstmile.serviceAccountName" . }}
  labels:
    {{- include "firstmile.componentLabels" . | nindent 4 }}
  {{- with $values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ eq $c "control" }}
{{- end }}
{{- if $values.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "firstmile.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "firstmile.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- if $autoscaling }}
{{- $a := $values.autoscaling }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "firstmile.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  # The HPA follows whichever metric asks for more pods; when prometheus-adapter cannot serve the
  # connections metric, CPU alone still scales up.
  metrics:
    {{- if $a.podsMetric.enabled }}
    - type: Pods
      pods:
        metric:
          name: {{ $a.podsMetric.name }}
        target:
          type: AverageValue
          averageValue: {{ $a.podsMetric.averageValue | toString | toJson }}
    {{- end }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}
