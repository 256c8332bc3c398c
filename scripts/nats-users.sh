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

# write_nats_config FILE PORT STORE_DIR
write_nats_config() {
  cat > "$1" <<CONF
# Written by scripts/start. One user per service; deny by default.
listen: 127.0.0.1:$2
jetstream { store_dir: "$3" }
authorization {
  users: [
    { user: "hospital-beds", password: "$(nats_password hospital-beds)", permissions: {
        publish: { allow: ["pf.beds.>", "pf.audit.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.*", "\$JS.API.STREAM.CREATE.*", "\$JS.API.STREAM.UPDATE.PF_AUDIT",
          "\$JS.API.STREAM.MSG.GET.PF_BEDS"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "projection", password: "$(nats_password projection)", permissions: {
        publish: { allow: ["pf.deadletter.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.*", "\$JS.API.STREAM.CREATE.*",
          "\$JS.API.CONSUMER.*.PF_BEDS", "\$JS.API.CONSUMER.*.PF_BEDS.>",
          "\$JS.API.CONSUMER.DURABLE.CREATE.PF_BEDS.>", "\$JS.API.CONSUMER.MSG.NEXT.PF_BEDS.>",
          "\$JS.ACK.PF_BEDS.>",
          "\$JS.API.CONSUMER.*.PF_CARE_HOMES", "\$JS.API.CONSUMER.*.PF_CARE_HOMES.>",
          "\$JS.API.CONSUMER.DURABLE.CREATE.PF_CARE_HOMES.>", "\$JS.API.CONSUMER.MSG.NEXT.PF_CARE_HOMES.>",
          "\$JS.ACK.PF_CARE_HOMES.>",
          "\$JS.API.CONSUMER.*.PF_DISCHARGES", "\$JS.API.CONSUMER.*.PF_DISCHARGES.>",
          "\$JS.API.CONSUMER.DURABLE.CREATE.PF_DISCHARGES.>", "\$JS.API.CONSUMER.MSG.NEXT.PF_DISCHARGES.>",
          "\$JS.ACK.PF_DISCHARGES.>", "\$JS.FC.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "care-homes", password: "$(nats_password care-homes)", permissions: {
        publish: { allow: ["pf.care-homes.>", "pf.audit.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.*", "\$JS.API.STREAM.CREATE.*", "\$JS.API.STREAM.UPDATE.PF_AUDIT",
          "\$JS.API.STREAM.MSG.GET.PF_CARE_HOMES"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "discharges", password: "$(nats_password discharges)", permissions: {
        publish: { allow: ["pf.discharges.>", "pf.care-homes.>", "pf.audit.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.*", "\$JS.API.STREAM.CREATE.*", "\$JS.API.STREAM.UPDATE.PF_AUDIT",
          "\$JS.API.STREAM.MSG.GET.PF_DISCHARGES", "\$JS.API.STREAM.MSG.GET.PF_CARE_HOMES"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "gateway", password: "$(nats_password gateway)", permissions: {
        publish: { allow: ["pf.audit.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.PF_AUDIT", "\$JS.API.STREAM.CREATE.PF_AUDIT", "\$JS.API.STREAM.UPDATE.PF_AUDIT",
          "\$JS.API.STREAM.INFO.PF_SYSTEM", "\$JS.API.STREAM.INFO.PF_ALERTS",
          "\$JS.API.CONSUMER.*.PF_SYSTEM", "\$JS.API.CONSUMER.*.PF_SYSTEM.>", "\$JS.API.CONSUMER.MSG.NEXT.PF_SYSTEM.>",
          "\$JS.API.CONSUMER.*.PF_ALERTS", "\$JS.API.CONSUMER.*.PF_ALERTS.>", "\$JS.API.CONSUMER.MSG.NEXT.PF_ALERTS.>",
          "\$JS.FC.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "pressure", password: "$(nats_password pressure)", permissions: {
        publish: { allow: ["pf.system.>", "pf.alerts.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.*", "\$JS.API.STREAM.CREATE.*", "\$JS.API.STREAM.MSG.GET.PF_SYSTEM"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "identity", password: "$(nats_password identity)", permissions: {
        publish: { allow: ["pf.audit.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES",
          "\$JS.API.STREAM.INFO.PF_AUDIT", "\$JS.API.STREAM.CREATE.PF_AUDIT", "\$JS.API.STREAM.UPDATE.PF_AUDIT",
          "\$JS.API.CONSUMER.*.PF_AUDIT", "\$JS.API.CONSUMER.*.PF_AUDIT.>",
          "\$JS.API.CONSUMER.MSG.NEXT.PF_AUDIT.>", "\$JS.FC.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "loadtest", password: "$(nats_password loadtest)", permissions: {
        publish: { allow: ["pf.beds.LOADTEST.>", "\$JS.API.INFO", "\$JS.API.STREAM.NAMES", "\$JS.API.STREAM.INFO.PF_BEDS"] }
        subscribe: { allow: ["_INBOX.>"] } } }
    { user: "operator", password: "$(nats_password operator)" }
  ]
}
CONF
  chmod 600 "$1"
}
