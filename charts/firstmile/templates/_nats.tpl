{{/*
The built-in NATS servers' configuration. Passwords are not in it: `$FM_<COMPONENT>_PASSWORD`
are environment variables of the server container, from the auth Secret, so this file can live in
a ConfigMap and its checksum rolls the servers only when the configuration really changes.
*/}}
{{- define "firstmile.natsConfig" -}}
{{- $name := include "firstmile.natsName" . -}}
{{- $b := .Values.nats.builtin -}}
{{- $tls := .Values.nats.tls -}}
server_name: $POD_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
pid_file: "/var/run/nats/nats.pid"
max_payload: {{ $b.maxPayload }}
lame_duck_duration: {{ $b.lameDuckDurationSeconds }}s
lame_duck_grace_period: 10s

jetstream {
  store_dir: "/data"
  max_memory_store: {{ $b.jetstream.maxMemoryStore }}
  max_file_store: {{ $b.jetstream.storageSize }}
}
{{- if $tls.enabled }}

tls {
  cert_file: "/etc/nats/tls/tls.crt"
  key_file: "/etc/nats/tls/tls.key"
  ca_file: "/etc/nats/tls/ca.crt"
  {{- if $tls.clientSecret }}
  # Mutual TLS: every client presents a certificate signed by this CA.
  verify: true
  {{- end }}
  timeout: 2
}
{{- end }}
{{- if gt (int $b.replicas) 1 }}

cluster {
  name: {{ quote $name }}
  listen: 0.0.0.0:6222
  # Clients keep using the Service (and its TLS name) instead of the pod IPs servers would gossip.
  no_advertise: true
  routes: [
    {{- range $i := until (int $b.replicas) }}
    {{ printf "nats://%s-%d.%s-headless.%s.svc.%s:6222" $name $i $name $.Release.Namespace $.Values.clusterDomain | quote }}
    {{- end }}
  ]
}
{{- end }}

# One user per component, each limited to the subjects it uses (nats.permissions).
authorization {
  users: [
    {{- range $c := list "edge" "origin" "control" }}
    {{- $p := index $.Values.nats.permissions $c }}
    {
      user: {{ quote $c }}
      password: {{ printf "$FM_%s_PASSWORD" (upper $c) }}
      permissions: {
        publish: { allow: [{{ range $i, $x := $p.publish }}{{ if $i }}, {{ end }}{{ quote $x }}{{ end }}] }
        subscribe: { allow: [{{ range $i, $x := $p.subscribe }}{{ if $i }}, {{ end }}{{ quote $x }}{{ end }}] }
      }
    }
    {{- end }}
  ]
}
{{- end -}}
