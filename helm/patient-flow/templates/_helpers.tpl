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

{{/* NATS URL: the subchart's service when enabled, else externalNats.url (required). */}}
{{- define "patient-flow.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- printf "nats://%s-nats:4222" .Release.Name }}
{{- else }}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url }}
{{- end }}
{{- end }}

{{/*
Environment variables that give a service PF_NATS_URL and PF_REDIS_URL.
With the redis subchart, the password comes from its Secret and is
substituted into the URL by Kubernetes ($(VAR) expansion).
*/}}
{{- define "patient-flow.connectionEnv" -}}
- name: PF_NATS_URL
  value: {{ include "patient-flow.natsUrl" . | quote }}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.enabled }}
- name: PF_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (printf "%s-redis" .Release.Name) .Values.redis.auth.existingSecret }}
      key: redis-password
- name: PF_REDIS_URL
  value: {{ printf "redis://:$(PF_REDIS_PASSWORD)@%s-redis-master:6379" .Release.Name | quote }}
{{- else }}
- name: PF_REDIS_URL
  value: {{ printf "redis://%s-redis-master:6379" .Release.Name | quote }}
{{- end }}
{{- else if .Values.externalRedis.existingSecret }}
- name: PF_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.secretKey }}
{{- else }}
- name: PF_REDIS_URL
  value: {{ required "externalRedis.url (or externalRedis.existingSecret) is required when redis.enabled is false" .Values.externalRedis.url | quote }}
{{- end }}
{{- end }}

{{/*
A Deployment and a Service for one Patient Flow service. Call with
(dict "root" $ "component" "gateway" "svc" .Values.gateway "extraEnv" list).
*/}}
{{- define "patient-flow.workload" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $name := printf "%s-%s" (include "patient-flow.fullname" $root) .component | trunc 63 | trimSuffix "-" -}}
{{- $sel := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "patient-flow.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ $svc.replicas }}
  selector:
    matchLabels:
      {{- include "patient-flow.selectorLabels" $sel | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "patient-flow.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $svc.port | quote }}
        prometheus.io/path: /metrics
    spec:
      {{- with $root.Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      automountServiceAccountToken: false
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ printf "%s/%s:%s" $root.Values.global.image.registry $svc.image.repository (default $root.Chart.AppVersion $root.Values.global.image.tag) | quote }}
          imagePullPolicy: {{ $root.Values.global.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $svc.port }}
              protocol: TCP
          env:
            - name: {{ $svc.listenEnv }}
              value: {{ printf "0.0.0.0:%v" $svc.port | quote }}
            - name: RUST_LOG
              value: {{ $root.Values.logLevel | quote }}
            - name: PF_LOG_FORMAT
              value: {{ $root.Values.logFormat | quote }}
            - name: PF_STREAM_REPLICAS
              value: {{ $root.Values.streamReplicas | quote }}
            {{- include "patient-flow.connectionEnv" $root | nindent 12 }}
            {{- with .extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $svc.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
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
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # The root filesystem is read-only; /tmp is the only writable place.
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "patient-flow.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  type: {{ $svc.service.type }}
  selector:
    {{- include "patient-flow.selectorLabels" $sel | nindent 4 }}
  ports:
    - name: http
      port: {{ $svc.port }}
      targetPort: http
      protocol: TCP
{{- end }}
