# Writes the NATS server configuration with one user per service, each
# allowed only its own subjects (sourced by scripts/start).
# shellcheck shell=bash

# nats_password NAME: the service's password, made once and kept in $VAR/secrets.
nats_password() {
  local file="$VAR/secrets/nats-$1"
  if [ ! -s "$file" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '\n=/+' > "$file")
  fi
  cat "$file"
}

# The users' permissions: one file, shared with the Helm chart.
NATS_PERMISSIONS="helm/patient-flow/files/nats-permissions.conf"

# write_nats_config FILE PORT STORE_DIR
write_nats_config() {
  {
    cat <<CONF
# Written by scripts/start. One user per service; deny by default.
listen: 127.0.0.1:$2
jetstream { store_dir: "$3" }

CONF
    cat "$NATS_PERMISSIONS"
    cat <<CONF

authorization {
  users: [
    { user: "hospital-beds", password: "$(nats_password hospital-beds)", permissions: \$PF_HOSPITAL_BEDS }
    { user: "adt-feed", password: "$(nats_password adt-feed)", permissions: \$PF_ADT_FEED }
    { user: "projection", password: "$(nats_password projection)", permissions: \$PF_PROJECTION }
    { user: "care-homes", password: "$(nats_password care-homes)", permissions: \$PF_CARE_HOMES }
    { user: "discharges", password: "$(nats_password discharges)", permissions: \$PF_DISCHARGES }
    { user: "gateway", password: "$(nats_password gateway)", permissions: \$PF_GATEWAY }
    { user: "pressure", password: "$(nats_password pressure)", permissions: \$PF_PRESSURE }
    { user: "identity", password: "$(nats_password identity)", permissions: \$PF_IDENTITY }
    { user: "streams", password: "$(nats_password streams)", permissions: \$PF_STREAMS }
    { user: "loadtest", password: "$(nats_password loadtest)", permissions: \$PF_LOADTEST }
    { user: "fhir", password: "$(nats_password fhir)", permissions: \$PF_FHIR }
    { user: "tasks", password: "$(nats_password tasks)", permissions: \$PF_TASKS }
    { user: "urgent-care", password: "$(nats_password urgent-care)", permissions: \$PF_URGENT_CARE }
    { user: "forecast", password: "$(nats_password forecast)", permissions: \$PF_FORECAST }
    { user: "simulator-history", password: "$(nats_password simulator-history)", permissions: \$PF_SIMULATOR_HISTORY }
    { user: "operator", password: "$(nats_password operator)" }
  ]
}
CONF
  } > "$1"
  chmod 600 "$1"
}
