#!/usr/bin/env python3
"""Checks helm/patient-flow without Helm or a cluster.

Not a substitute for `helm lint` and `helm template` (run those where Helm is
installed); it catches what can be caught by reading:

- Chart.yaml, values.yaml and ci/*.yaml parse as YAML;
- every `.Values.x.y` a template uses exists in values.yaml;
- every `$svc.<field>` the shared workload template reads exists in every
  service's section;
- template actions are balanced ({{ }} pairs; if/range/with/define vs end);
- the NATS users' publish/subscribe allow-lists equal scripts/nats-users.sh,
  and every user has a password source in the template;
- the Redis ACL rules equal scripts/redis-users.sh (with the default prefixes);
- every service scripts/start runs has a Deployment in the chart, on the
  same port, connecting to NATS and Redis as the same users, with a
  NetworkPolicy, a PodDisruptionBudget when it runs more than one replica,
  and a place in the NATS and Redis servers' client NetworkPolicy;
- every `config` setting in values.yaml is read by its service's code, with
  the code's default where that default is a literal.

Usage: python3 helm/check-chart.py   (needs python3-yaml)
"""

import pathlib
import re
import sys

import yaml

HELM = pathlib.Path(__file__).resolve().parent
CHART = HELM / "patient-flow"
REPO = HELM.parent
SERVICES_DIR = REPO / "services"


def workload_templates():
    """Template file -> (component, values section) of each `patient-flow.workload` it renders."""
    found = {}
    for template in sorted((CHART / "templates").glob("*.yaml")):
        text = template.read_text()
        section = re.search(r"\$svc := \.Values\.([A-Za-z0-9_]+)", text)
        for call in re.finditer(r'include "patient-flow\.workload" \(dict (.*)\) \}\}', text):
            component = re.search(r'"component" "([^"]+)"', call.group(1))
            if section and component and '"svc" $svc' in call.group(1):
                found[template.name] = (component.group(1), section.group(1))
    return found


# Template file -> (component, its service's section of values.yaml: $svc in that file).
WORKLOADS = workload_templates()
FILES = {name: section for name, (_, section) in WORKLOADS.items()}
SERVICES = sorted(set(FILES.values()))

failures = []


def fail(message):
    failures.append(message)


def load(path):
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        fail(f"{path.relative_to(REPO)}: not YAML: {err}")
        return None


def has_path(values, path):
    node = values
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_yaml_files():
    chart = load(CHART / "Chart.yaml")
    if chart is not None:
        for key in ("apiVersion", "name", "version", "appVersion"):
            if key not in chart:
                fail(f"Chart.yaml: no {key}")
        if chart.get("apiVersion") != "v2":
            fail("Chart.yaml: apiVersion must be v2 (Helm 3)")
    values = load(CHART / "values.yaml")
    for extra in sorted((CHART / "ci").glob("*.yaml")):
        load(extra)
    return values or {}


def check_values_references(values):
    for template in sorted((CHART / "templates").glob("*")):
        text = template.read_text()
        for match in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            path = match.group(1).strip(".").split(".")
            if not has_path(values, path):
                fail(f"{template.name}: .Values.{'.'.join(path)} is not in values.yaml")
        for match in re.finditer(r"\$svc\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)", text):
            path = match.group(1).split(".")
            own = FILES.get(template.name)
            users = SERVICES if template.name == "_helpers.tpl" else ([own] if own else [])
            for service in users:
                if not has_path(values.get(service, {}), path):
                    fail(f"{template.name}: $svc.{'.'.join(path)} is not in values.yaml {service}")


def check_balance():
    opener = re.compile(r"^-?\s*(if|range|with|define|block)\b")
    for template in sorted((CHART / "templates").glob("*")):
        text = template.read_text()
        if text.count("{{") != text.count("}}"):
            fail(f"{template.name}: {text.count('{{')} '{{{{' but {text.count('}}')} '}}}}'")
            continue
        depth = 0
        for action in re.findall(r"\{\{(.*?)\}\}", text, flags=re.S):
            body = action.strip()
            if body.startswith("-"):
                body = body[1:].strip()
            if body.startswith("/*"):
                continue
            if opener.match(body):
                depth += 1
            elif re.match(r"^end\b", body):
                depth -= 1
                if depth < 0:
                    fail(f"{template.name}: `end` without an opening action")
                    break
        if depth > 0:
            fail(f"{template.name}: {depth} action(s) not closed by `end`")


def nats_users(text):
    """User -> the permissions variable it names (None: full access), from a NATS users list."""
    users = {}
    for line in text.splitlines():
        user = re.search(r'\{ user: "([^"]+)"', line)
        if user:
            variable = re.search(r"permissions: \\?\$(\w+)", line)
            users[user.group(1)] = variable.group(1) if variable else None
    return users


def check_nats_users():
    """Both renderers read files/nats-permissions.conf and give each user the same block.

    What each block allows, and that the two rendered files agree, is the access
    table's (services/integration-tests/tests/platform/access_table.rs, with a real helm).
    """
    script = (REPO / "scripts" / "nats-users.sh").read_text()
    template = (CHART / "templates" / "nats-authorization.yaml").read_text()
    shared = (CHART / "files" / "nats-permissions.conf").read_text()
    if "helm/patient-flow/files/nats-permissions.conf" not in script:
        fail("scripts/nats-users.sh does not read files/nats-permissions.conf")
    if '.Files.Get "files/nats-permissions.conf"' not in template:
        fail("nats-authorization.yaml does not include files/nats-permissions.conf")
    expected, actual = nats_users(script), nats_users(template)
    if not expected:
        fail("scripts/nats-users.sh: no users found (format changed?)")
    defined = set(re.findall(r"^(PF_\w+) = \{", shared, re.M))
    for user, variable in expected.items():
        if variable and variable not in defined:
            fail(f"scripts/nats-users.sh: user {user} names ${variable}, not in files/nats-permissions.conf")
        if user not in actual:
            fail(f"nats-authorization.yaml: no user {user} (scripts/nats-users.sh has it)")
        elif actual[user] != variable:
            fail(f"nats-authorization.yaml: user {user} has ${actual[user]}, scripts/nats-users.sh ${variable}")
    for user in actual:
        if user not in expected:
            fail(f"nats-authorization.yaml: user {user} is not in scripts/nats-users.sh")


def check_redis_users(values):
    """Both renderers read files/redis-acl.rules, with the same prefixes by default."""
    script = (REPO / "scripts" / "redis-users.sh").read_text()
    template = (CHART / "templates" / "redis-acl.yaml").read_text()
    if "helm/patient-flow/files/redis-acl.rules" not in script:
        fail("scripts/redis-users.sh does not read files/redis-acl.rules")
    if '.Files.Lines "files/redis-acl.rules"' not in template:
        fail("redis-acl.yaml does not read files/redis-acl.rules")
    redis = values.get("redis", {})
    for placeholder, key in (("live", "livePrefix"), ("patient", "patientPrefix"), ("signIn", "signInPrefix"),
                             ("careHomes", "careHomesPrefix")):
        fill = re.search(r'rules//\\\{' + placeholder + r'\\\}/([^}]*)\}', script)
        if not fill:
            fail(f"scripts/redis-users.sh does not fill {{{placeholder}}}")
        elif fill.group(1) != redis.get(key):
            fail(f"scripts/redis-users.sh fills {{{placeholder}}} with {fill.group(1)!r}, values.yaml redis.{key} is {redis.get(key)!r}")


def start_services():
    """What scripts/start runs: service -> (NATS/Redis user or None, default HTTP port or None)."""
    script = (REPO / "scripts" / "start").read_text().replace("\\\n", " ")
    ports = dict(re.findall(r'^([A-Z_]+)="\$\{PF_[A-Z_]+:-(\d+)\}"', script, re.M))
    ready = {name: int(ports[var]) for var, name in re.findall(r'^wait_ready "\$([A-Z_]+)" (\S+)', script, re.M)
             if var in ports}
    services = {}
    for line in script.splitlines():
        if "cargo build" in line:
            continue
        for binary in re.findall(r"target/release/pf-([a-z-]+)", line):
            user = re.match(r"\s*(?:supervise \S+ )?as_service (\S+) ", line)
            services[binary] = (user.group(1) if user else None, ready.get(binary))
    if not services:
        fail("scripts/start: no services found (format changed?)")
    return services


def template_users(text, helper):
    return re.findall(r'include "patient-flow\.' + helper + r'" \(dict "root" \. "user" "([^"]+)"\)', text)


def check_services_of_start(values):
    """Every service scripts/start runs is deployed by the chart the same way."""
    templates = CHART / "templates"
    deployed = {component: (name, section) for name, (component, section) in WORKLOADS.items()}
    policies = (templates / "networkpolicy.yaml").read_text()
    budgets = (templates / "pdb.yaml").read_text()
    nats_clients = re.search(r"\$natsClients := list ([^}]*)\}\}", policies)
    redis_clients = re.search(r"\$redisClients := list ([^}]*)\}\}", policies)
    nats_clients = re.findall(r'"([^"]+)"', nats_clients.group(1)) if nats_clients else []
    redis_clients = re.findall(r'"([^"]+)"', redis_clients.group(1)) if redis_clients else []
    for service, (user, port) in sorted(start_services().items()):
        if service == "streams":
            # A Job (templates/streams-job.yaml), not a Deployment.
            if "patient-flow.natsEnv\" (dict \"root\" . \"user\" \"streams\")" not in (templates / "streams-job.yaml").read_text():
                fail("streams-job.yaml: pf-streams does not sign in to NATS as streams")
            continue
        if service not in deployed:
            fail(f"no Deployment for {service} (scripts/start runs it; templates/*.yaml render none)")
            continue
        name, section = deployed[service]
        svc = values.get(section, {})
        text = (templates / name).read_text()
        if port is not None and svc.get("port") != port:
            fail(f"values.yaml {section}.port is {svc.get('port')}, scripts/start serves {service} on {port}")
        for helper, kind, clients in (("natsEnv", "NATS", nats_clients), ("redisEnv", "Redis", redis_clients)):
            users = template_users(text, helper)
            if users != ([user] if user else []):
                fail(f"{name}: {kind} user(s) {users}, scripts/start runs {service} as {user or 'no user'}")
            if users and service not in clients:
                fail(f"networkpolicy.yaml: {service} is not among the {kind} servers' clients")
        if port is not None and not re.search(r'"component" "' + re.escape(service) + r'" "svc" \.Values\.' + section + r"\b", policies):
            fail(f"networkpolicy.yaml: no NetworkPolicy for {service}")
        replicas = svc.get("replicas")
        if isinstance(replicas, int) and replicas > 1 and f'"{service}" .Values.{section} ' not in budgets + " ":
            fail(f"pdb.yaml: no PodDisruptionBudget for {service} ({section}.replicas is {replicas})")
    nats = (templates / "nats-authorization.yaml").read_text()
    passwords = re.search(r"range \$user := list ([^}]*)\}\}", nats)
    passwords = re.findall(r'"([^"]+)"', passwords.group(1)) if passwords else []
    for user in nats_users((REPO / "scripts" / "nats-users.sh").read_text()):
        if user not in passwords:
            fail(f"nats-authorization.yaml: no password is read for user {user}")


def code_default(text, name):
    """The literal default of `env_or("NAME", default)` / `in_range("NAME", default, ..)`, or None."""
    found = re.search(r'\b(?:env_or|in_range|within)\(\s*"' + re.escape(name) + r'"\s*,\s*', text)
    if not found:
        return None
    depth, end = 0, found.end()
    while end < len(text):
        char = text[end]
        if char in "([{":
            depth += 1
        elif char in ")]}" and depth:
            depth -= 1
        elif char in ",)" and not depth:
            break
        end += 1
    expr = text[found.end():end].strip()
    wrapped = re.fullmatch(r"PathBuf::from\((.*)\)", expr)
    if wrapped:
        expr = wrapped.group(1).strip()
    string = re.fullmatch(r'"([^"\\]*)"(?:\.to_owned\(\)|\.to_string\(\)|\.into\(\))?', expr)
    if string:
        return string.group(1)
    product = 1.0
    for factor in expr.replace("_", "").split("*"):
        number = re.fullmatch(r"\s*(\d+(?:\.\d+)?)(?:[iuf](?:8|16|32|64|128|size))?\s*", factor)
        if not number:
            return None
        product *= float(number.group(1))
    return product


def check_config_defaults(values):
    """Each service's `config` settings are read by its code, with the code's literal defaults."""
    libs = sorted((SERVICES_DIR / "libs").glob("*/src/**/*.rs"))
    for name, (component, section) in sorted(WORKLOADS.items()):
        own = sorted((SERVICES_DIR / component / "src").glob("**/*.rs"))
        if not own:
            fail(f"{name}: no services/{component}/src for component {component}")
            continue
        for key, value in (values.get(section, {}).get("config") or {}).items():
            readers = [f for f in own if f'"{key}"' in f.read_text()] or \
                      [f for f in libs if f'"{key}"' in f.read_text()]
            if not readers:
                fail(f"values.yaml {section}.config.{key}: not read by services/{component} nor services/libs")
                continue
            if value is None or str(value) == "":
                continue
            for reader in readers:
                default = code_default(reader.read_text(), key)
                if default is None:
                    continue
                if isinstance(default, float):
                    try:
                        same = float(value) == default
                    except ValueError:
                        same = False
                else:
                    same = str(value) == default
                if not same:
                    fail(f"values.yaml {section}.config.{key} is {value!r}, the code's default is "
                         f"{default:g} ({reader.relative_to(REPO)})" if isinstance(default, float) else
                         f"values.yaml {section}.config.{key} is {value!r}, the code's default is "
                         f"{default!r} ({reader.relative_to(REPO)})")
                break


def main():
    values = check_yaml_files()
    check_values_references(values)
    check_balance()
    check_nats_users()
    check_redis_users(values)
    check_services_of_start(values)
    check_config_defaults(values)
    for message in failures:
        print(f"FAIL {message}")
    print(f"chart check: {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
