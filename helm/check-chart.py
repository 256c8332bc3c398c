#!/usr/bin/env python3
"""Checks helm/patient-flow without Helm or a cluster.

Not a substitute for `helm lint` and `helm template` (run those where Helm is
installed); it catches what can be caught by reading:

- Chart.yaml, values.yaml and ci/*.yaml parse as YAML;
- every `.Values.x.y` a template uses exists in values.yaml;
- every `$svc.<field>` the shared workload template reads exists in every
  service's section;
- template actions are balanced ({{ }} pairs; if/range/with/define vs end);
- the NATS users' publish/subscribe allow-lists equal scripts/nats-users.sh;
- the Redis ACL rules equal scripts/redis-users.sh (with the default prefixes).

Usage: python3 helm/check-chart.py   (needs python3-yaml)
"""

import pathlib
import re
import sys

import yaml

HELM = pathlib.Path(__file__).resolve().parent
CHART = HELM / "patient-flow"
REPO = HELM.parent
SERVICES = ["gateway", "hospitalBeds", "projection", "identity", "careHomes", "simulator"]
# Template file -> its service's section of values.yaml ($svc in that file).
FILES = {"gateway.yaml": "gateway", "hospital-beds.yaml": "hospitalBeds", "projection.yaml": "projection",
         "identity.yaml": "identity", "care-homes.yaml": "careHomes", "simulator.yaml": "simulator"}

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


def nats_permissions(text, unescape):
    """User -> (publish allow-list, subscribe allow-list) from a NATS config text."""
    users = {}
    for block in re.finditer(r'\{ user: "([^"]+)", password: [^,]+(?:,\s*permissions: \{(.*?)\} \} \})?', text, re.S):
        user, perms = block.group(1), block.group(2) or ""
        lists = {}
        for kind in ("publish", "subscribe"):
            found = re.search(kind + r": \{ allow: \[(.*?)\] \}", perms, re.S)
            items = re.findall(r'"((?:[^"\\]|\\.)*)"', found.group(1)) if found else []
            lists[kind] = [unescape(item) for item in items]
        users[user] = (lists["publish"], lists["subscribe"])
    return users


def check_nats_users():
    script = (REPO / "scripts" / "nats-users.sh").read_text()
    template = (CHART / "templates" / "nats-authorization.yaml").read_text()
    expected = nats_permissions(script, lambda s: s.replace("\\$", "$"))
    actual = nats_permissions(template, lambda s: s)
    if not expected:
        fail("scripts/nats-users.sh: no users found (format changed?)")
    for user, perms in expected.items():
        if user not in actual:
            fail(f"nats-authorization.yaml: no user {user} (scripts/nats-users.sh has it)")
        elif actual[user] != perms:
            fail(f"nats-authorization.yaml: user {user} permissions differ from scripts/nats-users.sh")
    for user in actual:
        if user not in expected:
            fail(f"nats-authorization.yaml: user {user} is not in scripts/nats-users.sh")


def check_redis_users(values):
    script = (REPO / "scripts" / "redis-users.sh").read_text()
    common = re.search(r'local common="([^"]+)"', script).group(1)
    expected = {}
    for user, rules in re.findall(r'echo "user (\S+) on >\$\(redis_password \S+\) (.*)"', script):
        expected[user] = rules.replace("$common", common).split()
    template = (CHART / "templates" / "redis-acl.yaml").read_text()
    redis = values.get("redis", {})
    actual = {}
    for user, fmt, args in re.findall(r'\(list "([^"]+)" \(printf "([^"]+)" ([^)]*)\)\)', template):
        subs = {"$live": redis.get("livePrefix"), "$auth": redis.get("signInPrefix"),
                "$care": redis.get("careHomesPrefix"), "$common": common}
        text = fmt.replace("%%", "\0")
        for arg in args.split():
            text = text.replace("%s", str(subs[arg]), 1)
        actual[user] = text.replace("\0", "%").split()
    for user, rules in re.findall(r'\(list "([^"]+)" "([^"]+)"\)', template):
        actual[user] = rules.split()
    for user, rules in expected.items():
        if user not in actual:
            fail(f"redis-acl.yaml: no user {user} (scripts/redis-users.sh has it)")
        elif actual[user] != rules:
            fail(f"redis-acl.yaml: user {user}: {' '.join(actual[user])!r} != {' '.join(rules)!r}")
    for user in actual:
        if user not in expected:
            fail(f"redis-acl.yaml: user {user} is not in scripts/redis-users.sh")


def main():
    values = check_yaml_files()
    check_values_references(values)
    check_balance()
    check_nats_users()
    check_redis_users(values)
    for message in failures:
        print(f"FAIL {message}")
    print(f"chart check: {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
