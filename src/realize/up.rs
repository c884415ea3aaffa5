//! `up`: checks the kernel, then executes the plan stage by stage, every step of a stage at
//! once; namespaces are made by worker threads, links by netlink requests pipelined per
//! namespace. On any failure, or SIGINT/SIGTERM, everything made so far is removed.

use super::netlink::{LinkSettings, Netlink};
use super::state::{IfaceState, Lock, NodeState, State};
use super::{Error, Progress, kernel, marker, netns};
use crate::model::{Destination, IfaceId, IfaceKind, Lab, NodeId, Sysctl};
use crate::plan::{self, Plan, Step};
use futures::future::join_all;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    let _lock = Lock::acquire(&lab.name).map_err(|e| Error::io(format!("locking lab `{}`", lab.name), &e))?;
    refuse_if_up(lab, topology)?;
    kernel::check(lab)?;
    netns::prepare_dir().map_err(|e| Error::io(format!("preparing {}", netns::NETNS_DIR), &e))?;
    let cancel = Cancel::on_signals();
    let mut realizer = Realizer::new(lab);
    let outcome = realizer.run(plan, &cancel, progress).await;
    let outcome = match outcome {
        Ok(()) => realizer.state(topology, source).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(state) => {
            progress.finish();
            Ok(state)
        }
        Err(error) => {
            progress.finish();
            realizer.roll_back();
            Err(error)
        }
    }
}

fn refuse_if_up(lab: &Lab, topology: &Path) -> Result<(), Error> {
    let doing = format!("bringing up lab `{}`", lab.name);
    if State::load(&lab.name).map_err(|e| Error::io(&doing, &e))?.is_some() {
        return Err(
            Error::new(doing, "it is already up").hint(format!("bring it down first: lab down {}", lab.name))
        );
    }
    let taken: Vec<String> = (0..lab.nodes.len())
        .map(|n| lab.netns_name(NodeId(n)))
        .filter(|name| netns::path_of(name).exists())
        .collect();
    if let Some(name) = taken.first() {
        return Err(Error::new(doing, format!("{} exists already", netns::path_of(name).display())).hint(format!(
            "if it is left from an earlier run of this lab, `lab down {}` removes it; otherwise rename the lab",
            topology.display()
        )));
    }
    Ok(())
}

/// Set when SIGINT or SIGTERM arrives; checked between stages and before each namespace.
#[derive(Clone)]
struct Cancel(Arc<AtomicBool>);

impl Cancel {
    fn on_signals() -> Cancel {
        let flag = Arc::new(AtomicBool::new(false));
        let set = flag.clone();
        tokio::spawn(async move {
            super::interrupted().await;
            set.store(true, Ordering::SeqCst);
        });
        Cancel(flag)
    }

    fn check(&self) -> Result<(), Error> {
        if self.0.load(Ordering::SeqCst) {
            return Err(
                Error::new("bringing the lab up", "interrupted").hint("everything made so far was removed")
            );
        }
        Ok(())
    }
}

struct Namespace {
    name: String,
    file: File,
    netlink: Netlink,
}

struct Realizer<'l> {
    lab: &'l Lab,
    namespaces: Vec<Option<Namespace>>,
    indexes: Mutex<HashMap<IfaceId, u32>>,
}

impl<'l> Realizer<'l> {
    fn new(lab: &'l Lab) -> Self {
        Realizer {
            lab,
            namespaces: (0..lab.nodes.len()).map(|_| None).collect(),
            indexes: Mutex::new(HashMap::new()),
        }
    }

    async fn run(&mut self, plan: &Plan, cancel: &Cancel, progress: &Progress) -> Result<(), Error> {
        for stage in &plan.stages {
            cancel.check()?;
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
                self.create_namespaces(&nodes, cancel).await?;
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
        cancel.check()
    }

    fn namespace(&self, node: NodeId) -> &Namespace {
        self.namespaces[node.0].as_ref().expect("namespaces are made in the first stage")
    }

    async fn create_namespaces(&mut self, nodes: &[NodeId], cancel: &Cancel) -> Result<(), Error> {
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
        let flag = cancel.0.clone();
        let names_for_workers = names.clone();
        let made = tokio::task::spawn_blocking(move || {
            netns::create_named(&names_for_workers, NAMESPACE_WORKERS, |i| {
                if flag.load(Ordering::SeqCst) {
                    return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"));
                }
                let (node, baseline, own) = &sysctls[i];
                set_up_namespace(&rt, &alias, node, baseline, own)
            })
        })
        .await
        .map_err(|e| Error::new("creating namespaces", e))?;
        let cancelled = cancel.check();
        let mut first_error = cancelled.err();
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
        if let Some(index) = self.indexes.lock().ok().and_then(|m| m.get(&iface).copied()) {
            return Ok(index);
        }
        let name = &self.lab.iface(iface).name;
        let link = self.namespace(iface.node).netlink.link(name).await.map_err(|e| {
            Error::kernel(format!("looking up {}", self.lab.iface_label(iface)), &e, |_| None)
        })?;
        if let Ok(mut m) = self.indexes.lock() {
            m.insert(iface, link.index);
        }
        Ok(link.index)
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

    /// Settings of a new link; `netns` set when it is made from another namespace's socket.
    fn settings(&self, iface: IfaceId, from: NodeId) -> LinkSettings {
        let i = self.lab.iface(iface);
        LinkSettings {
            mac: i.mac,
            mtu: i.mtu,
            up: i.up && !crate::plan::is_switch_port(self.lab, iface),
            netns: (iface.node != from).then(|| self.namespace(iface.node).file.as_raw_fd()),
            master: None,
        }
    }

    async fn create_link(&self, iface: IfaceId) -> Result<(), Error> {
        let lab = self.lab;
        let name = &lab.iface(iface).name;
        let doing = describe_creation(lab, iface);
        let result = match &lab.iface(iface).kind {
            IfaceKind::Bridge { vlan_filtering } => {
                self.namespace(iface.node)
                    .netlink
                    .add_bridge(name, *vlan_filtering, self.settings(iface, iface.node))
                    .await
            }
            IfaceKind::Veth { peer, port } => {
                let mut near = self.settings(iface, iface.node);
                if let Some(master) = port.as_ref().and_then(|p| p.master) {
                    near.master = Some(self.index(master).await?);
                }
                let far = self.settings(*peer, iface.node);
                let peer_name = &lab.iface(*peer).name;
                let made = self.namespace(iface.node).netlink.add_veth(name, near, peer_name, far).await;
                match made {
                    Ok(()) if far.up => self.namespace(peer.node).netlink.set_up(peer_name).await,
                    other => other,
                }
            }
            kind @ (IfaceKind::Vlan { parent, .. }
            | IfaceKind::Macvlan { parent, .. }
            | IfaceKind::Ipvlan { parent, .. }) => {
                let parent_index = self.index(*parent).await?;
                self.create_child(iface, kind, *parent, parent_index).await
            }
            IfaceKind::Dummy => {
                self.namespace(iface.node).netlink.add_dummy(name, self.settings(iface, iface.node)).await
            }
        };
        result.map_err(|e| Error::kernel(doing, &e, |errno| creation_hint(lab, iface, errno)))
    }

    /// A VLAN sub-interface, macvlan or ipvlan: made from its parent's namespace and put
    /// straight into its own, under `plan::temporary_name` when its name is taken there.
    async fn create_child(
        &self,
        iface: IfaceId,
        kind: &IfaceKind,
        parent: IfaceId,
        index: u32,
    ) -> Result<(), rtnetlink::Error> {
        let lab = self.lab;
        let name = &lab.iface(iface).name;
        let temporary = plan::temporary_name(lab, iface);
        let made_as = temporary.as_deref().unwrap_or(name);
        let mut settings = self.settings(iface, parent.node);
        settings.up &= temporary.is_none();
        let netlink = &self.namespace(parent.node).netlink;
        match *kind {
            IfaceKind::Vlan { id, protocol, .. } => {
                netlink.add_vlan(made_as, index, id, protocol, settings).await?
            }
            IfaceKind::Macvlan { mode, ref source_macs, .. } => {
                netlink.add_macvlan(made_as, index, mode, source_macs, settings).await?
            }
            IfaceKind::Ipvlan { mode, flag, .. } => {
                netlink.add_ipvlan(made_as, index, mode, flag, settings).await?
            }
            _ => {}
        }
        match temporary {
            Some(temporary) => {
                self.namespace(iface.node).netlink.rename(&temporary, name, lab.iface(iface).up).await
            }
            None => Ok(()),
        }
    }

    async fn configure_port(&self, port: IfaceId) -> Result<(), Error> {
        let lab = self.lab;
        let label = lab.iface_label(port);
        let Some(vlans) = lab.iface(port).kind.port() else { return Ok(()) };
        let netlink = &self.namespace(port.node).netlink;
        let index = self.index(port).await?;
        let master = match vlans.master {
            Some(m) => Some((m, self.index(m).await?)),
            None => None,
        };
        let far_end = lab.cables.iter().any(|c| c.b == port);
        if let (true, Some((_, bridge))) = (far_end, master) {
            netlink
                .set_master(index, bridge)
                .await
                .map_err(|e| Error::kernel(format!("adding {label} to its bridge"), &e, |_| None))?;
        }
        let filtering = master
            .is_some_and(|(m, _)| matches!(lab.iface(m).kind, IfaceKind::Bridge { vlan_filtering: true }));
        if filtering && vlans.has_vlans() {
            netlink
                .set_port_vlans(index, vlans.access, &vlans.trunk)
                .await
                .map_err(|e| Error::kernel(format!("setting the VLANs of port {label}"), &e, |_| None))?;
        }
        if vlans.hairpin {
            netlink
                .set_hairpin(index)
                .await
                .map_err(|e| Error::kernel(format!("turning hairpin on for port {label}"), &e, |_| None))?;
        }
        Ok(())
    }

    async fn write_sysctls(&self, node: NodeId) -> Result<(), Error> {
        let lab = self.lab;
        let sysctls: Vec<Sysctl> = plan::device_sysctls(lab, node).into_iter().cloned().collect();
        let file = self.namespace(node).file.try_clone().map_err(|e| Error::io("opening a namespace", &e))?;
        let node_name = lab.node(node).name.clone();
        tokio::task::spawn_blocking(move || {
            netns::run_in(&file, || {
                for s in &sysctls {
                    if let Err(e) = std::fs::write(s.proc_path(), &s.value) {
                        return Ok(Err(sysctl_error(&node_name, s, &e)));
                    }
                }
                Ok(Ok(()))
            })
            .unwrap_or_else(|e| Err(Error::io(format!("entering node {node_name}"), &e)))
        })
        .await
        .map_err(|e| Error::new("writing sysctls", e))?
    }

    async fn add_addresses(&self, node: NodeId) -> Result<(), Error> {
        let lab = self.lab;
        let netlink = &self.namespace(node).netlink;
        let mut requests = Vec::new();
        for (index, iface) in lab.node(node).ifaces.iter().enumerate() {
            let id = IfaceId { node, index };
            if iface.addresses.is_empty() {
                continue;
            }
            let kernel_index = self.index(id).await?;
            for address in &iface.addresses {
                let doing = format!("adding address {address} to {}", lab.iface_label(id));
                requests.push(async move {
                    netlink.add_address(kernel_index, *address).await.map_err(|e| {
                        Error::kernel(doing, &e, |errno| {
                            (errno == libc::EADDRINUSE).then(|| {
                                "another ipvlan child of the same parent already has this address".to_string()
                            })
                        })
                    })
                });
            }
        }
        join_all(requests).await.into_iter().collect()
    }

    async fn add_routes(&self, node: NodeId) -> Result<(), Error> {
        let lab = self.lab;
        let netlink = &self.namespace(node).netlink;
        for route in &lab.node(node).routes {
            let dev = match route.dev {
                Some(index) => Some(self.index(IfaceId { node, index }).await?),
                None => None,
            };
            let (to, v6) = match route.to {
                Destination::Default { v6 } => (None, v6),
                Destination::Net(net) => (Some(net), matches!(net, ipnet::IpNet::V6(_))),
            };
            let shown = match route.via {
                Some(via) => format!("{} via {via}", route.to),
                None => format!(
                    "{} dev {}",
                    route.to,
                    route.dev.map_or("?", |d| lab.node(node).ifaces[d].name.as_str())
                ),
            };
            netlink.add_route(to, v6, route.via, dev).await.map_err(|e| {
                Error::kernel(format!("adding route {shown} in {}", lab.node(node).name), &e, |errno| {
                    match errno {
                        libc::ENETUNREACH => {
                            Some("the next hop is on no connected subnet of this node".into())
                        }
                        libc::ENETDOWN => Some("the route's device is down (`up = false`?)".into()),
                        _ => None,
                    }
                })
            })?;
        }
        Ok(())
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
        let state = State { lab: lab.name.clone(), topology, source: source.to_string(), created, nodes };
        state.save().map_err(|e| Error::io(format!("saving the state of lab `{}`", lab.name), &e))?;
        Ok(state)
    }

    /// Removes every namespace made so far; the links inside go with them.
    fn roll_back(&mut self) {
        for ns in self.namespaces.iter_mut().filter_map(Option::take) {
            let _ = netns::remove_named(&ns.name);
        }
        let _ = super::state::remove(&self.lab.name);
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
            return Err(std::io::Error::other(sysctl_error(node, sysctl, &e)));
        }
    }
    let netlink = Netlink::open_here(rt)?;
    rt.block_on(netlink.mark_loopback(alias)).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(netlink)
}

/// "creating ipvlan `ipvlan1` on net1:eth0"
fn describe_creation(lab: &Lab, iface: IfaceId) -> String {
    let i = lab.iface(iface);
    let home = &lab.node(iface.node).name;
    match &i.kind {
        IfaceKind::Bridge { .. } => format!("creating bridge `{}` in {home}", i.name),
        IfaceKind::Veth { peer, .. } => {
            format!("creating the cable {} -- {}", lab.iface_label(iface), lab.iface_label(*peer))
        }
        IfaceKind::Dummy => format!("creating dummy `{}` in {home}", i.name),
        kind => {
            let parent = kind.parent().map(|p| lab.iface_label(p)).unwrap_or_default();
            let moved = kind
                .parent()
                .filter(|p| p.node != iface.node)
                .map(|_| format!(" for {home}"))
                .unwrap_or_default();
            format!("creating {} `{}` on {parent}{moved}", kind.name(), i.name)
        }
    }
}

fn creation_hint(lab: &Lab, iface: IfaceId, errno: i32) -> Option<String> {
    let kind = &lab.iface(iface).kind;
    match errno {
        libc::EOPNOTSUPP => Some(match kind {
            IfaceKind::Bridge { vlan_filtering: true } => {
                "this kernel's bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); run the lab in the full kernel: lab run --sandbox".into()
            }
            _ => {
                let module = kernel::module_for(kind);
                format!("this kernel has no {} module (modprobe {module}); or run the lab in the full kernel: lab run --sandbox", kind.name())
            }
        }),
        libc::EBUSY => Some("the parent already serves another driver (a bridge, or macvlan where ipvlan is wanted, or the reverse)".into()),
        libc::EEXIST => Some(format!("a device named `{}` already exists there", lab.iface(iface).name)),
        libc::EINVAL if kind.parent().is_some() => {
            Some("the kernel refused these settings: a child's MTU may not exceed its parent's, and passthru wants no siblings".into())
        }
        _ => None,
    }
}

fn sysctl_error(node: &str, sysctl: &crate::model::Sysctl, error: &std::io::Error) -> Error {
    let e = Error::io(format!("writing sysctl {}={} in {node}", sysctl.key, sysctl.value), error);
    match error.kind() {
        std::io::ErrorKind::NotFound => e.hint("this kernel has no such key in a network namespace"),
        std::io::ErrorKind::InvalidInput => e.hint("the kernel refused the value"),
        _ => e,
    }
}
