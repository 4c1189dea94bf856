{{/* Names and labels. */}}

{{- define "nazer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; every object's name starts with it. Short enough for the longest
suffix, "-violation-referral" (19), within the 63 characters of a Service name. */}}
{{- define "nazer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 43 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 43 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 43 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nazer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "nazer.labels" -}}
helm.sh/chart: {{ include "nazer.chart" . }}
app.kubernetes.io/name: {{ include "nazer.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nazer
{{- end }}

{{/* Selector of every pod of the release (NetworkPolicy, ServiceMonitor). */}}
{{- define "nazer.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "nazer.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* Selector of one component's pods: (dict "root" $ "component" "intake"). */}}
{{- define "nazer.selectorLabels" -}}
{{ include "nazer.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/* The same selector as a dict, built directly: a trip through YAML would turn a release named
`on` or `n` into a boolean. */}}
{{- define "nazer.selectorDict" -}}
{{- $root := .root }}
{{- dict "app.kubernetes.io/name" (include "nazer.name" $root) "app.kubernetes.io/instance" $root.Release.Name "app.kubernetes.io/component" .component | toJson }}
{{- end }}

{{- define "nazer.componentLabels" -}}
{{ include "nazer.labels" .root }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{- define "nazer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nazer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: (dict "root" $ "name" "nazer-intake" "image" <override with repository, tag>). */}}
{{- define "nazer.image" -}}
{{- $root := .root }}
{{- $repository := .image.repository }}
{{- if not $repository }}
{{- $repository = .name }}
{{- with $root.Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- end }}
{{- $tag := .image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion }}
{{- printf "%s:%s" $repository (toString $tag) }}
{{- end }}

{{/* Settings. */}}

{{/* The non-secret settings as a map of environment variables to strings: the ConfigMap's data
and the migration Job's env. Optional settings are left out while empty, so the services' own
defaults apply. Numbers go through int64 so that large ones are not printed as 1e+06. */}}
{{- define "nazer.configEnv" -}}
{{- $v := .Values }}
{{- $env := dict
  "NAZER__HTTP__ADDR" "0.0.0.0:8080"
  "NAZER__HTTP__WORKERS" ($v.http.workers | int64 | toString)
  "NAZER__HTTP__SHUTDOWN_GRACE_SECS" ($v.http.shutdownGraceSecs | int64 | toString)
  "NAZER__HTTP__SHUTDOWN_DELAY_SECS" ($v.http.shutdownDelaySecs | int64 | toString)
  "NAZER__HTTP__BODY_READ_TIMEOUT_SECS" ($v.http.bodyReadTimeoutSecs | int64 | toString)
  "NAZER__DATABASE__POOL_SIZE" ($v.database.poolSize | int64 | toString)
  "NAZER__DATABASE__CONNECT_TIMEOUT_SECS" ($v.database.connectTimeoutSecs | int64 | toString)
  "NAZER__BROKER__NAMESPACE" $v.broker.namespace
  "NAZER__BROKER__DELIVERY_LIMIT" ($v.broker.deliveryLimit | int64 | toString)
  "NAZER__BROKER__PREFETCH" ($v.broker.prefetch | int64 | toString)
  "NAZER__BROKER__HEARTBEAT_SECS" ($v.broker.heartbeatSecs | int64 | toString)
  "NAZER__LOG__LEVEL" $v.log.level
  "NAZER__LOG__FORMAT" $v.log.format
  "NAZER__OUTBOX__POLL_INTERVAL_MS" ($v.outbox.pollIntervalMs | int64 | toString)
  "NAZER__DEADLINES__MAX_IDLE_MS" ($v.deadlines.maxIdleMs | int64 | toString)
  "NAZER__DEADLINES__DEFAULT_BUDGET" $v.deadlines.defaultBudget
  "NAZER__WEBHOOKS__MAX_ATTEMPTS" ($v.webhooks.maxAttempts | int64 | toString)
  "NAZER__WEBHOOKS__INITIAL_BACKOFF_MS" ($v.webhooks.initialBackoffMs | int64 | toString)
  "NAZER__WEBHOOKS__MAX_BACKOFF_MS" ($v.webhooks.maxBackoffMs | int64 | toString)
  "NAZER__WEBHOOKS__TIMEOUT_MS" ($v.webhooks.timeoutMs | int64 | toString)
  "NAZER__QUALITY__REOPEN_WORKING_DAYS" ($v.quality.reopenWorkingDays | int64 | toString)
  "NAZER__QUALITY__WARNING_BELOW_SCORE" ($v.quality.warningBelowScore | toString)
  "NAZER__TRACKING__CLIENT_REQUESTS_PER_MINUTE" ($v.tracking.clientRequestsPerMinute | int64 | toString)
  "NAZER__TRACKING__CODE_FAILURES_PER_HOUR" ($v.tracking.codeFailuresPerHour | int64 | toString)
  "NAZER__TRACKING__CODE_FAILURES_PER_DAY" ($v.tracking.codeFailuresPerDay | int64 | toString)
  "NAZER__TRACKING__CLIENT_FAILURES_PER_HOUR" ($v.tracking.clientFailuresPerHour | int64 | toString)
  "NAZER__OPEN311__PUBLIC_READS" $v.open311.publicReads
  "NAZER__OPEN311__KEYLESS_READS_PER_MINUTE" ($v.open311.keylessReadsPerMinute | int64 | toString)
}}
{{- $jwt := $v.auth.jwt }}
{{- if $jwt.jwksUrl }}
{{- $_ := set $env "NAZER__AUTH__JWT__ISSUER" $jwt.issuer }}
{{- $_ := set $env "NAZER__AUTH__JWT__AUDIENCE" $jwt.audience }}
{{- $_ := set $env "NAZER__AUTH__JWT__ROLES_CLAIM" $jwt.rolesClaim }}
{{- $_ := set $env "NAZER__AUTH__JWT__AGENCY_CLAIM" $jwt.agencyClaim }}
{{- $_ := set $env "NAZER__AUTH__JWT__UNIT_CLAIM" $jwt.unitClaim }}
{{- $_ := set $env "NAZER__AUTH__JWT__LEEWAY_SECS" ($jwt.leewaySecs | int64 | toString) }}
{{- $_ := set $env "NAZER__AUTH__JWT__JWKS_REFRESH_SECS" ($jwt.jwksRefreshSecs | int64 | toString) }}
{{- $_ := set $env "NAZER__AUTH__JWT__JWKS_MIN_REFETCH_SECS" ($jwt.jwksMinRefetchSecs | int64 | toString) }}
{{- $_ := set $env "NAZER__AUTH__JWT__MAX_LIFETIME_SECS" ($jwt.maxLifetimeSecs | int64 | toString) }}
{{- end }}
{{- with $jwt.jwksUrl }}
{{- $_ := set $env "NAZER__AUTH__JWT__JWKS_URL" . }}
{{- end }}
{{- with $v.webhooks.allowedNetworks }}
{{- $_ := set $env "NAZER__WEBHOOKS__ALLOWED_NETWORKS" (join "," .) }}
{{- end }}
{{- with $v.tracking.clientIpHeader }}
{{- $_ := set $env "NAZER__TRACKING__CLIENT_IP_HEADER" . }}
{{- end }}
{{- with $v.telemetry.otlpEndpoint }}
{{- $_ := set $env "NAZER__TELEMETRY__OTLP_ENDPOINT" . }}
{{- end }}
{{- if not (kindIs "invalid" $v.telemetry.samplingRatio) }}
{{- $_ := set $env "NAZER__TELEMETRY__SAMPLING_RATIO" ($v.telemetry.samplingRatio | toString) }}
{{- end }}
{{- if not (kindIs "invalid" $v.telemetry.exportTimeoutMs) }}
{{- $_ := set $env "NAZER__TELEMETRY__EXPORT_TIMEOUT_MS" ($v.telemetry.exportTimeoutMs | int64 | toString) }}
{{- end }}
{{- range $key, $value := $v.extraConfig }}
{{- $_ := set $env $key (toString $value) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/* Secrets. */}}

{{/* Name of the chart's Secret (values given inline). */}}
{{- define "nazer.secretName" -}}
{{- include "nazer.fullname" . }}
{{- end }}

{{/* Name of the migration hook's own Secret: the chart's Secret does not exist yet when the
pre-install hook runs. */}}
{{- define "nazer.migrationSecretName" -}}
{{- printf "%s-migrate" (include "nazer.fullname" .) }}
{{- end }}

{{/* The four secret settings: where each comes from. A list of
{name, env, value, existingSecret, existingSecretKey, key (in the chart's Secret)}. */}}
{{- define "nazer.secretSources" -}}
{{- $v := .Values }}
- name: database
  env: NAZER__DATABASE__URL
  value: {{ $v.database.url | quote }}
  existingSecret: {{ $v.database.existingSecret | quote }}
  existingSecretKey: {{ $v.database.existingSecretKey | quote }}
  key: database-url
- name: broker
  env: NAZER__BROKER__URL
  value: {{ $v.broker.url | quote }}
  existingSecret: {{ $v.broker.existingSecret | quote }}
  existingSecretKey: {{ $v.broker.existingSecretKey | quote }}
  key: broker-url
- name: reporterKeys
  env: NAZER__PRIVACY__REPORTER_KEYS
  value: {{ $v.privacy.reporterKeys | quote }}
  existingSecret: {{ $v.privacy.existingSecret | quote }}
  existingSecretKey: {{ $v.privacy.existingSecretKey | quote }}
  key: reporter-keys
- name: searchKey
  env: NAZER__PRIVACY__SEARCH_KEY
  value: {{ $v.privacy.search.key | quote }}
  existingSecret: {{ $v.privacy.search.existingSecret | quote }}
  existingSecretKey: {{ $v.privacy.search.existingSecretKey | quote }}
  key: search-key
- name: bootstrapApiKey
  env: NAZER__AUTH__BOOTSTRAP_API_KEY
  value: {{ $v.auth.bootstrap.apiKey | quote }}
  existingSecret: {{ $v.auth.bootstrap.existingSecret | quote }}
  existingSecretKey: {{ $v.auth.bootstrap.existingSecretKey | quote }}
  key: bootstrap-api-key
{{- end }}

{{/* Which secret settings each workload gets: the URLs everywhere, sign-in where requests are
authenticated, the reporter keys (which also seal webhook secrets), the search key and the
bootstrap key only where they are used. */}}
{{- define "nazer.secretsFor" -}}
{{- if eq . "migrate" -}}
[database, broker, reporterKeys, searchKey]
{{- else if eq . "intake" -}}
[database, broker, reporterKeys, searchKey, bootstrapApiKey]
{{- else if or (eq . "notification") (eq . "violation-referral") -}}
[database, broker, reporterKeys]
{{- else -}}
[database, broker]
{{- end }}
{{- end }}

{{/* env entries for one workload's secrets: (dict "root" $ "workload" "intake" "secretName" name).
An existingSecret wins over a value; a setting with neither is left out. */}}
{{- define "nazer.secretEnv" -}}
{{- $wanted := include "nazer.secretsFor" .workload | fromYamlArray }}
{{- $secretName := .secretName }}
{{- range $source := include "nazer.secretSources" .root | fromYamlArray }}
{{- if has $source.name $wanted }}
{{- if $source.existingSecret }}
- name: {{ $source.env }}
  valueFrom:
    secretKeyRef:
      name: {{ $source.existingSecret }}
      key: {{ $source.existingSecretKey }}
{{- else if $source.value }}
- name: {{ $source.env }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $source.key }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* data of a Secret holding the inline values of the given settings (a list of names). */}}
{{- define "nazer.secretData" -}}
{{- $wanted := .names }}
{{- range $source := include "nazer.secretSources" .root | fromYamlArray }}
{{- if and (has $source.name $wanted) $source.value (not $source.existingSecret) }}
{{ $source.key }}: {{ $source.value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Checks what the schema cannot express, with messages that say what to set. */}}
{{- define "nazer.validate" -}}
{{- $v := .Values }}
{{- if not (or $v.database.url $v.database.existingSecret) }}
{{- fail "nazer: the PostgreSQL URL is required: set database.url (postgres://user:password@host:5432/db) or database.existingSecret and database.existingSecretKey (see helm/nazer/README.md)" }}
{{- end }}
{{- if not (or $v.broker.url $v.broker.existingSecret) }}
{{- fail "nazer: the RabbitMQ URL is required: set broker.url (amqp://user:password@host:5672/%2f) or broker.existingSecret and broker.existingSecretKey (see helm/nazer/README.md)" }}
{{- end }}
{{- if not (or $v.privacy.reporterKeys $v.privacy.existingSecret) }}
{{- fail "nazer: the reporter keys are required with PostgreSQL: set privacy.reporterKeys (k1:$(openssl rand -hex 32)) or privacy.existingSecret and privacy.existingSecretKey (see helm/nazer/README.md)" }}
{{- end }}
{{- if not (or $v.privacy.search.key $v.privacy.search.existingSecret) }}
{{- fail "nazer: the search key is required with PostgreSQL: set privacy.search.key ($(openssl rand -hex 32)) or privacy.search.existingSecret and privacy.search.existingSecretKey (see helm/nazer/README.md)" }}
{{- end }}
{{- $jwt := $v.auth.jwt }}
{{- if and $jwt.jwksUrl (not (and $jwt.issuer $jwt.audience)) }}
{{- fail "nazer: JWT sign-in needs auth.jwt.issuer and auth.jwt.audience (the iss and aud every token carries)" }}
{{- end }}
{{- $grace := int64 $v.http.shutdownGraceSecs }}
{{- if ge (int64 $v.http.shutdownDelaySecs) $grace }}
{{- fail (printf "nazer: http.shutdownDelaySecs (%d) must be below http.shutdownGraceSecs (%d), which counts it" (int64 $v.http.shutdownDelaySecs) $grace) }}
{{- end }}
{{- $sleep := int64 $v.preStopSleepSeconds }}
{{- if not (kindIs "invalid" $v.terminationGracePeriodSeconds) }}
{{- if le (int64 $v.terminationGracePeriodSeconds) (add $grace $sleep) }}
{{- fail (printf "nazer: terminationGracePeriodSeconds (%d) must exceed http.shutdownGraceSecs + preStopSleepSeconds (%d): Kubernetes would kill the processes before they drain" (int64 $v.terminationGracePeriodSeconds) (add $grace $sleep)) }}
{{- end }}
{{- end }}
{{- range $name, $svc := $v.services }}
{{- if and $svc.enabled $svc.hpa.enabled (lt (int64 $svc.hpa.maxReplicas) (int64 $svc.hpa.minReplicas)) }}
{{- fail (printf "nazer: services.%s.hpa.maxReplicas is below minReplicas" $name) }}
{{- end }}
{{- if and $svc.enabled $svc.keda.enabled (lt (int64 $svc.keda.maxReplicaCount) (int64 $svc.keda.minReplicaCount)) }}
{{- fail (printf "nazer: services.%s.keda.maxReplicaCount is below minReplicaCount" $name) }}
{{- end }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: as set, or the drain time plus five seconds. */}}
{{- define "nazer.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (int64 .Values.http.shutdownGraceSecs) (int64 .Values.preStopSleepSeconds) 5 }}
{{- else }}
{{- int64 .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The pod-template annotations that roll pods when the chart's settings or Secret change. */}}
{{- define "nazer.checksums" -}}
checksum/config: {{ include "nazer.configEnv" . | sha256sum }}
checksum/secret: {{ include "nazer.secretData" (dict "root" . "names" (list "database" "broker" "reporterKeys" "searchKey" "bootstrapApiKey")) | sha256sum }}
{{- end }}

{{/* NetworkPolicy peers of every public address: all of IPv4 and IPv6 except loopback,
link-local, private, shared (CGNAT), unique-local, multicast, unspecified, documentation and
reserved ranges, and IPv6's IPv4-mapped and -compatible forms. */}}
{{- define "nazer.publicPeers" -}}
- ipBlock:
    cidr: 0.0.0.0/0
    except: [0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.0.0.0/24, 192.0.2.0/24, 192.168.0.0/16, 198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24, 224.0.0.0/4, 240.0.0.0/4]
- ipBlock:
    cidr: ::/0
    except: ["::/96", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"]
{{- end }}

{{/* One NetworkPolicy egress rule: TCP (and UDP with udp) on the given ports, to the given peers
(any when none). No ports, no rule: a rule without ports would open every port. */}}
{{- define "nazer.egressRule" -}}
{{- if .ports }}
- ports:
    {{- range $port := .ports }}
    {{- if $.udp }}
    - port: {{ $port }}
      protocol: UDP
    {{- end }}
    - port: {{ $port }}
      protocol: TCP
    {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
