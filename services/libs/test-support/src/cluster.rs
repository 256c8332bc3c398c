//! A NATS JetStream cluster of real `nats-server` processes on loopback:
//! each node with its own client port, route port and store, routed to the
//! others, so a stream can have three replicas on one machine. A node can
//! be killed (SIGKILL) and started again on its port and store, where it
//! rejoins and catches up.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::{Process, binary, free_port, jetstream_block, wait_until_listening};

/// The cluster's name in each node's configuration.
const CLUSTER_NAME: &str = "pf-test";

/// One node of a [`NatsCluster`].
struct Node {
    name: String,
    port: u16,
    config: PathBuf,
    child: Process,
}

/// A cluster of `nats-server -js` nodes, all stopped when dropped.
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts `size` nodes (3 for R3 streams) routed to each other. The
    /// JetStream meta group needs a few seconds after this to elect its
    /// leader: stream creation fails until then, so callers retry it.
    pub fn start(size: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route)| format!("\"nats-route://127.0.0.1:{route}\""))
            .collect();
        let mut nodes = Vec::with_capacity(size);
        for (index, (port, route)) in ports.iter().enumerate() {
            let name = format!("pf-n{}", index + 1);
            let store = dir.path().join(&name);
            std::fs::create_dir_all(&store).unwrap();
            let config = dir.path().join(format!("{name}.conf"));
            std::fs::write(
                &config,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{port}\n{}\n\
                     cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                    jetstream_block(&store),
                    routes.join(", ")
                ),
            )
            .expect("cannot write a cluster node's configuration");
            nodes.push(Node {
                name,
                port: *port,
                config,
                child: Process::default(),
            });
        }
        let mut cluster = Self { nodes, _dir: dir };
        for index in 0..size {
            cluster.start_node(index);
        }
        cluster
    }

    /// Every node's URL, comma-separated: what a service's `PF_NATS_URL`
    /// holds for a cluster.
    pub fn url(&self) -> String {
        (0..self.nodes.len())
            .map(|index| self.node_url(index))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `nats://127.0.0.1:{port}` of one node.
    pub fn node_url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[index].port)
    }

    /// The `server_name` of one node (as in a stream's cluster info).
    pub fn node_name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Kills one node (SIGKILL); its store stays.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].child.stop();
    }

    /// Starts one node (again) on its port and store.
    pub fn start_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let mut child = Command::new(binary("nats-server"))
            .arg("-c")
            .arg(&node.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start nats-server");
        wait_until_listening(node.port, &mut child, "nats-server (cluster node)");
        node.child = Process(Some(child));
    }
}
