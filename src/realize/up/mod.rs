//! `up`: checks the kernel, then executes the plan stage by stage, every step of a stage at
//! once; namespaces are made by worker threads, links by netlink requests pipelined per
//! namespace. On any failure, or SIGINT/SIGTERM/SIGHUP, everything made so far is removed.
//! This file owns the order of work and the namespaces; `links` and `layer3` do the steps.

mod layer3;
mod links;

use super::{Error, Progress, ready};
use crate::kernel::{Netlink, marker, netns, signals};
use crate::state::{IfaceState, Lock, NodeState, State};
use crate::model::{IfaceId, Lab, NodeId, Sysctl};
use crate::plan::{self, Plan, Step};
use futures::future::join_all;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Threads that create namespaces; the kernel's netns setup scales little beyond this.
const NAMESPACE_WORKERS: usize = 4;

/// Brings a lab up and records its state; on failure nothing of it is left.
pub async fn up(
    lab: &Lab,
    plan: &Plan,
    topology: &Path,
    source: &str,
    progress: &Progress,
) -> Result<State, Error> {
    signals::watch().map_err(|e| Error::io("catching signals", &e))?;
    let lock = Lock::acquire(&lab.name).map_err(|e| Error::io(format!("locking lab `{}`", lab.name), &e))?;
    // On a refusal the lock stays: it is the lab's that is up, or the one a killed `up` left,
    // which `down` removes.
    ready::refuse_if_up(lab)?;
    let ready = ready::kernel_can_make(lab).and_then(|()| {
        netns::prepare_dir().map_err(|e| Error::io(format!("preparing {}", netns::NETNS_DIR), &e))
    });
    if let Err(unready) = ready {
        lock.remove();
        return Err(unready);
    }
    let mut realizer = Realizer::new(lab);
    let outcome = realizer.run(plan, progress).await;
    let outcome = match outcome {
        Ok(()) => realizer.state(topology, source).await,
        Err(e) => Err(e),
    };
    // A signal that came while the state was written still undoes the lab.
    let outcome = outcome.and_then(|state| check_signals().map(|()| state));
    progress.finish();
    if outcome.is_err() {
        realizer.roll_back();
        lock.remove();
    }
    outcome
}

/// The error that undoes an `up` once SIGINT, SIGTERM or SIGHUP has arrived; checked between
/// stages, before each namespace and at the end.
fn check_signals() -> Result<(), Error> {
    if signals::arrived() {
        return Err(
            Error::new("bringing the lab up", "interrupted").hint("everything made so far was removed")
        );
    }
    Ok(())
}

struct Namespace {
    name: String,
    file: File,
    netlink: Netlink,
}

struct Realizer<'l> {
    lab: &'l Lab,
    namespaces: Vec<Option<Namespace>>,
    /// Each interface's index, asked once: concurrent steps that need the same one (every
    /// cable into a switch needs its bridge) wait on the one request.
    indexes: Mutex<HashMap<IfaceId, Arc<OnceCell<u32>>>>,
}

impl<'l> Realizer<'l> {
    fn new(lab: &'l Lab) -> Self {
        Realizer {
            lab,
            namespaces: (0..lab.nodes.len()).map(|_| None).collect(),
            indexes: Mutex::new(HashMap::new()),
        }
    }

    async fn run(&mut self, plan: &Plan, progress: &Progress) -> Result<(), Error> {
        for stage in &plan.stages {
            check_signals()?;
            progress.stage(&stage.title);
            let nodes: Vec<NodeId> = stage
                .steps
                .iter()
                .filter_map(|s| match s {
                    Step::CreateNamespace { node } => Some(*node),
                    _ => None,
                })
                .collect();
            if !nodes.is_empty() {
                self.create_namespaces(&nodes).await?;
            }
            let this = &*self;
            let results = join_all(stage.steps.iter().map(|step| async move {
                let result = this.step(step).await;
                progress.advance(1);
                result
            }))
            .await;
            results.into_iter().collect::<Result<Vec<()>, Error>>()?;
        }
        check_signals()
    }

    fn namespace(&self, node: NodeId) -> &Namespace {
        self.namespaces[node.0].as_ref().expect("namespaces are made in the first stage")
    }

    async fn create_namespaces(&mut self, nodes: &[NodeId]) -> Result<(), Error> {
        let lab = self.lab;
        let names: Vec<String> = nodes.iter().map(|n| lab.netns_name(*n)).collect();
        let sysctls: Vec<(String, Vec<Sysctl>, Vec<Sysctl>)> = nodes
            .iter()
            .map(|n| {
                let own = plan::namespace_sysctls(lab, *n).into_iter().cloned().collect();
                (lab.node(*n).name.clone(), plan::baseline_sysctls(lab.node(*n).role), own)
            })
            .collect();
        let rt = tokio::runtime::Handle::current();
        let alias = marker(&lab.name);
        let lab_name = lab.name.clone();
        let names_for_workers = names.clone();
        let made = tokio::task::spawn_blocking(move || {
            netns::create_named(&lab_name, &names_for_workers, NAMESPACE_WORKERS, |i| {
                if signals::arrived() {
                    return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"));
                }
                let (node, baseline, own) = &sysctls[i];
                set_up_namespace(&rt, &alias, node, baseline, own)
            })
        })
        .await
        .map_err(|e| Error::new("creating namespaces", e))?;
        let mut first_error = check_signals().err();
        for ((node, name), result) in nodes.iter().zip(names).zip(made) {
            match result {
                Ok((file, netlink)) => self.namespaces[node.0] = Some(Namespace { name, file, netlink }),
                Err(e) if first_error.is_none() => {
                    // A sysctl that failed carries its own, fuller account.
                    let own = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>());
                    first_error = Some(match own {
                        Some(error) => Error {
                            doing: error.doing.clone(),
                            cause: error.cause.clone(),
                            hint: error.hint.clone(),
                        },
                        None => Error::io(format!("creating namespace {name}"), &e),
                    });
                }
                Err(_) => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The index of an interface, asked of its namespace once and remembered.
    async fn index(&self, iface: IfaceId) -> Result<u32, Error> {
        let cell = match self.indexes.lock() {
            Ok(mut cells) => cells.entry(iface).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let index = cell.get_or_try_init(|| async {
            let name = &self.lab.iface(iface).name;
            let link = self.namespace(iface.node).netlink.link(name).await.map_err(|e| {
                Error::kernel(
                    format!("looking up {}, which lab made earlier in this run", self.lab.iface_label(iface)),
                    &e,
                    |_| None,
                )
            })?;
            Ok::<_, Error>(link.index)
        });
        index.await.copied()
    }

    async fn step(&self, step: &Step) -> Result<(), Error> {
        match *step {
            Step::CreateNamespace { .. } => Ok(()),
            Step::CreateLink { iface } => self.create_link(iface).await,
            Step::ConfigurePort { port } => self.configure_port(port).await,
            Step::WriteSysctls { node } => self.write_sysctls(node).await,
            Step::AddAddresses { node } => self.add_addresses(node).await,
            Step::AddRoutes { node } => self.add_routes(node).await,
            Step::EnablePort { port } => {
                let name = &self.lab.iface(port).name;
                self.namespace(port.node).netlink.set_up(name).await.map_err(|e| {
                    Error::kernel(format!("bringing up port {}", self.lab.iface_label(port)), &e, |_| None)
                })
            }
        }
    }

    /// What the kernel made: every interface's index and MAC, read back once per namespace.
    async fn state(&self, topology: &Path, source: &str) -> Result<State, Error> {
        let lab = self.lab;
        let reads = (0..lab.nodes.len()).map(|n| async move {
            let ns = self.namespace(NodeId(n));
            let links = ns
                .netlink
                .links()
                .await
                .map_err(|e| Error::kernel(format!("reading the links of {}", ns.name), &e, |_| None))?;
            let ifaces = lab.nodes[n]
                .ifaces
                .iter()
                .filter_map(|i| links.iter().find(|l| l.name == i.name))
                .map(|l| IfaceState { name: l.name.clone(), index: l.index, mac: l.mac })
                .collect();
            Ok::<_, Error>(NodeState { name: lab.nodes[n].name.clone(), netns: ns.name.clone(), ifaces })
        });
        let nodes = join_all(reads).await.into_iter().collect::<Result<Vec<_>, Error>>()?;
        let created =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let topology = std::fs::canonicalize(topology).unwrap_or_else(|_| topology.to_path_buf());
        let state = State {
            lab: lab.name.clone(),
            topology,
            source: source.to_string(),
            description: lab.description.clone(),
            created,
            nodes,
        };
        state.save().map_err(|e| Error::io(format!("saving the state of lab `{}`", lab.name), &e))?;
        Ok(state)
    }

    /// Removes every namespace made so far; the links inside go with them.
    fn roll_back(&mut self) {
        for ns in self.namespaces.iter_mut().filter_map(Option::take) {
            let _ = netns::remove_named(&ns.name);
        }
        let _ = crate::state::remove(&self.lab.name);
    }
}

/// Inside a new namespace, before it has a name: the baseline sysctls (those the kernel
/// lacks are skipped), the node's namespace-wide ones, `lo` up and marked, and the netlink
/// socket that will act in it. A failure here leaves nothing: the namespace has no name yet.
fn set_up_namespace(
    rt: &tokio::runtime::Handle,
    alias: &str,
    node: &str,
    baseline: &[Sysctl],
    own: &[Sysctl],
) -> std::io::Result<Netlink> {
    for sysctl in baseline {
        match std::fs::write(sysctl.proc_path(), &sysctl.value) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for sysctl in own {
        if let Err(e) = std::fs::write(sysctl.proc_path(), &sysctl.value) {
            return Err(std::io::Error::other(layer3::sysctl_error(node, sysctl, &e)));
        }
    }
    let netlink = Netlink::open_here(rt)?;
    rt.block_on(netlink.mark_loopback(alias)).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(netlink)
}
