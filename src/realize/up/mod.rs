//! `up`: checks the kernel, then executes the plan stage by stage, every step of a stage at
//! once; namespaces are made by worker threads, links by netlink requests pipelined per
//! namespace. On any failure, or SIGINT/SIGTERM/SIGHUP, everything made so far is removed.
//! This file owns the order of work and the namespaces; `links` and `layer3` do the steps.

mod changes;
mod layer3;
mod links;

use super::{Error, Progress, ready};
use crate::kernel::{Netlink, netns, signals};
use crate::model::{Lab, NodeId};
use crate::plan::{NewNamespace, Op, Plan, Request, Step};
use crate::state::{IfaceState, Lock, NodeState, State};
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
    signals::watch().map_err(|e| Error::io("catching signals", e))?;
    let lock = Lock::acquire(&lab.name).map_err(|e| Error::io(format!("locking lab `{}`", lab.name), e))?;
    // On a refusal the lock stays: it is the lab's that is up, or the one a killed `up` left,
    // which `down` removes.
    ready::refuse_if_up(lab)?;
    let ready = ready::kernel_can_make(lab).and_then(|()| {
        netns::prepare_dir().map_err(|e| Error::io(format!("preparing {}", netns::NETNS_DIR), e))
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
    file: File,
    netlink: Netlink,
}

/// Interface indexes by namespace and device name, each asked at most once.
type Indexes = HashMap<(String, String), Arc<OnceCell<u32>>>;

/// Executes a plan's requests as they are. Namespaces and interface indexes are looked up
/// by name; nothing else is decided here.
pub(super) struct Realizer<'l> {
    lab: &'l Lab,
    /// The lab's namespaces made so far, by name, in the order made.
    namespaces: Vec<(String, Namespace)>,
    by_name: HashMap<String, usize>,
    /// Each interface's index, asked once: concurrent steps that need the same one (every
    /// cable into a switch needs its bridge) wait on the one request.
    indexes: Mutex<Indexes>,
}

impl<'l> Realizer<'l> {
    pub(super) fn new(lab: &'l Lab) -> Self {
        Realizer { lab, namespaces: Vec::new(), by_name: HashMap::new(), indexes: Mutex::new(HashMap::new()) }
    }

    pub(super) async fn run(&mut self, plan: &Plan, progress: &Progress) -> Result<(), Error> {
        for stage in &plan.stages {
            check_signals()?;
            progress.stage(&stage.title);
            let namespaces: Vec<&Request> = stage
                .steps
                .iter()
                .flat_map(|s| &s.requests)
                .filter(|r| matches!(r.op, Op::AddNamespace(_)))
                .collect();
            if !namespaces.is_empty() {
                self.create_namespaces(&namespaces).await?;
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

    /// Tries every request of a plan in order, whatever fails: for changing a lab back.
    pub(super) async fn run_all(&self, plan: &Plan) {
        for request in plan.stages.iter().flat_map(|s| &s.steps).flat_map(|s| &s.requests) {
            let _ = self.request(request).await;
        }
    }

    /// A namespace of the lab, made in an earlier stage.
    fn namespace(&self, name: &str) -> Result<&Namespace, Error> {
        match self.by_name.get(name) {
            Some(&at) => Ok(&self.namespaces[at].1),
            None => Err(Error::new(format!("using namespace {name}"), "the plan uses it before making it")),
        }
    }

    fn netlink(&self, ns: &str) -> Result<&Netlink, Error> {
        Ok(&self.namespace(ns)?.netlink)
    }

    /// Makes the namespaces of a stage on worker threads: each marked, its sysctls written
    /// and a netlink socket opened inside it before it is named.
    async fn create_namespaces(&mut self, requests: &[&Request]) -> Result<(), Error> {
        let made: Vec<NewNamespace> = requests
            .iter()
            .filter_map(|r| match &r.op {
                Op::AddNamespace(namespace) => Some(namespace.clone()),
                _ => None,
            })
            .collect();
        let names: Vec<String> = made.iter().map(|m| m.ns.clone()).collect();
        let rt = tokio::runtime::Handle::current();
        let lab_name = self.lab.name.clone();
        let workers_names = names.clone();
        // A sysctl the kernel refuses is told in the lab's words; the namespace stays unnamed.
        let refusals: Arc<Mutex<HashMap<usize, Error>>> = Arc::default();
        let refused = refusals.clone();
        let results = tokio::task::spawn_blocking(move || {
            netns::create_named(&lab_name, &workers_names, NAMESPACE_WORKERS, |i| {
                if signals::arrived() {
                    return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"));
                }
                set_up_namespace(&rt, &made[i]).map_err(|failure| match failure {
                    Failure::Io(e) => e,
                    Failure::Sysctl(error) => {
                        if let Ok(mut refused) = refused.lock() {
                            refused.insert(i, error);
                        }
                        std::io::Error::other("a sysctl was refused")
                    }
                })
            })
        })
        .await
        .map_err(|e| Error::new("creating namespaces", e))?;
        let mut refusals = std::mem::take(&mut *refusals.lock().unwrap_or_else(|e| e.into_inner()));
        let mut first_error = check_signals().err();
        for (i, (name, result)) in names.into_iter().zip(results).enumerate() {
            match result {
                Ok((file, netlink)) => self.add_namespace(name, file, netlink),
                Err(e) if first_error.is_none() => {
                    first_error = Some(
                        refusals
                            .remove(&i)
                            .unwrap_or_else(|| Error::io(format!("creating namespace {name}"), e)),
                    );
                }
                Err(_) => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Opens the namespaces of a lab that is up, each with a netlink socket inside it.
    pub(super) fn open_namespaces(&mut self) -> Result<(), Error> {
        let rt = tokio::runtime::Handle::current();
        for n in 0..self.lab.nodes.len() {
            if self.lab.nodes[n].joins.is_some() {
                continue;
            }
            let name = self.lab.netns_name(NodeId(n));
            let file = netns::open(&name).map_err(|e| Error::io(format!("opening namespace {name}"), e))?;
            let netlink = netns::run_in(&file, || Netlink::open_here(&rt))
                .map_err(|e| Error::io(format!("opening netlink in {name}"), e))?;
            self.add_namespace(name, file, netlink);
        }
        Ok(())
    }

    fn add_namespace(&mut self, name: String, file: File, netlink: Netlink) {
        self.by_name.insert(name.clone(), self.namespaces.len());
        self.namespaces.push((name, Namespace { file, netlink }));
    }

    /// The index of a device, asked of its namespace once and remembered.
    async fn index(&self, ns: &str, dev: &str) -> Result<u32, Error> {
        let cell = match self.indexes.lock() {
            Ok(mut cells) => cells.entry((ns.to_string(), dev.to_string())).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let index = cell.get_or_try_init(|| async {
            let link = self.netlink(ns)?.link(dev).await.map_err(|e| {
                Error::kernel(
                    format!("looking up {dev} in {ns}, which lab made earlier in this run"),
                    e,
                    |_| None,
                )
            })?;
            Ok::<_, Error>(link.index)
        });
        index.await.copied()
    }

    async fn step(&self, step: &Step) -> Result<(), Error> {
        for request in &step.requests {
            self.request(request).await?;
        }
        Ok(())
    }

    async fn request(&self, request: &Request) -> Result<(), Error> {
        let doing = &request.doing;
        match &request.op {
            Op::AddNamespace(_) => Ok(()),
            Op::AddLink(link) => self.add_link(doing, link).await,
            Op::SetUp { ns, dev } => {
                let done = self.netlink(ns)?.set_up(dev).await;
                done.map_err(|e| Error::kernel(doing, e, |_| None))
            }
            Op::Rename { ns, dev, name, up } => {
                let done = self.netlink(ns)?.rename(dev, name, *up).await;
                done.map_err(|e| Error::kernel(doing, e, |_| None))
            }
            Op::SetMaster { ns, dev, master } => {
                let (port, bridge) = (self.index(ns, dev).await?, self.index(ns, master).await?);
                let done = self.netlink(ns)?.set_master(port, bridge).await;
                done.map_err(|e| Error::kernel(format!("{doing}: adding it to its bridge"), e, |_| None))
            }
            Op::SetPortVlans { ns, dev, access, trunk, leave_default } => {
                let port = self.index(ns, dev).await?;
                let done = self.netlink(ns)?.set_port_vlans(port, *access, trunk, *leave_default).await;
                done.map_err(|e| Error::kernel(format!("{doing}: setting its VLANs"), e, |_| None))
            }
            Op::SetHairpin { ns, dev } => {
                let port = self.index(ns, dev).await?;
                let done = self.netlink(ns)?.set_hairpin(port).await;
                done.map_err(|e| Error::kernel(format!("{doing}: turning hairpin on"), e, |_| None))
            }
            Op::SetBridgeVlans { ns, dev, vlans } => {
                let bridge = self.index(ns, dev).await?;
                let done = self.netlink(ns)?.set_bridge_vlans(bridge, vlans).await;
                done.map_err(|e| Error::kernel(format!("{doing}: adding them"), e, |_| None))
            }
            Op::AppendFdb { ns, dev, dst } => self.append_fdb(doing, ns, dev, *dst).await,
            Op::WriteSysctls { ns, node, sysctls } => self.write_sysctls(ns, node, sysctls).await,
            Op::AddAddress { ns, dev, address } => self.add_address(doing, ns, dev, *address).await,
            Op::AddRoute { ns, to, via, dev } => self.add_route(doing, ns, *to, *via, dev.as_deref()).await,
            Op::InstallNat { ns, ruleset, .. } => self.install_nat(doing, ns, ruleset).await,
            Op::Impair { ns, dev, impairment } => self.impair(doing, ns, dev, impairment.as_ref()).await,
            Op::SetDown { .. }
            | Op::DelLink { .. }
            | Op::SetMode { .. }
            | Op::DelAddress { .. }
            | Op::ReplaceAddress { .. }
            | Op::DelRoute { .. }
            | Op::ReplaceRoute { .. } => self.change(request).await,
        }
    }

    /// What the kernel made: every interface's index and MAC, read back once per namespace.
    pub(super) async fn state(&self, topology: &Path, source: &str) -> Result<State, Error> {
        let lab = self.lab;
        let reads = (0..lab.nodes.len()).map(|n| async move {
            let name = lab.netns_name(NodeId(n));
            if lab.nodes[n].joins.is_some() {
                // Its namespace's links are its home node's, read once, there.
                return Ok(NodeState { name: lab.nodes[n].name.clone(), netns: name, ifaces: Vec::new() });
            }
            let links = self
                .netlink(&name)?
                .links()
                .await
                .map_err(|e| Error::kernel(format!("reading the links of {name}"), e, |_| None))?;
            let ifaces = lab.nodes[n]
                .ifaces
                .iter()
                .filter_map(|i| links.iter().find(|l| l.name == i.name))
                .map(|l| IfaceState { name: l.name.clone(), index: l.index, mac: l.mac })
                .collect();
            Ok::<_, Error>(NodeState { name: lab.nodes[n].name.clone(), netns: name, ifaces })
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
            step: None,
            live: Vec::new(),
        };
        state.save().map_err(|e| Error::io(format!("saving the state of lab `{}`", lab.name), e))?;
        Ok(state)
    }

    /// Removes every namespace made so far; the links inside go with them.
    fn roll_back(&mut self) {
        for (name, _) in self.namespaces.drain(..) {
            let _ = netns::remove_named(&name);
        }
        self.by_name.clear();
        let _ = crate::state::remove(&self.lab.name);
    }
}

/// Why a new namespace could not be set up.
enum Failure {
    Io(std::io::Error),
    Sysctl(Error),
}

/// Inside a new namespace, before it has a name: the baseline sysctls (those the kernel
/// lacks are skipped), the node's namespace-wide ones, `lo` up and marked, and the netlink
/// socket that will act in it. A failure here leaves nothing: the namespace has no name yet.
fn set_up_namespace(rt: &tokio::runtime::Handle, namespace: &NewNamespace) -> Result<Netlink, Failure> {
    for sysctl in &namespace.baseline {
        match std::fs::write(sysctl.proc_path(), &sysctl.value) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Failure::Io(e)),
            _ => {}
        }
    }
    for sysctl in &namespace.sysctls {
        if let Err(e) = std::fs::write(sysctl.proc_path(), &sysctl.value) {
            return Err(Failure::Sysctl(layer3::sysctl_error(&namespace.node, sysctl, e)));
        }
    }
    let netlink = Netlink::open_here(rt).map_err(Failure::Io)?;
    let marked = rt.block_on(netlink.mark_loopback(&namespace.mark));
    marked.map_err(|e| Failure::Io(e.into()))?;
    Ok(netlink)
}
