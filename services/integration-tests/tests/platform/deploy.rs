//! What deploys Patient Flow outside the Helm chart: the NATS cluster
//! configuration the official `nats` chart's values yield
//! (`deploy/nats/nats-cluster.conf`, three real nats-server processes with
//! the users `scripts/start` renders), those values themselves, and the
//! Redis values for the Bitnami chart (a primary and two replicas run with
//! the configuration, flags and probes they give it), the chart's production
//! values putting the users' Secrets where those values mount them, and the
//! systemd units of a one-VM install (`deploy/systemd/`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::stream::{Config, StorageType};
use pf_integration_tests::rendered_access;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Server processes (nats-server, redis-server), killed when dropped.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `nats-server --version` is 2.10 or newer (knows `sync_interval`).
fn knows_sync_interval() -> bool {
    let output = Command::new("nats-server")
        .arg("--version")
        .output()
        .expect("nats-server is installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().trim_start_matches("nats-server: v");
    let mut parts = version.split('.').filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_cluster_configuration_runs_three_servers_that_replicate_streams() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let mut conf = std::fs::read_to_string(repo().join("deploy/nats/nats-cluster.conf"))
        .expect("deploy/nats/nats-cluster.conf");
    assert!(conf.contains("sync_interval: always"));
    if !knows_sync_interval() {
        // Debian bookworm's nats-server is 2.9, which has no sync_interval
        // (2.10+); production runs 2.11+ (deploy/nats/values.yaml).
        eprintln!("nats-server < 2.10: running the cluster configuration without sync_interval");
        conf = conf
            .lines()
            .filter(|line| !line.contains("sync_interval"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    std::fs::write(dir.path().join("nats-cluster.conf"), conf).expect("write the configuration");
    let rendered = rendered_access::from_start_script(&dir.path().join("var"));
    std::fs::write(
        dir.path().join("authorization.conf"),
        &rendered.nats_authorization,
    )
    .expect("write the users");

    let client: Vec<u16> = (0..3).map(|_| pf_test_support::free_port()).collect();
    let routes: Vec<u16> = (0..3).map(|_| pf_test_support::free_port()).collect();
    let mut servers = Servers(Vec::new());
    for i in 0..3 {
        let mut command = Command::new("nats-server");
        command
            .arg("-c")
            .arg(dir.path().join("nats-cluster.conf"))
            .env("SERVER_NAME", format!("nats-{i}"))
            .env("PF_NATS_PORT", client[i].to_string())
            .env(
                "PF_NATS_HTTP_PORT",
                pf_test_support::free_port().to_string(),
            )
            .env("PF_NATS_CLUSTER_PORT", routes[i].to_string())
            .env("PF_NATS_STORE_DIR", dir.path().join(format!("store-{i}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (n, port) in routes.iter().enumerate() {
            command.env(
                format!("PF_NATS_ROUTE_{}", n + 1),
                format!("nats://127.0.0.1:{port}"),
            );
        }
        servers.0.push(command.spawn().expect("start nats-server"));
    }

    let operator = &rendered.nats_users["operator"];
    let connect = |port: u16, user: &str, password: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.to_owned(), password.to_owned())
            .connect(format!("nats://127.0.0.1:{port}"))
    };
    // The servers elect a JetStream leader among themselves: retry until a
    // replicated stream can be made.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (nats, stream) = loop {
        for child in &mut servers.0 {
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "a nats-server refused deploy/nats/nats-cluster.conf"
            );
        }
        if let Ok(nats) = connect(client[0], "operator", &operator.password).await {
            let jetstream = async_nats::jetstream::new(nats.clone());
            let made = jetstream
                .create_stream(Config {
                    name: "PF_CLUSTER_CHECK".to_owned(),
                    subjects: vec!["pf.cluster-check.>".to_owned()],
                    num_replicas: 3,
                    storage: StorageType::File,
                    ..Default::default()
                })
                .await;
            if let Ok(stream) = made {
                break (nats, stream);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the three servers never formed a JetStream cluster"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let jetstream = async_nats::jetstream::new(nats);
    jetstream
        .publish("pf.cluster-check.one", "x".into())
        .await
        .expect("publish")
        .await
        .expect("the cluster acknowledges");
    let mut stream = stream;
    let info = stream.info().await.expect("stream info");
    let cluster = info.cluster.clone().expect("a clustered stream");
    assert_eq!(cluster.name.as_deref(), Some("patient-flow"));
    assert!(cluster.leader.is_some());
    assert_eq!(
        cluster.replicas.len(),
        2,
        "a leader and two replicas: {cluster:?}"
    );
    assert_eq!(info.state.messages, 1);
    // Every server lets the services' users in (authorization.conf is included).
    for (i, port) in client.iter().enumerate() {
        let gateway = &rendered.nats_users["gateway"];
        connect(*port, "gateway", &gateway.password)
            .await
            .unwrap_or_else(|err| panic!("the gateway user cannot sign in to nats-{i}: {err}"));
        assert!(
            connect(*port, "gateway", "wrong-password").await.is_err(),
            "nats-{i} let a wrong password in"
        );
    }
}

/// The values file as JSON (PyYAML reads it).
fn yaml_file(path: &str) -> Value {
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo().join(path))
        .output()
        .expect("python3 with PyYAML");
    assert!(
        output.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn the_nats_values_ask_the_official_chart_for_what_the_configuration_runs() {
    let values = yaml_file("deploy/nats/values.yaml");
    let config = &values["config"];
    assert_eq!(config["cluster"]["enabled"], true);
    assert_eq!(config["cluster"]["replicas"], 3);
    assert_eq!(config["jetstream"]["enabled"], true);
    assert_eq!(config["jetstream"]["fileStore"]["enabled"], true);
    assert_eq!(config["jetstream"]["memoryStore"]["enabled"], false);
    assert_eq!(config["jetstream"]["merge"]["sync_interval"], "always");
    let include = config["merge"]["$include"]
        .as_str()
        .expect("an $include of the users");
    assert!(include.ends_with("/authorization.conf"), "{include}");
    let secret = values["podTemplate"]["patch"][0]["value"]["secret"]["secretName"]
        .as_str()
        .expect("the users' Secret is mounted");
    assert!(
        secret.ends_with("-patient-flow-nats-authorization"),
        "{secret}"
    );

    let conf = std::fs::read_to_string(repo().join("deploy/nats/nats-cluster.conf"))
        .expect("deploy/nats/nats-cluster.conf");
    for line in [
        "sync_interval: always",
        "name: patient-flow",
        "max_memory_store: 0",
        "include ./authorization.conf",
    ] {
        assert!(conf.contains(line), "nats-cluster.conf lacks `{line}`");
    }
    assert_eq!(
        config["cluster"]["name"], "patient-flow",
        "the values and the configuration name the cluster alike"
    );
    let routes = conf.matches("$PF_NATS_ROUTE_").count();
    assert_eq!(routes, 3, "one route per replica");
    let size = config["jetstream"]["fileStore"]["pvc"]["size"]
        .as_str()
        .expect("a volume size");
    let gib = size.trim_end_matches("Gi");
    assert!(
        conf.contains(&format!("max_file_store: {gib}GB")),
        "max_file_store is not the volume's {size}"
    );
}

#[test]
fn the_systemd_units_verify_and_start_every_service_scripts_start_runs() {
    let units = repo().join("deploy/systemd");
    let target = std::fs::read_to_string(units.join("patient-flow.target")).expect("the target");
    // Every service scripts/start supervises with its own user has an instance in the target.
    let start = std::fs::read_to_string(repo().join("scripts/start")).expect("scripts/start");
    let mut services = Vec::new();
    for line in start.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("supervise ")
            && let Some((_, user)) = rest.split_once(" as_service ")
        {
            services.push(
                user.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert!(services.len() >= 9, "scripts/start supervises {services:?}");
    for service in &services {
        assert!(
            target.contains(&format!("patient-flow@{service}.service")),
            "patient-flow.target does not start {service}"
        );
    }
    // systemd's own check. The binaries are not installed here, and systemd
    // before 254 does not know the back-off keys (it restarts every RestartSec).
    let scratch = tempfile::tempdir().expect("a scratch folder");
    for entry in std::fs::read_dir(&units).expect("deploy/systemd") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), scratch.path().join(entry.file_name())).expect("copy a unit");
    }
    let mut command = Command::new("systemd-analyze");
    command.args(["verify", "--man=no"]);
    for unit in [
        "patient-flow.target",
        "patient-flow-nats.service",
        "patient-flow-redis.service",
        "patient-flow-streams.service",
        "patient-flow@gateway.service",
    ] {
        command.arg(scratch.path().join(unit));
    }
    let output = command
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test installs it)");
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    let problems: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter(|line| {
            !(line.contains("Unknown key 'RestartSteps'")
                || line.contains("Unknown key 'RestartMaxDelaySec'")
                || (line.contains("is not executable")
                    && (line.contains("/opt/patient-flow/bin/")
                        || line.contains("/usr/sbin/nats-server"))))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "systemd-analyze verify:\n{}",
        problems.join("\n")
    );
}

/// `redis-cli` on a loopback port as a user (or as nobody); its trimmed
/// stdout, or its failure.
fn redis_cli(port: u16, user: Option<(&str, &str)>, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("redis-cli");
    command.arg("-p").arg(port.to_string());
    if let Some((name, password)) = user {
        command
            .args(["--user", name, "--no-auth-warning"])
            .env("REDISCLI_AUTH", password);
    }
    let output = command
        .args(args)
        .output()
        .map_err(|err| format!("cannot run redis-cli: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && !stdout.starts_with("NOAUTH") && !stdout.starts_with("ERR") {
        Ok(stdout)
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Waits (at most a minute) for `check` to pass; the last failure if not.
fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match check() {
            Ok(()) => return,
            Err(err) if Instant::now() > deadline => panic!("{what}: {err}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn the_redis_values_run_a_primary_and_replicas_with_the_rendered_users() {
    let values = yaml_file("deploy/redis/values.yaml");
    assert_eq!(values["architecture"], "replication");
    let replicas = values["replica"]["replicaCount"]
        .as_u64()
        .expect("replica.replicaCount");
    assert!(replicas >= 2, "{replicas} replicas");
    let dir = tempfile::tempdir().expect("a scratch folder");
    let rendered = rendered_access::from_start_script(&dir.path().join("var"));

    // The ACL file, where the values mount Patient Flow's ACL Secret.
    let common = values["commonConfiguration"]
        .as_str()
        .expect("commonConfiguration");
    let aclfile = common
        .lines()
        .find_map(|line| line.trim().strip_prefix("aclfile "))
        .expect("commonConfiguration loads an aclfile");
    let mounted = values["master"]["extraVolumeMounts"]
        .as_array()
        .expect("master.extraVolumeMounts")
        .iter()
        .any(|mount| {
            mount["mountPath"]
                .as_str()
                .is_some_and(|path| aclfile == format!("{path}/users.acl"))
        });
    assert!(mounted, "{aclfile} is not where the ACL Secret is mounted");
    let acl = dir.path().join("users.acl");
    std::fs::write(&acl, &rendered.redis_acl).expect("write the ACL file");
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        common.replace(aclfile, &acl.display().to_string()) + "\n",
    )
    .expect("write redis.conf");

    // The chart's password (auth.existingSecretPasswordKey of the credentials
    // Secret, which holds each user's password under its name), as the file
    // the chart mounts when auth.usePasswordFiles is set.
    let auth = &values["auth"];
    let password_file = dir.path().join("redis-password");
    if auth["enabled"] == true {
        assert_eq!(auth["existingSecret"], "patient-flow-redis");
        let key = auth["existingSecretPasswordKey"]
            .as_str()
            .expect("auth.existingSecretPasswordKey");
        let user = rendered
            .redis_users
            .get(key)
            .unwrap_or_else(|| panic!("the password of {key}, who is no Redis user"));
        std::fs::write(&password_file, &user.password).expect("write the password file");
    }

    // The chart's start scripts (start-master.sh and start-replica.sh,
    // architecture replication without Sentinel), each extra flag quoted as
    // the chart quotes it.
    let script = |role: &str| {
        let mut script = String::from(
            r#"[[ -f $REDIS_PASSWORD_FILE ]] && export REDIS_PASSWORD="$(< "${REDIS_PASSWORD_FILE}")"
ARGS=("--port" "${REDIS_PORT}")
"#,
        );
        if role == "replica" {
            script
                .push_str("ARGS+=(\"--slaveof\" \"127.0.0.1\" \"${REDIS_MASTER_PORT_NUMBER}\")\n");
        }
        if auth["enabled"] == true {
            script.push_str(
                "ARGS+=(\"--requirepass\" \"${REDIS_PASSWORD}\")\nARGS+=(\"--masterauth\" \"${REDIS_PASSWORD}\")\n",
            );
        } else {
            script.push_str("ARGS+=(\"--protected-mode\" \"no\")\n");
        }
        script.push_str("ARGS+=(\"--include\" \"${PF_REDIS_CONF}\")\n");
        for flag in values[role]["extraFlags"].as_array().into_iter().flatten() {
            script.push_str(&format!(
                "ARGS+=({:?})\n",
                flag.as_str().unwrap_or_default()
            ));
        }
        script.push_str("exec redis-server \"${ARGS[@]}\"\n");
        script
    };
    let ports: Vec<u16> = (0..=replicas)
        .map(|_| pf_test_support::free_port())
        .collect();
    let mut servers = Servers(Vec::new());
    for (i, port) in ports.iter().enumerate() {
        let role = if i == 0 { "master" } else { "replica" };
        let data = dir.path().join(format!("data-{i}"));
        std::fs::create_dir_all(&data).expect("a data folder");
        let child = Command::new("bash")
            .arg("-c")
            .arg(script(role))
            .current_dir(&data)
            .env("REDIS_PORT", port.to_string())
            .env("REDIS_MASTER_PORT_NUMBER", ports[0].to_string())
            .env("REDIS_PASSWORD_FILE", &password_file)
            .env("PF_REDIS_CONF", &conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        servers.0.push(child);
    }

    // The probes pass on every server: the values' own, or the chart's
    // default (a PING as `default`, with the chart's password if any).
    let probe = |role: &str| -> Vec<String> {
        let custom = &values[role]["customLivenessProbe"]["exec"]["command"];
        match custom.as_array() {
            Some(command) => command
                .iter()
                .map(|part| part.as_str().unwrap_or_default().to_owned())
                .collect(),
            None => vec![
                "sh".to_owned(),
                "-c".to_owned(),
                r#"[ -f "$REDIS_PASSWORD_FILE" ] && export REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"; redis-cli -p "$REDIS_PORT" ping | grep -qx PONG"#.to_owned(),
            ],
        }
    };
    for (i, port) in ports.iter().enumerate() {
        let role = if i == 0 { "master" } else { "replica" };
        let readiness = &values[role]["customReadinessProbe"];
        assert_eq!(
            readiness, &values[role]["customLivenessProbe"],
            "{role}: readiness and liveness differ"
        );
        let command = probe(role);
        eventually(&format!("the {role} probe on server {i}"), || {
            for child in &mut servers.0 {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("a redis-server stopped: {status}"));
                }
            }
            let output = Command::new(&command[0])
                .args(&command[1..])
                .env("REDIS_PORT", port.to_string())
                .env("REDIS_PASSWORD_FILE", &password_file)
                .output()
                .map_err(|err| err.to_string())?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{command:?} failed: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        });
    }

    // The projection writes the live state on the primary; every replica
    // copies it (they sign in to the primary as the operator), and the
    // gateway reads it there.
    let projection = &rendered.redis_users["projection"];
    redis_cli(
        ports[0],
        Some(("projection", &projection.password)),
        &["SET", "pf:deploy-check", "copied"],
    )
    .expect("the projection writes on the primary");
    let gateway = &rendered.redis_users["gateway"];
    for (i, port) in ports.iter().enumerate().skip(1) {
        eventually(&format!("replica {i} copies the primary"), || {
            let value = redis_cli(
                *port,
                Some(("gateway", &gateway.password)),
                &["GET", "pf:deploy-check"],
            )?;
            if value == "copied" {
                Ok(())
            } else {
                Err(format!("replica {i} has {value:?}"))
            }
        });
        // `default` stays off, whatever --requirepass said.
        let anonymous = redis_cli(*port, None, &["GET", "pf:deploy-check"]);
        assert!(
            anonymous.is_err(),
            "replica {i} answers without a user: {anonymous:?}"
        );
    }
}

/// `helm template pf helm/patient-flow -n pf <args>` as JSON objects.
fn chart_objects(args: &[&str]) -> Vec<Value> {
    let output = Command::new(rendered_access::helm())
        .args(["template", "pf", "helm/patient-flow", "--namespace", "pf"])
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run helm (set PF_HELM; scripts/test installs one)");
    assert!(
        output.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = tempfile::tempdir().expect("a scratch folder");
    let manifests = dir.path().join("manifests.yaml");
    std::fs::write(&manifests, &output.stdout).expect("write the manifests");
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(&manifests)
        .output()
        .expect("python3 with PyYAML");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// The Secret of that name, in whichever namespace the chart puts it.
fn secret<'a>(objects: &'a [Value], name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the chart renders no Secret {name}"))
}

#[test]
fn the_production_chart_puts_the_users_where_the_nats_and_redis_values_mount_them() {
    let objects = chart_objects(&["-f", "helm/patient-flow/ci/production-values.yaml"]);
    let production = yaml_file("helm/patient-flow/ci/production-values.yaml");
    // The namespace of a `<name>.<namespace>.svc...` address.
    let namespace_of = |host: &Value| -> String {
        host.as_str()
            .and_then(|h| h.split('.').nth(1))
            .unwrap_or_else(|| panic!("not a service address: {host}"))
            .to_owned()
    };

    // NATS: the Secret the values mount, in the namespace the chart's
    // services reach NATS in, with the file the values include.
    let nats = yaml_file("deploy/nats/values.yaml");
    let name = nats["podTemplate"]["patch"][0]["value"]["secret"]["secretName"]
        .as_str()
        .expect("the users' Secret");
    let users = secret(&objects, name);
    assert_eq!(
        users["metadata"]["namespace"].as_str().unwrap_or_default(),
        namespace_of(&production["nats"]["host"]),
        "{name} is not where the NATS servers run (natsAuthorization.namespace)"
    );
    let include = nats["config"]["merge"]["$include"]
        .as_str()
        .expect("the include");
    let file = include.rsplit('/').next().unwrap_or_default();
    assert!(
        users["stringData"][file].is_string(),
        "{name} has no key {file}"
    );
    let mount = nats["container"]["patch"][0]["value"]["mountPath"]
        .as_str()
        .expect("the users' mount");
    assert_eq!(
        format!("{mount}/{file}"),
        format!("/etc/nats-config/{}", include.trim_start_matches("./")),
        "the include does not name the mounted file (the chart's nats.conf is in /etc/nats-config)"
    );

    // Redis: likewise for the ACL Secret and the aclfile.
    let redis = yaml_file("deploy/redis/values.yaml");
    let name = redis["master"]["extraVolumes"][0]["secret"]["secretName"]
        .as_str()
        .expect("the ACL Secret");
    let acl = secret(&objects, name);
    assert_eq!(
        acl["metadata"]["namespace"].as_str().unwrap_or_default(),
        namespace_of(&production["redis"]["host"]),
        "{name} is not where the Redis servers run (redisAcl.namespace)"
    );
    assert!(
        acl["stringData"]["users.acl"].is_string(),
        "{name} has no key users.acl"
    );
}
