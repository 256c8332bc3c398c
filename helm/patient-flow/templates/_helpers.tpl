{{/*
Patient Flow chart helpers.
*/}}

{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "patient-flow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: <release>-patient-flow, or the release name if it already says so. */}}
{{- define "patient-flow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one component's objects; call with (dict "root" $ "component" "gateway"). */}}
{{- define "patient-flow.componentName" -}}
{{- printf "%s-%s" (include "patient-flow.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "patient-flow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "patient-flow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: patient-flow
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "patient-flow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "patient-flow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Public base URL of the platform: <scheme>://<ingress.host>, no trailing slash. */}}
{{- define "patient-flow.publicUrl" -}}
{{- $host := required "ingress.host is required: the one host people reach the control room, sign-in and care-home form at" .Values.ingress.host -}}
{{- printf "%s://%s" .Values.ingress.scheme ($host | trimSuffix "/") }}
{{- end }}

{{/* The same host's websocket origin: wss://<ingress.host> (ws:// when ingress.scheme is http). */}}
{{- define "patient-flow.publicWsUrl" -}}
{{- $host := required "ingress.host is required: the one host people reach the control room, sign-in and care-home form at" .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "ws" "wss" (eq .Values.ingress.scheme "http")) ($host | trimSuffix "/") }}
{{- end }}

{{/* In-cluster base URL of one component's Service; (dict "root" $ "component" "identity" "port" 8083). */}}
{{- define "patient-flow.internalUrl" -}}
{{- printf "http://%s:%v" (include "patient-flow.componentName" (dict "root" .root "component" .component)) .port }}
{{- end }}

{{/* true when mode is production (anything but development/dev). */}}
{{- define "patient-flow.production" -}}
{{- $mode := lower .Values.mode -}}
{{- if has $mode (list "production" "prod") }}true{{- else if has $mode (list "development" "dev") }}{{- else }}{{ fail (printf "mode must be development or production, not %q" .Values.mode) }}{{- end }}
{{- end }}

{{/* The token issuer every service trusts (PF_OIDC_ISSUER): the provider in
production, the in-cluster demo issuer in development (a given provider is
then trusted beside it, see patient-flow.signInEnv). */}}
{{- define "patient-flow.issuer" -}}
{{- if include "patient-flow.production" . -}}
{{- required "oidc.issuer is required in production: the exact iss of your OpenID Connect provider" .Values.oidc.issuer }}
{{- else -}}
{{- include "patient-flow.publicUrl" . }}
{{- end }}
{{- end }}

{{/* Its key set (PF_OIDC_JWKS_URL); empty means the code's default. */}}
{{- define "patient-flow.jwksUrl" -}}
{{- if and (include "patient-flow.production" .) .Values.oidc.jwksUrl -}}
{{- .Values.oidc.jwksUrl }}
{{- else if not (include "patient-flow.production" .) -}}
{{- printf "%s/.well-known/jwks.json" (include "patient-flow.internalUrl" (dict "root" . "component" "identity" "port" .Values.identity.port)) }}
{{- end }}
{{- end }}

{{/* RUST_LOG, PF_LOG_FORMAT, PF_MODE. */}}
{{- define "patient-flow.commonEnv" -}}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
- name: PF_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: PF_MODE
  value: {{ .Values.mode | quote }}
{{- end }}

{{/*
NATS connection as one user; (dict "root" $ "user" "projection").
The password is the user's key of nats.credentialsSecret, mounted as a file
by patient-flow.natsVolume.
*/}}
{{- define "patient-flow.natsEnv" -}}
- name: PF_NATS_URL
  value: {{ printf "%s://%s:%v" .root.Values.nats.scheme .root.Values.nats.host .root.Values.nats.port | quote }}
{{- if .user }}
- name: PF_NATS_USER
  value: {{ .user | quote }}
- name: PF_NATS_PASSWORD_FILE
  value: /var/run/secrets/patient-flow/nats/password
{{- end }}
{{- end }}

{{- define "patient-flow.natsVolume" -}}
- name: nats-password
  secret:
    secretName: {{ .root.Values.nats.credentialsSecret }}
    defaultMode: 0440
    items:
      - key: {{ .user }}
        path: password
{{- end }}

{{- define "patient-flow.natsMount" -}}
- name: nats-password
  mountPath: /var/run/secrets/patient-flow/nats
  readOnly: true
{{- end }}

{{/*
Redis connection as one user; (dict "root" $ "user" "gateway"). The services
read only PF_REDIS_URL, so the URL is built by Kubernetes from the password
in redis.credentialsSecret ($(VAR) expansion of an earlier variable).
*/}}
{{- define "patient-flow.redisEnv" -}}
- name: PF_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.redis.credentialsSecret }}
      key: {{ .user }}
- name: PF_REDIS_URL
  value: {{ printf "redis://%s:$(PF_REDIS_PASSWORD)@%s:%v" .user .root.Values.redis.host .root.Values.redis.port | quote }}
{{- end }}

{{/* Token verification and the sign-in store (pf-sign-in settings). */}}
{{- define "patient-flow.signInEnv" -}}
- name: PF_OIDC_ISSUER
  value: {{ include "patient-flow.issuer" . | quote }}
- name: PF_OIDC_AUDIENCE
  value: {{ .Values.oidc.audience | quote }}
{{- with include "patient-flow.jwksUrl" . }}
- name: PF_OIDC_JWKS_URL
  value: {{ . | quote }}
{{- end }}
{{- if include "patient-flow.production" . }}
{{- with .Values.oidc.claims }}
- name: PF_OIDC_CLAIMS
  value: {{ toJson . | quote }}
{{- end }}
{{- else if .Values.oidc.issuer }}
{{- /* Development: the staff provider beside the demo issuer of the machine identities. */}}
- name: PF_STAFF_ISSUER
  value: {{ .Values.oidc.issuer | quote }}
- name: PF_STAFF_AUDIENCE
  value: {{ .Values.oidc.audience | quote }}
{{- with .Values.oidc.jwksUrl }}
- name: PF_STAFF_JWKS_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.oidc.claims }}
- name: PF_STAFF_CLAIMS
  value: {{ toJson . | quote }}
{{- end }}
{{- end }}
- name: PF_SIGN_IN_PREFIX
  value: {{ .Values.redis.signInPrefix | quote }}
{{- end }}

{{/* A service's `config` map as EnvVars; empty values are left to the code's default. */}}
{{- define "patient-flow.configEnv" -}}
{{- range $name, $value := . }}
{{- if ne (toString $value) "" }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
EnvVar lists (YAML text, in order) merged by name into one: a later entry of
the same name replaces the earlier one in its place, so `<service>.env`
overrides a setting without a duplicate name (server-side apply refuses
those) and $(VAR) references keep the order they were written in.
*/}}
{{- define "patient-flow.mergeEnv" -}}
{{- $order := list -}}
{{- $byName := dict -}}
{{- range $text := . -}}
{{- range $entry := (fromYamlArray (default "[]" $text)) -}}
{{- if not (hasKey $byName $entry.name) -}}
{{- $order = append $order $entry.name -}}
{{- end -}}
{{- $_ := set $byName $entry.name $entry -}}
{{- end -}}
{{- end -}}
{{- range $name := $order }}
- {{ get $byName $name | toYaml | nindent 2 | trim }}
{{- end -}}
{{- end }}

{{/*
SHA-256 of what a pod reads from Secrets and ConfigMaps in the release
namespace (looked up at install/upgrade: `helm upgrade` after rotating a
credential rolls the pods). (dict "root" $ "env" "<yaml list>" "volumes" "<yaml list>")
*/}}
{{- define "patient-flow.checksum" -}}
{{- $root := .root -}}
{{- $secrets := list -}}
{{- $maps := list -}}
{{- range $entry := (fromYamlArray (default "[]" .env)) -}}
{{- with $entry.valueFrom -}}
{{- with .secretKeyRef }}{{ $secrets = append $secrets .name }}{{ end -}}
{{- with .configMapKeyRef }}{{ $maps = append $maps .name }}{{ end -}}
{{- end -}}
{{- end -}}
{{- range $volume := (fromYamlArray (default "[]" .volumes)) -}}
{{- with $volume.secret }}{{ $secrets = append $secrets .secretName }}{{ end -}}
{{- with $volume.configMap }}{{ $maps = append $maps .name }}{{ end -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $name := ($secrets | uniq | sortAlpha) -}}
{{- $found := lookup "v1" "Secret" $root.Release.Namespace $name -}}
{{- $_ := set $seen (printf "secret/%s" $name) (($found | default dict).data | default dict) -}}
{{- end -}}
{{- range $name := ($maps | uniq | sortAlpha) -}}
{{- $found := lookup "v1" "ConfigMap" $root.Release.Namespace $name -}}
{{- $_ := set $seen (printf "configmap/%s" $name) (($found | default dict).data | default dict) -}}
{{- end -}}
{{- toJson $seen | sha256sum -}}
{{- end }}

{{/*
A Deployment (and, with a port, a Service) for one Patient Flow service. Call with
(dict "root" $ "component" "gateway" "svc" .Values.gateway "replicas" 2 "env" "<yaml list>"
      "volumes" "<yaml list>" "mounts" "<yaml list>" "port" 8080 "strategy" "RollingUpdate")
`port` 0 means no HTTP port: no Service, probes or scrape annotations.
"autoscaled" true: a HorizontalPodAutoscaler owns the replicas (none set here).
*/}}
{{- define "patient-flow.workload" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $name := include "patient-flow.componentName" (dict "root" $root "component" .component) -}}
{{- $sel := dict "root" $root "component" .component -}}
{{- $tag := default (default $root.Chart.AppVersion $root.Values.image.tag) $svc.image.tag -}}
{{- $env := include "patient-flow.mergeEnv" (list (include "patient-flow.commonEnv" $root) .env (include "patient-flow.configEnv" $svc.config) (toYaml (default list $svc.env))) -}}
{{- $volumes := .volumes -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "patient-flow.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: {{ .strategy | default "RollingUpdate" }}
  selector:
    matchLabels:
      {{- include "patient-flow.selectorLabels" $sel | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "patient-flow.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        {{- /* Rolls the pods when a Secret or ConfigMap they read changes (at helm upgrade). */}}
        checksum/config: {{ include "patient-flow.checksum" (dict "root" $root "env" $env "volumes" $volumes) }}
        {{- if and .port $root.Values.metrics.annotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
    spec:
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- if and $root.Values.topologySpread (or .autoscaled (gt (int .replicas) 1)) }}
      {{- /* Across zones first (a zone lost keeps the others serving), then nodes. */}}
      topologySpreadConstraints:
        {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - maxSkew: 1
          topologyKey: {{ $key }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "patient-flow.selectorLabels" $sel | nindent 14 }}
        {{- end }}
      {{- end }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ printf "%s/%s:%s" $root.Values.image.registry $svc.image.repository $tag | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- if .port }}
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
          {{- end }}
          env:
            {{- $env | trim | nindent 12 }}
          {{- if .port }}
          startupProbe:
            httpGet:
              path: {{ $root.Values.probes.liveness.path }}
              port: http
            periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
            failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: {{ $root.Values.probes.liveness.path }}
              port: http
            initialDelaySeconds: {{ $root.Values.probes.liveness.initialDelaySeconds }}
            periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: {{ $root.Values.probes.readiness.path }}
              port: http
            initialDelaySeconds: {{ $root.Values.probes.readiness.initialDelaySeconds }}
            periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
          {{- end }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .mounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        # The root filesystem is read-only; /tmp is the only writable place.
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
{{- if .port }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "patient-flow.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  type: ClusterIP
  selector:
    {{- include "patient-flow.selectorLabels" $sel | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
{{- end }}
{{- end }}
