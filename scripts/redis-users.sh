# Writes the Redis ACL file with one user per service (sourced by
# scripts/start) from helm/patient-flow/files/redis-acl.rules, which says
# what each may do. The operator has full access; the default user is off.
# shellcheck shell=bash

# redis_password NAME: the service's password, made once and kept in $VAR/secrets.
redis_password() {
  local file="$VAR/secrets/redis-$1"
  if [ ! -s "$file" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '\n=/+' > "$file")
  fi
  cat "$file"
}

# redis_url NAME PORT: the URL a service connects with.
redis_url() {
  echo "redis://$1:$(redis_password "$1")@127.0.0.1:$2"
}

# The users' rules: one file, shared with the Helm chart.
REDIS_ACL_RULES="helm/patient-flow/files/redis-acl.rules"

# write_redis_acl FILE: every user of the rules file with its password, the
# prefixes filled in, and the default user off.
write_redis_acl() {
  {
    echo "user default off"
    local name rules
    while read -r name rules; do
      case "$name" in ""|\#*) continue ;; esac
      rules="${rules//\{live\}/pf:}"
      rules="${rules//\{signIn\}/pf-auth:}"
      rules="${rules//\{careHomes\}/pf-care:}"
      rules="${rules//\{patient\}/pf-patient:}"
      echo "user $name on >$(redis_password "$name") $rules"
    done < "$REDIS_ACL_RULES"
    echo "user operator on >$(redis_password operator) ~* &* +@all"
  } > "$1"
  chmod 600 "$1"
}
