//! Links of `up`: bridges, cables (veth pairs), VLAN/macvlan/ipvlan children and dummies,
//! and the membership of switch ports. Must not write addresses, routes or sysctls.

use super::Realizer;
use crate::model::{IfaceId, IfaceKind, Lab, NodeId};
use crate::plan;
use crate::kernel::features;
use crate::kernel::netlink::LinkSettings;
use crate::realize::Error;
use std::os::fd::AsRawFd;

impl Realizer<'_> {
    /// Settings of a new link; `netns` set when it is made from another namespace's socket.
    pub(super) fn settings(&self, iface: IfaceId, from: NodeId) -> LinkSettings {
        let i = self.lab.iface(iface);
        LinkSettings {
            mac: i.mac,
            mtu: i.mtu,
            up: plan::up_when_made(self.lab, iface),
            netns: (iface.node != from).then(|| self.namespace(iface.node).file.as_raw_fd()),
            master: None,
        }
    }

    pub(super) async fn create_link(&self, iface: IfaceId) -> Result<(), Error> {
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
    ) -> Result<(), crate::kernel::netlink::Error> {
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

    pub(super) async fn configure_port(&self, port: IfaceId) -> Result<(), Error> {
        let label = self.lab.iface_label(port);
        let Some(work) = plan::port_work(self.lab, port) else { return Ok(()) };
        let netlink = &self.namespace(port.node).netlink;
        let index = self.index(port).await?;
        if let Some(master) = work.join {
            let bridge = self.index(master).await?;
            netlink
                .set_master(index, bridge)
                .await
                .map_err(|e| Error::kernel(format!("adding {label} to its bridge"), &e, |_| None))?;
        }
        if let Some(vlans) = work.vlans {
            netlink
                .set_port_vlans(index, vlans)
                .await
                .map_err(|e| Error::kernel(format!("setting the VLANs of port {label}"), &e, |_| None))?;
        }
        if work.hairpin {
            netlink
                .set_hairpin(index)
                .await
                .map_err(|e| Error::kernel(format!("turning hairpin on for port {label}"), &e, |_| None))?;
        }
        Ok(())
    }
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
                let module = features::module_for(kind);
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
