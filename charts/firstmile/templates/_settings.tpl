{{- /*
Generated from SETTINGS (services/firstmile/src/config.ts) by scripts/chart-schema.ts: do not edit.
The defaults of every firstmile setting, as JSON: the templates read ports, timeouts and bucket
names from the effective configuration (values over these defaults), so probes, Service ports and
the termination grace period follow whatever the process will use.
*/ -}}
{{- define "firstmile.settingDefaults" -}}
{"host":"0.0.0.0","rtmpPort":1935,"httpPort":8080,"trustProxy":false,"logLevel":"info","maxConnections":10000,"handshakeTimeoutMs":10000,"idleTimeoutMs":60000,"maxMessageBytes":8388608,"maxChunkSize":16777215,"maxChunkStreams":64,"chunkSize":4096,"gopCacheBytes":16777216,"gopCacheMs":10000,"playWaitMs":30000,"reconnectWindowMs":30000,"lingerMs":5000,"initTimeoutMs":2000,"playerMinLagBytes":1048576,"playerMaxQueueBytes":16777216,"slowPlayerTimeoutMs":10000,"flushIntervalMs":50,"shutdownTimeoutMs":10000,"indexBucket":"fm_live","indexReplicas":1,"indexTtlMs":15000,"publisherStaleMs":5000,"heartbeatMs":2000,"jetstreamRetryMs":8000,"authMode":"none","authCacheMs":1000,"authTimeoutMs":2000,"authWebhookFailOpen":false,"authWebhookCacheMs":5000,"jwtStreamClaim":"stream","defaultApp":"live","keysBucket":"fm_keys","keysReplicas":1,"rotationOverlapMs":600000,"lockoutFailures":10,"lockoutWindowMs":60000,"lockoutMs":300000,"kubernetes":"auto","k8sEdgeService":"firstmile-edge","leaseName":"firstmile-control","leaseDurationMs":15000,"metricsMaxStreams":500}
{{- end -}}
