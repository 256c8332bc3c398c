# Writes the Redis ACL file with one user per service (sourced by
# scripts/start). The live state (pf:*) is written only by the projection
# and read by the gateway, pressure and the discharges service; discharge
# records and their notices (pf-patient:*) are written only by the
# projection and read only by the discharges service; sign-in state
# (pf-auth:*) is shared by the services that check sessions; the care-homes
# service keeps its idempotency keys under pf-care:*. No one but the
# operator may run admin or dangerous commands, and the default user is off.
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

# write_redis_acl FILE
write_redis_acl() {
  local common="-@all +@connection +ping +@read -@dangerous"
  {
    echo "user default off"
    echo "user projection on >$(redis_password projection) ~pf:* ~pf-patient:* ~pf-check-* $common +@write +@keyspace +@stream +@scripting -script|flush -script|kill +scan +type"
    echo "user gateway on >$(redis_password gateway) %R~pf:* ~pf-auth:* $common +@scripting -script|flush -script|kill +getex +del +exists"
    echo "user hospital-beds on >$(redis_password hospital-beds) ~pf-auth:* $common +getex +set +del +exists +expire +sadd"
    # Sessions as hospital-beds; idempotency keys: SET NX PX (claim), GET, SETEX (answer), DEL, EXPIRE.
    echo "user care-homes on >$(redis_password care-homes) ~pf-auth:* ~pf-care:* $common +getex +set +setex +del +exists +expire +sadd"
    # Reads the live state (care homes, discharges, GEOSEARCH: all read
    # commands, no scripts); sessions as hospital-beds.
    # Reads the live state to compute OPEL levels (snapshot script, change log).
    echo "user pressure on >$(redis_password pressure) %R~pf:* $common +@scripting -script|flush -script|kill"
    echo "user discharges on >$(redis_password discharges) %R~pf:* %R~pf-patient:* ~pf-auth:* $common +getex +set +del +exists +expire +sadd"
    echo "user identity on >$(redis_password identity) ~pf-auth:* $common +@write +@keyspace +getex +getdel"
    echo "user operator on >$(redis_password operator) ~* &* +@all"
  } > "$1"
  chmod 600 "$1"
}
