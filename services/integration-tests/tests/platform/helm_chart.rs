//! The Helm chart (`helm/patient-flow`) deploys what `scripts/start` runs:
//! `helm/check-chart.py` compares the chart with the scripts (services,
//! ports, NATS and Redis users and permissions, settings and their defaults)
//! and checks its templates. Running it here keeps the chart from falling
//! behind the services unnoticed.
//!
//! Needs `python3` with PyYAML (Debian: `python3-yaml`); no servers.

use std::path::Path;

use pf_integration_tests::rendered_access::helm;
use serde_json::Value;
use std::process::Command;

#[test]
fn the_chart_matches_the_services_scripts_start_runs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("python3")
        .arg("helm/check-chart.py")
        .current_dir(&repo)
        .output()
        .unwrap_or_else(|err| panic!("cannot run python3 helm/check-chart.py: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if stderr.contains("No module named 'yaml'") {
        "\n(the check needs PyYAML: apt-get install python3-yaml)"
    } else {
        ""
    };
    assert!(
        output.status.success(),
        "python3 helm/check-chart.py failed ({}):\n{stdout}{stderr}{hint}",
        output.status
    );
    assert!(
        stdout.contains("chart check: 0 problem(s)"),
        "python3 helm/check-chart.py exited 0 without saying it found no problem:\n{stdout}{stderr}"
    );
}

// ---------------------------------------------------------------------------
// The chart rendered and checked with real tools: `helm lint --strict`,
// `helm template` for every values file in helm/patient-flow/ci/, and the
// objects validated offline against the Kubernetes schemas (PyPI
// `kubernetes-validate`, installed by scripts/lib.sh: PF_KUBERNETES_VALIDATE
// names its folder).
// ---------------------------------------------------------------------------

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> std::path::PathBuf {
    repo().join("helm/patient-flow")
}

/// Runs a command in the repository; its stdout, or its status and output on failure.
fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .current_dir(repo())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{stdout}{stderr}",
            output.status
        ))
    }
}

/// `helm template pf helm/patient-flow <args>`.
fn template(args: &[&str]) -> Result<String, String> {
    run(Command::new(helm())
        .args(["template", "pf", "helm/patient-flow"])
        .args(args))
}

fn must(result: Result<String, String>) -> String {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// The values files CI renders the chart with.
fn ci_values_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(chart().join("ci"))
        .expect("helm/patient-flow/ci")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| format!("helm/patient-flow/ci/{name}"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "helm/patient-flow/ci holds no values files"
    );
    files
}

/// The rendered manifests as JSON objects (PyYAML reads them: the chart
/// check needs it anyway).
fn objects(yaml: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (with PyYAML) reads the rendered manifests");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write the manifests to python3");
    let output = child.wait_with_output().expect("python3 finishes");
    assert!(
        output.status.success(),
        "the rendered manifests are not YAML:\n{}\n{yaml}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from python3")
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("?")
}

/// Where scripts/lib.sh installed `kubernetes-validate` (PF_KUBERNETES_VALIDATE),
/// else `.tools/python`.
fn kubernetes_validate_dir() -> std::path::PathBuf {
    std::env::var_os("PF_KUBERNETES_VALIDATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/python"))
}

#[test]
fn every_ci_values_file_passes_helm_lint_strict() {
    for values in ci_values_files() {
        let out = must(run(Command::new(helm()).args([
            "lint",
            "--strict",
            "helm/patient-flow",
            "-f",
            &values,
        ])));
        assert!(
            out.contains("0 chart(s) failed"),
            "helm lint --strict -f {values}:\n{out}"
        );
    }
}

#[test]
fn every_ci_values_file_renders_objects_the_kubernetes_schemas_accept() {
    let dir = kubernetes_validate_dir();
    assert!(
        dir.join("kubernetes_validate").is_dir(),
        "kubernetes-validate is not installed in {} (scripts/test installs it: \
         pip install --target .tools/python kubernetes-validate, or set PF_KUBERNETES_VALIDATE)",
        dir.display()
    );
    let scratch = tempfile::tempdir().expect("a scratch folder");
    for values in ci_values_files() {
        // The monitoring kinds are rendered where the cluster has them.
        let yaml = must(template(&[
            "-f",
            &values,
            "--api-versions",
            "monitoring.coreos.com/v1/PrometheusRule",
            "--api-versions",
            "monitoring.coreos.com/v1/ServiceMonitor",
        ]));
        assert!(
            !yaml.contains(": null"),
            "{values} renders a null field:\n{yaml}"
        );
        let file = scratch.path().join("rendered.yaml");
        std::fs::write(&file, &yaml).expect("write the rendered manifests");
        // The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas.
        for version in ["1.25.0", "1.37.0"] {
            let out = run(Command::new("python3")
                .args([
                    "-m",
                    "kubernetes_validate",
                    "--strict",
                    "--quiet",
                    "-k",
                    version,
                ])
                .arg(&file)
                .env("PYTHONPATH", &dir));
            assert!(
                out.is_ok(),
                "{values}: objects Kubernetes {version} refuses:\n{}",
                out.unwrap_err()
            );
        }
    }
}

#[test]
fn kubernetes_validate_refuses_what_a_cluster_would() {
    // The check above cannot pass vacuously: an invalid Deployment is refused.
    let dir = kubernetes_validate_dir();
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let file = scratch.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: abc\n  \
         selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    \
         spec: {containers: [{name: x, image: x}]}\n",
    )
    .expect("write");
    let out = run(Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .arg(&file)
        .env("PYTHONPATH", &dir));
    assert!(out.is_err(), "kubernetes-validate accepted replicas: abc");
}

/// ingress-nginx ≥ 1.12 refuses an Exact or Prefix path with anything but
/// letters, digits, `/`, `_` and `-` (strict-validate-path-type).
#[test]
fn ingress_paths_beyond_letters_digits_and_slashes_are_implementation_specific() {
    for values in ci_values_files() {
        let objects = objects(&must(template(&["-f", &values])));
        let ingress = of_kind(&objects, "Ingress");
        assert_eq!(ingress.len(), 1, "{values}: one Ingress");
        let paths = ingress[0]["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .expect("paths");
        assert!(paths.iter().any(|p| p["path"] == "/.well-known"));
        for path in paths {
            let text = path["path"].as_str().expect("a path");
            let plain = text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
            if !plain {
                assert_eq!(
                    path["pathType"], "ImplementationSpecific",
                    "{values}: ingress-nginx refuses {text} with pathType {}",
                    path["pathType"]
                );
            }
        }
    }
}

#[test]
fn an_ingress_with_every_service_disabled_renders_no_null_paths() {
    let yaml = must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set",
        "gateway.enabled=false,identity.enabled=false,careHomes.enabled=false,discharges.enabled=false,fhir.enabled=false",
    ]));
    assert!(!yaml.contains("paths: null"), "{yaml}");
    for ingress in of_kind(&objects(&yaml), "Ingress") {
        assert!(
            ingress["spec"]["rules"][0]["http"]["paths"].is_array(),
            "an Ingress with no paths: {ingress}"
        );
    }
}

fn container<'a>(objects: &'a [Value], kind: &str, component: &str) -> &'a Value {
    let object = objects
        .iter()
        .find(|o| {
            o["kind"] == kind && o["metadata"]["labels"]["app.kubernetes.io/component"] == component
        })
        .unwrap_or_else(|| panic!("no {kind} for {component}"));
    &object["spec"]["template"]["spec"]["containers"][0]
}

fn env_values(container: &Value, name: &str) -> Vec<Value> {
    container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter(|e| e["name"] == name)
        .cloned()
        .collect()
}

/// Server-side apply (Helm 4's default) refuses two env entries of one name.
#[test]
fn a_setting_overridden_through_env_replaces_the_one_of_the_same_name() {
    let objects = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set-json",
        r#"gateway.env=[{"name":"PF_WS_MAX_CLIENTS","value":"10"},{"name":"RUST_LOG","value":"debug"},{"name":"PF_EXTRA","value":"x"}]"#,
    ])));
    for deployment in of_kind(&objects, "Deployment") {
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .expect("env");
        let mut names: Vec<&str> = env.iter().filter_map(|e| e["name"].as_str()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            count,
            "{}: duplicate env names",
            name_of(deployment)
        );
    }
    let gateway = container(&objects, "Deployment", "gateway");
    assert_eq!(env_values(gateway, "PF_WS_MAX_CLIENTS")[0]["value"], "10");
    assert_eq!(env_values(gateway, "RUST_LOG")[0]["value"], "debug");
    assert_eq!(env_values(gateway, "PF_EXTRA")[0]["value"], "x");
    // $(PF_REDIS_PASSWORD) is still defined before the URL that uses it.
    let names: Vec<&str> = gateway["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    let at = |n: &str| names.iter().position(|x| *x == n).expect(n);
    assert!(at("PF_REDIS_PASSWORD") < at("PF_REDIS_URL"));
}

#[test]
fn the_values_schema_refuses_unknown_keys_and_wrong_types() {
    let base = ["-f", "helm/patient-flow/ci/production-values.yaml"];
    for (set, says) in [
        ("gatway.replicas=4", "gatway"),
        ("gateway.replicas=abc", "replicas"),
        ("gateway.replicaz=3", "replicaz"),
        ("mode=staging", "mode"),
        ("ingress.scheme=ftp", "scheme"),
        ("gateway.port=0", "port"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--set", set]);
        let err = template(&args).expect_err(&format!("--set {set} was accepted"));
        assert!(
            err.contains(says) && err.contains("schema"),
            "--set {set}: the error does not name {says}:\n{err}"
        );
    }
    // What the chart documents stays accepted.
    must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set",
        "gateway.replicas=4,identity.trustProxy=true,gateway.env[0].name=X,gateway.env[0].value=y",
    ]));
}

/// NATS accepts bcrypt hashes in place of passwords: the rendered
/// authorization holds no password in the clear.
#[test]
fn nats_passwords_are_rendered_as_bcrypt_hashes() {
    let yaml = must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set",
        "natsAuthorization.loadtestUser=true",
        "--show-only",
        "templates/nats-authorization.yaml",
    ]));
    let mut users = 0;
    for line in yaml.lines().filter(|l| l.contains("{ user: ")) {
        users += 1;
        let password = line
            .split("password: \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no quoted password: {line}"));
        let bcrypt = password.len() == 60
            && (password.starts_with("$2a$") || password.starts_with("$2b$"))
            && password[4..6].chars().all(|c| c.is_ascii_digit());
        assert!(bcrypt, "not a bcrypt hash: {line}");
    }
    assert!(users >= 10, "{yaml}");
}

#[test]
fn every_pod_carries_checksums_of_the_secrets_and_config_maps_it_reads() {
    let objects = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
    ])));
    let mut pods = 0;
    for object in objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "Job")
    {
        pods += 1;
        let annotations = &object["spec"]["template"]["metadata"]["annotations"];
        let checksum = annotations["checksum/config"].as_str().unwrap_or_default();
        assert_eq!(
            checksum.len(),
            64,
            "{} {}: no checksum/config annotation (a rotated Secret would need a manual restart)",
            object["kind"],
            name_of(object)
        );
    }
    assert!(pods >= 8);
}

#[test]
fn no_disruption_budget_for_a_service_with_one_replica() {
    let mut cases: Vec<Vec<String>> = ci_values_files()
        .into_iter()
        .map(|values| vec!["-f".to_owned(), values])
        .collect();
    // Development runs one identity whatever identity.replicas says (the
    // demo issuer's key is per process).
    cases.push(
        [
            "-f",
            "helm/patient-flow/ci/demo-values.yaml",
            "--set",
            "identity.replicas=2",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    for args in cases {
        let values = args.join(" ");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let objects = objects(&must(template(&args)));
        for budget in of_kind(&objects, "PodDisruptionBudget") {
            let deployment = of_kind(&objects, "Deployment")
                .into_iter()
                .find(|d| name_of(d) == name_of(budget))
                .unwrap_or_else(|| panic!("{values}: a budget without its Deployment"));
            let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(2);
            assert!(
                replicas > 1,
                "{values}: PodDisruptionBudget {} for a Deployment of {replicas} replica(s): \
                 it would block every node drain",
                name_of(budget)
            );
        }
    }
}

#[test]
fn the_projection_and_pressure_run_with_a_standby_and_roll_without_a_gap() {
    for values in ci_values_files() {
        let objects = objects(&must(template(&["-f", &values])));
        for component in ["projection", "pressure"] {
            let deployment = of_kind(&objects, "Deployment")
                .into_iter()
                .find(|d| name_of(d).ends_with(&format!("-{component}")))
                .unwrap_or_else(|| panic!("{values}: no {component} Deployment"));
            // One active behind the lease, one on standby: no single point of
            // failure, and a rolling update hands over (a standby is ready).
            assert_eq!(deployment["spec"]["replicas"], 2, "{values}: {component}");
            assert_eq!(
                deployment["spec"]["strategy"]["type"], "RollingUpdate",
                "{values}: {component}"
            );
            assert!(
                of_kind(&objects, "PodDisruptionBudget")
                    .into_iter()
                    .any(|b| name_of(b) == name_of(deployment)),
                "{values}: a node drain may take both {component} pods at once"
            );
        }
    }
}

#[test]
fn notes_name_each_secret_that_could_not_be_read() {
    let out = must(run(Command::new(helm()).args([
        "install",
        "pf",
        "helm/patient-flow",
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--dry-run=client",
    ])));
    let notes = out.split("NOTES:").nth(1).expect("NOTES in the dry run");
    assert!(
        notes.contains("patient-flow-nats and patient-flow-redis could not be read"),
        "{notes}"
    );
}

#[test]
fn the_gateway_can_scale_with_a_horizontal_pod_autoscaler() {
    let off = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
    ])));
    assert!(of_kind(&off, "HorizontalPodAutoscaler").is_empty());
    let objects = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set",
        "gateway.autoscaling.enabled=true,gateway.autoscaling.minReplicas=3,gateway.autoscaling.maxReplicas=9",
    ])));
    let hpa = of_kind(&objects, "HorizontalPodAutoscaler");
    assert_eq!(hpa.len(), 1);
    assert_eq!(hpa[0]["spec"]["minReplicas"], 3);
    assert_eq!(hpa[0]["spec"]["maxReplicas"], 9);
    assert_eq!(
        hpa[0]["spec"]["scaleTargetRef"]["name"],
        "pf-patient-flow-gateway"
    );
    let gateway = of_kind(&objects, "Deployment")
        .into_iter()
        .find(|d| name_of(d) == "pf-patient-flow-gateway")
        .expect("gateway");
    assert!(
        gateway["spec"]["replicas"].is_null(),
        "the autoscaler owns the replicas; the Deployment must not reset them on upgrade"
    );
}

#[test]
fn a_switch_renders_a_service_monitor_for_every_service_with_metrics() {
    let base = [
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--api-versions",
        "monitoring.coreos.com/v1/ServiceMonitor",
    ];
    assert!(of_kind(&objects(&must(template(&base))), "ServiceMonitor").is_empty());
    let mut args = base.to_vec();
    args.extend(["--set", "metrics.serviceMonitor.enabled=true"]);
    let objects = objects(&must(template(&args)));
    let monitors = of_kind(&objects, "ServiceMonitor");
    let services = of_kind(&objects, "Service");
    assert!(!services.is_empty());
    for service in services {
        let component = &service["metadata"]["labels"]["app.kubernetes.io/component"];
        if service["spec"]["ports"][0]["name"] != "http" {
            continue;
        }
        let labels = &service["metadata"]["labels"];
        assert!(
            monitors.iter().any(|m| {
                let selects = m["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|wanted| wanted.iter().all(|(k, v)| labels[k] == *v));
                selects
                    && m["spec"]["endpoints"].as_array().is_some_and(|e| {
                        e.iter()
                            .any(|e| e["port"] == "http" && e["path"] == "/metrics")
                    })
            }),
            "no ServiceMonitor scrapes {} ({component})",
            name_of(service)
        );
    }
}

#[test]
fn replicas_spread_across_zones_and_nodes() {
    let objects = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
    ])));
    for deployment in of_kind(&objects, "Deployment") {
        if deployment["spec"]["replicas"].as_i64().unwrap_or(2) < 2 {
            continue;
        }
        let keys: Vec<&str> = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["topologyKey"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            keys.contains(&"topology.kubernetes.io/zone")
                && keys.contains(&"kubernetes.io/hostname"),
            "{}: spread over {keys:?}",
            name_of(deployment)
        );
    }
}

const RULES: &str = "helm/patient-flow/files/prometheus/patient-flow.rules.yml";

/// `promtool` (Debian's `prometheus` package; scripts/test installs it).
fn promtool(args: &[&str]) -> Result<String, String> {
    run(Command::new("promtool").args(args))
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_on_the_series_they_are_for() {
    let checked = must(promtool(&["check", "rules", RULES]));
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = must(promtool(&[
        "test",
        "rules",
        "deploy/prometheus/rules-test.yml",
    ]));
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn the_chart_renders_the_alert_rules_of_the_rule_files() {
    let file = std::fs::read_to_string(repo().join(RULES)).expect("the rule file");
    let expected = objects(&file)[0]["groups"].clone();
    let yaml = must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--api-versions",
        "monitoring.coreos.com/v1/PrometheusRule",
    ]));
    let rendered_objects = objects(&yaml);
    let rules = of_kind(&rendered_objects, "PrometheusRule");
    assert_eq!(rules.len(), 1, "one PrometheusRule");
    let rendered = &rules[0]["spec"]["groups"];
    assert_eq!(
        rendered, &expected,
        "the chart's alerts differ from {RULES}"
    );
    let alerts = |groups: &Value| -> Vec<String> {
        groups
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r["alert"].as_str().map(str::to_owned))
            .collect()
    };
    for alert in [
        "PatientFlowConsumerLag",
        "PatientFlowDeadLetters",
        "PatientFlowAuditTrailFilling",
        "PatientFlowCareHomeFiguresStale",
    ] {
        assert!(alerts(rendered).iter().any(|a| a == alert), "no {alert}");
    }
    // The rendered rules pass promtool too, with the thresholds of the values.
    let yaml = must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--api-versions",
        "monitoring.coreos.com/v1/PrometheusRule",
        "--set",
        "audit.alert.warnFraction=0.6",
    ]));
    let changed = objects(&yaml);
    let groups = &of_kind(&changed, "PrometheusRule")[0]["spec"]["groups"];
    assert!(groups.to_string().contains("> 0.6"), "{groups}");
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let file = scratch.path().join("rendered.rules.yml");
    std::fs::write(&file, serde_json::json!({ "groups": groups }).to_string()).expect("write");
    let checked = must(promtool(&["check", "rules", &file.display().to_string()]));
    assert!(checked.contains("SUCCESS"), "{checked}");
}

/// In production the discharges service refuses to start without the master
/// key that wraps every patient's data key: the chart mounts it from the
/// named Secret, and refuses to render a production install without one
/// rather than install a service that cannot start.
#[test]
fn production_mounts_the_patient_master_key_and_refuses_to_render_without_one() {
    let objects = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
    ])));
    let discharges = container(&objects, "Deployment", "discharges");
    let file = env_values(discharges, "PF_PATIENT_MASTER_KEY_FILE");
    assert_eq!(file.len(), 1, "PF_PATIENT_MASTER_KEY_FILE: {file:?}");
    let path = file[0]["value"].as_str().expect("a path");
    let mount = discharges["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| {
            m["mountPath"]
                .as_str()
                .is_some_and(|dir| path.starts_with(&format!("{dir}/")))
        })
        .unwrap_or_else(|| panic!("nothing mounted where {path} is"));
    let pod = &objects
        .iter()
        .find(|o| {
            o["kind"] == "Deployment"
                && o["metadata"]["labels"]["app.kubernetes.io/component"] == "discharges"
        })
        .expect("discharges")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    assert_eq!(volume["secret"]["secretName"], "patient-flow-patient-keys");
    assert_eq!(
        env_values(discharges, "PF_PATIENT_RETENTION_DAYS")[0]["value"],
        "30"
    );

    let refused = template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set",
        "discharges.patientMasterKey.secretName=",
    ])
    .expect_err("a production install without the master key renders");
    assert!(
        refused.contains("discharges.patientMasterKey.secretName is required in production"),
        "{refused}"
    );
}

/// Every alert threshold pressure reads (`PF_ALERT_*` in its config, the
/// webhook's URL and secret aside: those come from a Secret) is a value of
/// the chart, reaches the pressure container, is typed by the schema, and
/// is described in `docs/opel.md`, so an ICB can set each one.
#[test]
fn every_alert_threshold_pressure_reads_is_a_chart_value_and_documented() {
    let source = std::fs::read_to_string(repo().join("services/pressure/src/config.rs"))
        .expect("pressure's config.rs");
    let mut settings: Vec<String> = source
        .split("env_or(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| name.starts_with("PF_ALERT_") && !name.starts_with("PF_ALERT_WEBHOOK_"))
        .map(str::to_owned)
        .collect();
    settings.sort();
    settings.dedup();
    for wanted in [
        "PF_ALERT_ED_OVER_12H",
        "PF_ALERT_HANDOVERS_OVER_60",
        "PF_ALERT_GA_OCCUPANCY_PCT",
        "PF_ALERT_STALE_HOMES",
        "PF_ALERT_STALE_RETURN_HOURS",
    ] {
        assert!(
            settings.iter().any(|s| s == wanted),
            "pressure no longer reads {wanted}: {settings:?}"
        );
    }
    let objects = objects(&must(template(&[
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
    ])));
    let pressure = container(&objects, "Deployment", "pressure");
    let docs = std::fs::read_to_string(repo().join("docs/opel.md")).expect("docs/opel.md");
    for name in &settings {
        let values = env_values(pressure, name);
        assert_eq!(values.len(), 1, "{name} is not in pressure's env");
        assert!(
            values[0]["value"]
                .as_str()
                .is_some_and(|v| v.parse::<f64>().is_ok()),
            "{name}: {}",
            values[0]
        );
        assert!(docs.contains(name), "docs/opel.md does not describe {name}");
        let set = format!("pressure.config.{name}=many");
        let err = template(&[
            "-f",
            "helm/patient-flow/ci/production-values.yaml",
            "--set",
            &set,
        ])
        .expect_err(&format!("--set {set} was accepted"));
        assert!(
            err.contains(name.as_str()) && err.contains("schema"),
            "--set {set}: {err}"
        );
    }
}

/// The ADT feed calls the urgent-care service (ED attendances) as the same
/// identity client as the discharges service, and the urgent-care
/// service's network policy lets it in.
#[test]
fn the_adt_feed_reaches_the_urgent_care_service_as_its_identity_client() {
    let base = [
        "-f",
        "helm/patient-flow/ci/production-values.yaml",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "adtFeed.dischargeList.clientSecret.secretName=pf-adt-client",
    ];
    let rendered = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        objects(&must(template(&args)))
    };
    let names = |objects: &[Value]| -> Vec<String> {
        container(objects, "Deployment", "adt-feed")["env"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect()
    };

    let objects = rendered(&[]);
    let feed = container(&objects, "Deployment", "adt-feed");
    let url = env_values(feed, "PF_ADT_URGENT_CARE_URL");
    assert_eq!(url.len(), 1, "{feed}");
    assert!(
        url[0]["value"]
            .as_str()
            .is_some_and(|u| u.contains("urgent-care") && u.ends_with(":8091")),
        "{url:?}"
    );
    assert_eq!(env_values(feed, "PF_ADT_CLIENT_SECRET_FILE").len(), 1);
    let policy = objects
        .iter()
        .find(|o| {
            o["kind"] == "NetworkPolicy"
                && o["metadata"]["labels"]["app.kubernetes.io/component"] == "urgent-care"
        })
        .expect("the urgent-care service's network policy");
    assert!(
        policy["spec"]["ingress"][0]["from"]
            .as_array()
            .expect("from")
            .iter()
            .any(
                |peer| peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    == "adt-feed"
            ),
        "{policy}"
    );

    // Turned off: no URL; the discharge join keeps its sign-in.
    let off = rendered(&["--set", "adtFeed.edAttendances.enabled=false"]);
    assert!(!names(&off).contains(&"PF_ADT_URGENT_CARE_URL".to_owned()));
    assert!(names(&off).contains(&"PF_ADT_CLIENT_SECRET_FILE".to_owned()));
    // Without the discharges service: still signed in, for urgent care.
    let alone = rendered(&["--set", "discharges.enabled=false"]);
    assert!(!names(&alone).contains(&"PF_ADT_DISCHARGES_URL".to_owned()));
    for name in [
        "PF_ADT_URGENT_CARE_URL",
        "PF_IDENTITY_URL",
        "PF_ADT_CLIENT_ID",
        "PF_ADT_CLIENT_SECRET_FILE",
    ] {
        assert!(names(&alone).contains(&name.to_owned()), "{name}");
    }
}
