//! The lab's layer 2 as its model says: where a frame that leaves one interface goes on its
//! way to the interface that owns its next hop. A VLAN sub-interface pushes its tag and a
//! parent hands a tagged frame to the sub-interface of that VLAN; a cable carries the frame
//! to its far end; a switch port takes it into its VLAN (the PVID for an untagged frame)
//! and the switch lets it out only by a port of that VLAN, tagged or not, and back out of
//! the port it came in by only with hairpin; macvlan and ipvlan children reach siblings and
//! their parent by their mode's rules; a VXLAN carries it to its remote ends. Pure: reads
//! the model (the kernel's view of each node is asked in `kernel`).

use crate::kind::{Flood, IfaceKind, IpvlanFlag, MacvlanMode, PortVlans, VlanProtocol};
use crate::model::{IfaceId, Lab};
use std::collections::{HashMap, HashSet, VecDeque};

/// Where a frame could go no further, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// "sw1 port h2-eth0", "host1:macvlan1".
    pub at: String,
    pub reason: String,
    /// The interfaces the frame crossed before it stopped.
    pub path: Vec<IfaceId>,
}

/// A frame's way from `from` (an interface it leaves by) to `to` (the interface that owns
/// its destination): every interface it crosses, `from` first and `to` last.
pub fn carry(lab: &Lab, links: &Links, from: IfaceId, to: IfaceId) -> Result<Vec<IfaceId>, Blocked> {
    let carrier = Carrier { lab, to, links, sender: lab.iface(from).mac, changed_vlan: Default::default() };
    if !carrier.joined(from, to, None) {
        let reason = tunnel_mismatch(lab, from).unwrap_or_else(|| {
            format!(
                "{} is on no link of {}: no cable, switch or tunnel joins them",
                lab.iface_label(to),
                lab.iface(from).name
            )
        });
        return Err(Blocked { at: place(lab, from), reason, path: vec![from] });
    }
    let mut path = Vec::new();
    carrier.leave(from, Vec::new(), &mut path, 0).map(|()| path)
}

/// Whether two interfaces are joined at layer 2 by any links (cables, switches, parents,
/// tunnels).
pub fn joined(lab: &Lab, links: &Links, from: IfaceId, to: IfaceId) -> bool {
    Carrier { lab, to, links, sender: None, changed_vlan: Default::default() }.joined(from, to, None)
}

/// The lab's links by interface, found once for a whole explanation: each interface's
/// children, a bridge's ports, a VXLAN's remote ends.
#[derive(Default)]
pub struct Links {
    children: HashMap<IfaceId, Vec<IfaceId>>,
    ports: HashMap<IfaceId, Vec<IfaceId>>,
    remotes: HashMap<IfaceId, Vec<IfaceId>>,
}

impl Links {
    pub fn of(lab: &Lab) -> Links {
        let mut links = Links::default();
        for id in lab.iface_ids() {
            if let Some(parent) = lab.iface(id).kind.parent() {
                links.children.entry(parent).or_default().push(id);
            }
            if let Some((bridge, _)) = bridge_port(lab, id) {
                links.ports.entry(bridge).or_default().push(id);
            }
        }
        for (a, b) in crate::kind::vxlan::tunnels(lab) {
            links.remotes.entry(a).or_default().push(b);
        }
        links
    }

    fn of_kind<'m>(
        map: &'m HashMap<IfaceId, Vec<IfaceId>>,
        iface: IfaceId,
    ) -> impl Iterator<Item = IfaceId> + 'm {
        map.get(&iface).into_iter().flatten().copied()
    }
}

/// A VXLAN that sends to a remote whose vxlan has another VNI or port: "vx0 sends VNI 42
/// (port 4789) to 192.0.2.2, where h2:vx0 takes VNI 4200 (port 4789)".
pub fn tunnel_mismatch(lab: &Lab, from: IfaceId) -> Option<String> {
    let IfaceKind::Vxlan(ours) = &lab.iface(from).kind else { return None };
    let Flood::Remotes(remotes) = &ours.flood else { return None };
    remotes.iter().find_map(|remote| {
        let theirs = lab.iface_ids().find(|i| {
            matches!(&lab.iface(*i).kind, IfaceKind::Vxlan(t)
                if t.local == Some(*remote)
                    || lab.node(i.node).ifaces.iter().any(|f| f.addresses.iter().any(|a| a.addr() == *remote)))
        })?;
        let IfaceKind::Vxlan(tunnel) = &lab.iface(theirs).kind else { return None };
        ((tunnel.vni, tunnel.port) != (ours.vni, ours.port)).then(|| {
            format!(
                "{} sends VNI {} (port {}) to {remote}, where {} takes VNI {} (port {})",
                lab.iface(from).name,
                ours.vni,
                ours.port,
                lab.iface_label(theirs),
                tunnel.vni,
                tunnel.port
            )
        })
    })
}

/// How a report names where an interface is: "sw1 port h2-eth0" for a switch port,
/// "h1:eth0" for any other.
pub fn place(lab: &Lab, iface: IfaceId) -> String {
    match bridge_port(lab, iface) {
        Some(_) => format!("{} port {}", lab.node(iface.node).name, lab.iface(iface).name),
        None => lab.iface_label(iface),
    }
}

/// The bridge an interface is a port of, and the port's VLANs.
fn bridge_port(lab: &Lab, iface: IfaceId) -> Option<(IfaceId, &PortVlans)> {
    let port = lab.iface(iface).kind.port()?;
    Some((port.master?, port))
}

/// Frames cross at most this many interfaces: a bound for loops the model might hold.
const MOST_CROSSED: usize = 256;

/// A VLAN tag on a frame: its id and its protocol (the TPID).
type Tag = (u16, VlanProtocol);

/// The tag a VLAN-filtering bridge reads: 802.1Q (a frame whose outer tag is 802.1ad is
/// untagged to it).
const BRIDGE_PROTOCOL: VlanProtocol = VlanProtocol::Dot1Q;

struct Carrier<'l> {
    lab: &'l Lab,
    to: IfaceId,
    links: &'l Links,
    /// The sender's MAC, when the lab sets it (a source-mode macvlan filters by it).
    sender: Option<crate::model::Mac>,
    /// Where the frame went from one VLAN into another on the way (a cable between two
    /// switch ports whose untagged VLANs differ), said with any stop after it.
    changed_vlan: std::cell::RefCell<Option<String>>,
}

type Carried = Result<(), Blocked>;

impl Carrier<'_> {
    fn blocked(&self, at: IfaceId, reason: String, path: &[IfaceId]) -> Blocked {
        let reason = match self.changed_vlan.borrow().as_deref() {
            Some(changed) => format!("{reason}; {changed}"),
            None => reason,
        };
        Blocked { at: place(self.lab, at), reason, path: path.to_vec() }
    }

    /// Notes a frame that comes in untagged by `port` from another switch's port whose
    /// untagged VLAN is not this port's: it changes VLAN there.
    fn note_vlan_change(&self, port: IfaceId, tags: &[Tag]) {
        let lab = self.lab;
        if tags.first().is_some_and(|(_, protocol)| *protocol == BRIDGE_PROTOCOL) {
            return;
        }
        let IfaceKind::Veth { peer, .. } = lab.iface(port).kind else { return };
        let (Some((_, ours)), Some((_, theirs))) = (bridge_port(lab, port), bridge_port(lab, peer)) else {
            return;
        };
        if let (Some(here), Some(there)) = (ours.access, theirs.access)
            && here != there
        {
            *self.changed_vlan.borrow_mut() = Some(format!(
                "the frame changed VLAN on the way: {} sends VLAN {there} untagged, and {} takes untagged frames into VLAN {here} (the two ends' native VLANs differ)",
                place(lab, peer),
                place(lab, port)
            ));
        }
    }

    /// The frame leaves by `iface`, carrying `tags` (outermost first).
    fn leave(&self, iface: IfaceId, mut tags: Vec<Tag>, path: &mut Vec<IfaceId>, depth: usize) -> Carried {
        path.push(iface);
        if depth > MOST_CROSSED {
            return Err(self.blocked(iface, "the frame goes round in a loop".into(), path));
        }
        let lab = self.lab;
        let here = lab.iface(iface);
        if !here.up {
            return Err(self.blocked(iface, format!("{} is down (up = false)", here.name), path));
        }
        match &here.kind {
            IfaceKind::Vlan { parent, id, protocol } => {
                tags.insert(0, (*id, *protocol));
                self.leave(*parent, tags, path, depth + 1)
            }
            IfaceKind::Macvlan { parent, mode, .. } => {
                self.leave_macvlan(iface, *parent, *mode, tags, path, depth)
            }
            IfaceKind::Ipvlan { parent, flag, .. } => {
                self.leave_ipvlan(iface, *parent, *flag, tags, path, depth)
            }
            IfaceKind::Veth { peer, .. } => self.arrive(*peer, tags, path, depth + 1),
            IfaceKind::Bridge { .. } => self.through_bridge(iface, None, tags, path, depth),
            IfaceKind::Vxlan(_) => self.through_tunnel(iface, tags, path, depth),
            IfaceKind::Dummy => {
                Err(self.blocked(iface, format!("{} is a dummy: it sends nothing anywhere", here.name), path))
            }
        }
    }

    fn leave_macvlan(
        &self,
        iface: IfaceId,
        parent: IfaceId,
        mode: MacvlanMode,
        tags: Vec<Tag>,
        path: &mut Vec<IfaceId>,
        depth: usize,
    ) -> Carried {
        let lab = self.lab;
        if self.to == parent && mode == MacvlanMode::Private {
            let reason = format!(
                "macvlan private mode lets no broadcast from {} back in to its parent {}, not even an ARP request",
                lab.iface(iface).name,
                lab.iface_label(parent)
            );
            return Err(self.blocked(iface, reason, path));
        }
        if let IfaceKind::Macvlan { parent: theirs, mode: their_mode, .. } = lab.iface(self.to).kind
            && theirs == parent
        {
            if mode == MacvlanMode::Private {
                let reason = format!(
                    "macvlan private mode passes no frame between siblings on {}, not even an ARP request",
                    lab.iface_label(parent)
                );
                return Err(self.blocked(iface, reason, path));
            }
            if mode == MacvlanMode::Bridge && their_mode == MacvlanMode::Bridge {
                path.push(self.to);
                return Ok(());
            }
        }
        self.leave(parent, tags, path, depth + 1)
    }

    fn leave_ipvlan(
        &self,
        iface: IfaceId,
        parent: IfaceId,
        flag: IpvlanFlag,
        tags: Vec<Tag>,
        path: &mut Vec<IfaceId>,
        depth: usize,
    ) -> Carried {
        let lab = self.lab;
        if self.to == parent {
            let reason = format!(
                "an ipvlan child and its parent exchange no frames: {}'s frames go out of {} to the wire",
                lab.iface(iface).name,
                lab.iface_label(parent)
            );
            return Err(self.blocked(iface, reason, path));
        }
        let sibling =
            matches!(lab.iface(self.to).kind, IfaceKind::Ipvlan { parent: theirs, .. } if theirs == parent);
        match (sibling, flag) {
            (true, IpvlanFlag::Private) => {
                let reason = format!(
                    "ipvlan's private flag passes no frame between siblings on {}",
                    lab.iface_label(parent)
                );
                Err(self.blocked(iface, reason, path))
            }
            (true, IpvlanFlag::Bridge) => {
                path.push(self.to);
                Ok(())
            }
            _ => self.leave(parent, tags, path, depth + 1),
        }
    }

    /// The frame comes in by `iface` (a cable's far end, a tunnel's remote end).
    fn arrive(&self, iface: IfaceId, mut tags: Vec<Tag>, path: &mut Vec<IfaceId>, depth: usize) -> Carried {
        path.push(iface);
        let lab = self.lab;
        let here = lab.iface(iface);
        if !here.up {
            return Err(self.blocked(iface, format!("{} is down (up = false)", here.name), path));
        }
        if let Some((bridge, _)) = bridge_port(lab, iface) {
            return self.through_bridge(bridge, Some(iface), tags, path, depth);
        }
        if let Some(&outer) = tags.first() {
            let Some(sub) = self.sub_interface(iface, outer) else {
                return Err(self.blocked(iface, self.untaken(iface, outer), path));
            };
            tags.remove(0);
            return self.arrive(sub, tags, path, depth + 1);
        }
        if let Some(thief) = self.passthru_child(iface).filter(|c| !self.holds(*c)) {
            let reason = format!(
                "{} is a passthru macvlan child of {}: it takes every frame {} receives, so {} gets none",
                lab.iface_label(thief),
                here.name,
                here.name,
                lab.iface_label(self.to)
            );
            return Err(self.blocked(iface, reason, path));
        }
        if iface == self.to {
            return Ok(());
        }
        if let Some(child) = self.children(iface).find(|c| self.holds(*c)) {
            return match &lab.iface(child).kind {
                IfaceKind::Vlan { id, .. } => {
                    let reason = format!(
                        "the frame comes in untagged, and {} takes only VLAN {id}",
                        lab.iface(child).name
                    );
                    Err(self.blocked(iface, reason, path))
                }
                IfaceKind::Macvlan { mode: MacvlanMode::Source, source_macs, .. }
                    if !self.sender.is_some_and(|m| source_macs.contains(&m)) =>
                {
                    Err(self.blocked(iface, self.not_a_source(child, source_macs), path))
                }
                _ => self.arrive(child, tags, path, depth + 1),
            };
        }
        let reason = format!("the frame is for {}, which is not on this link", lab.iface_label(self.to));
        Err(self.blocked(iface, reason, path))
    }

    /// Through a bridge: in by `port` (`None`: from the bridge's own device), out by the
    /// port that leads to the target, by the VLAN rules when the bridge filters VLANs.
    fn through_bridge(
        &self,
        bridge: IfaceId,
        port: Option<IfaceId>,
        mut tags: Vec<Tag>,
        path: &mut Vec<IfaceId>,
        depth: usize,
    ) -> Carried {
        let lab = self.lab;
        let filtering = matches!(lab.iface(bridge).kind, IfaceKind::Bridge { vlan_filtering: true });
        let vlan = match (filtering, port) {
            (false, _) => None,
            (true, Some(port)) => {
                self.note_vlan_change(port, &tags);
                Some(self.ingress_vlan(port, &mut tags, path)?)
            }
            (true, None) => Some(match tags.first() {
                Some(&(id, protocol)) if protocol == BRIDGE_PROTOCOL => {
                    tags.remove(0);
                    id
                }
                _ => 1,
            }),
        };
        if self.to == bridge || self.stacked_on(self.to, bridge) {
            path.push(bridge);
            if let Some(vlan) = vlan.filter(|v| *v != 1) {
                tags.insert(0, (vlan, BRIDGE_PROTOCOL));
            }
            return self.arrive_on_device(bridge, tags, path, depth + 1);
        }
        let out = self.egress_port(bridge, port, path)?;
        if let (Some(vlan), Some((_, vlans))) = (vlan, bridge_port(lab, out))
            && vlans.access != Some(vlan)
        {
            if !vlans.trunk.contains(&vlan) {
                path.push(out);
                let reason = format!("VLAN {vlan} is not on this port ({})", vlans.describe());
                return Err(self.blocked(out, reason, path));
            }
            tags.insert(0, (vlan, BRIDGE_PROTOCOL));
        }
        self.leave(out, tags, path, depth + 1)
    }

    /// The VLAN a frame coming in by a VLAN-filtering port is in; its tag taken off.
    fn ingress_vlan(&self, port: IfaceId, tags: &mut Vec<Tag>, path: &[IfaceId]) -> Result<u16, Blocked> {
        let Some((_, vlans)) = bridge_port(self.lab, port) else { return Ok(1) };
        let outer = tags.first().filter(|(_, protocol)| *protocol == BRIDGE_PROTOCOL).map(|(id, _)| *id);
        match outer {
            None => vlans.access.ok_or_else(|| {
                let reason = format!(
                    "untagged frames are not taken on this port ({}: no access VLAN)",
                    vlans.describe()
                );
                self.blocked(port, reason, path)
            }),
            Some(tag) if vlans.access == Some(tag) || vlans.trunk.contains(&tag) => {
                tags.remove(0);
                Ok(tag)
            }
            Some(tag) => {
                let reason = format!("VLAN {tag} is not on this port ({})", vlans.describe());
                Err(self.blocked(port, reason, path))
            }
        }
    }

    /// The port of `bridge` that leads to the target; the port the frame came in by only
    /// with hairpin.
    fn egress_port(
        &self,
        bridge: IfaceId,
        came_in: Option<IfaceId>,
        path: &[IfaceId],
    ) -> Result<IfaceId, Blocked> {
        let ports: Vec<IfaceId> = self.ports(bridge).collect();
        if let Some(out) =
            ports.iter().copied().find(|p| Some(*p) != came_in && self.joined(*p, self.to, Some(bridge)))
        {
            return Ok(out);
        }
        match came_in {
            Some(port) if self.joined(port, self.to, Some(bridge)) => {
                let hairpin = bridge_port(self.lab, port).is_some_and(|(_, v)| v.hairpin);
                if hairpin {
                    return Ok(port);
                }
                let end = match self.lab.iface(port).kind {
                    IfaceKind::Veth { peer, .. } => {
                        format!(" (hairpin = true on {})", self.lab.iface_label(peer))
                    }
                    _ => String::new(),
                };
                let reason = format!(
                    "the frame would have to go back out of the port it came in by, and this port has no hairpin{end}"
                );
                Err(self.blocked(port, reason, path))
            }
            _ => {
                let reason = format!("no port of this switch leads to {}", self.lab.iface_label(self.to));
                Err(Blocked { at: self.lab.node(bridge.node).name.clone(), reason, path: path.to_vec() })
            }
        }
    }

    /// A frame a bridge hands to its own device (a switch that routes, `docker0`'s host).
    fn arrive_on_device(
        &self,
        bridge: IfaceId,
        mut tags: Vec<Tag>,
        path: &mut Vec<IfaceId>,
        depth: usize,
    ) -> Carried {
        if let Some(&outer) = tags.first() {
            let Some(sub) = self.sub_interface(bridge, outer) else {
                return Err(self.blocked(bridge, self.untaken(bridge, outer), path));
            };
            tags.remove(0);
            return self.arrive(sub, tags, path, depth + 1);
        }
        if bridge == self.to {
            return Ok(());
        }
        match self.children(bridge).find(|c| self.holds(*c)) {
            Some(child) => self.arrive(child, tags, path, depth + 1),
            None => Err(self.blocked(
                bridge,
                format!("{} is not on this bridge", self.lab.iface_label(self.to)),
                path,
            )),
        }
    }

    /// Out of a VXLAN to the remote end that leads to the target.
    fn through_tunnel(
        &self,
        vxlan: IfaceId,
        tags: Vec<Tag>,
        path: &mut Vec<IfaceId>,
        depth: usize,
    ) -> Carried {
        let remote = self.remotes(vxlan).find(|r| self.joined(*r, self.to, Some(vxlan)));
        match remote {
            Some(remote) => self.arrive(remote, tags, path, depth + 1),
            None => {
                let reason =
                    format!("no remote end of this tunnel leads to {}", self.lab.iface_label(self.to));
                Err(self.blocked(vxlan, reason, path))
            }
        }
    }

    /// Whether `iface` is the target or the target is stacked on it.
    fn holds(&self, iface: IfaceId) -> bool {
        iface == self.to || self.stacked_on(self.to, iface)
    }

    fn stacked_on(&self, child: IfaceId, ancestor: IfaceId) -> bool {
        let mut at = self.lab.iface(child).kind.parent();
        for _ in 0..MOST_CROSSED {
            match at {
                Some(parent) if parent == ancestor => return true,
                Some(parent) => at = self.lab.iface(parent).kind.parent(),
                None => return false,
            }
        }
        false
    }

    fn children(&self, parent: IfaceId) -> impl Iterator<Item = IfaceId> + '_ {
        Links::of_kind(&self.links.children, parent)
    }

    fn ports(&self, bridge: IfaceId) -> impl Iterator<Item = IfaceId> + '_ {
        Links::of_kind(&self.links.ports, bridge)
    }

    fn remotes(&self, vxlan: IfaceId) -> impl Iterator<Item = IfaceId> + '_ {
        Links::of_kind(&self.links.remotes, vxlan)
    }

    /// A passthru macvlan child of `iface`, which takes every frame it receives.
    fn passthru_child(&self, iface: IfaceId) -> Option<IfaceId> {
        self.children(iface).find(|c| {
            matches!(self.lab.iface(*c).kind, IfaceKind::Macvlan { mode: MacvlanMode::Passthru, .. })
        })
    }

    /// "ns1:mv0 is a source-mode macvlan: it takes frames only from 02:00:00:00:00:11, and the
    /// sender's MAC (02:00:00:00:00:22) is not one of them".
    fn not_a_source(&self, child: IfaceId, source_macs: &[crate::model::Mac]) -> String {
        let listed: Vec<String> = source_macs.iter().map(ToString::to_string).collect();
        let sender = match self.sender {
            Some(mac) => format!("the sender's MAC ({mac})"),
            None => "the sender's MAC".into(),
        };
        format!(
            "{} is a source-mode macvlan: it takes frames only from {}, and {sender} is not one of them",
            self.lab.iface_label(child),
            if listed.is_empty() { "the MACs it lists (none)".to_string() } else { listed.join(", ") }
        )
    }

    /// The sub-interface of `iface` that takes frames with this outer tag.
    fn sub_interface(&self, iface: IfaceId, tag: Tag) -> Option<IfaceId> {
        self.children(iface).find(|c| vlan_of(self.lab, *c) == Some(tag))
    }

    /// Why no sub-interface of `iface` takes a tag: "no sub-interface of eth0 takes VLAN 20
    /// (it has 10)", or one has its id in the other protocol.
    fn untaken(&self, iface: IfaceId, (id, protocol): Tag) -> String {
        let lab = self.lab;
        let name = &lab.iface(iface).name;
        let subs: Vec<(IfaceId, Tag)> =
            self.children(iface).filter_map(|c| Some((c, vlan_of(lab, c)?))).collect();
        if let Some((other, (_, theirs))) = subs.iter().find(|(_, (i, _))| *i == id) {
            return format!(
                "no sub-interface of {name} takes {} VLAN {id} ({} is {})",
                protocol.as_str(),
                lab.iface(*other).name,
                theirs.as_str()
            );
        }
        let ids: Vec<String> = subs.iter().map(|(_, (i, _))| i.to_string()).collect();
        let has = if ids.is_empty() { String::new() } else { format!(" (it has {})", ids.join(", ")) };
        format!("no sub-interface of {name} takes VLAN {id}{has}")
    }

    /// Whether any links join `from` to `to` at layer 2, not through `avoiding` (a bridge,
    /// or a tunnel end, being walked through).
    fn joined(&self, from: IfaceId, to: IfaceId, avoiding: Option<IfaceId>) -> bool {
        let mut seen: HashSet<IfaceId> = HashSet::from([from]);
        let mut queue = VecDeque::from([from]);
        while let Some(at) = queue.pop_front() {
            if at == to {
                return true;
            }
            for next in self.neighbours(at) {
                if Some(next) != avoiding && seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
        false
    }

    /// The interfaces one link away from `iface`: a cable's far end, its parent and
    /// children, its bridge or ports, its tunnel's remote ends.
    fn neighbours(&self, iface: IfaceId) -> Vec<IfaceId> {
        let lab = self.lab;
        let kind = &lab.iface(iface).kind;
        let mut next: Vec<IfaceId> =
            self.children(iface).chain(self.ports(iface)).chain(self.remotes(iface)).collect();
        next.extend(kind.parent());
        next.extend(bridge_port(lab, iface).map(|(b, _)| b));
        if let IfaceKind::Veth { peer, .. } = kind {
            next.push(*peer);
        }
        next
    }
}

fn vlan_of(lab: &Lab, iface: IfaceId) -> Option<Tag> {
    match lab.iface(iface).kind {
        IfaceKind::Vlan { id, protocol, .. } => Some((id, protocol)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Source, check};

    fn lab(text: &str) -> Lab {
        check(Source::new("t.toml", text.to_string())).lab.expect("a valid lab")
    }

    fn iface(lab: &Lab, label: &str) -> IfaceId {
        let (node, name) = label.split_once(':').unwrap();
        lab.iface_id(lab.node_id(node).unwrap(), name).unwrap()
    }

    fn labels(lab: &Lab, path: &[IfaceId]) -> Vec<String> {
        path.iter().map(|i| lab.iface_label(*i)).collect()
    }

    const TRUNK: &str = r#"
name = "t"
[[switch]]
name = "sw1"
[[router]]
name = "r1"
  [[router.iface]]
  name = "eth0"
  link = "sw1"
  trunk = [10, 20]
  [[router.iface]]
  kind = "vlan"
  parent = "eth0"
  id = 20
  addresses = ["10.0.20.1/24"]
[[host]]
name = "h1"
  [[host.iface]]
  name = "eth0"
  link = "sw1"
  access = 20
  addresses = ["10.0.20.2/24"]
"#;

    #[test]
    fn a_frame_crosses_an_access_port_and_a_trunk_into_its_sub_interface() {
        let lab = lab(TRUNK);
        let path = carry(&lab, &Links::of(&lab), iface(&lab, "h1:eth0"), iface(&lab, "r1:eth0.20")).unwrap();
        assert_eq!(labels(&lab, &path), ["h1:eth0", "sw1:h1-eth0", "sw1:r1-eth0", "r1:eth0", "r1:eth0.20"]);
        let back = carry(&lab, &Links::of(&lab), iface(&lab, "r1:eth0.20"), iface(&lab, "h1:eth0")).unwrap();
        assert_eq!(labels(&lab, &back), ["r1:eth0.20", "r1:eth0", "sw1:r1-eth0", "sw1:h1-eth0", "h1:eth0"]);
    }

    #[test]
    fn a_vlan_missing_on_the_way_out_is_named_with_the_ports_vlans() {
        let lab = lab(&TRUNK.replace("access = 20", "access = 30"));
        let blocked =
            carry(&lab, &Links::of(&lab), iface(&lab, "h1:eth0"), iface(&lab, "r1:eth0.20")).unwrap_err();
        assert_eq!(blocked.at, "sw1 port r1-eth0");
        assert_eq!(blocked.reason, "VLAN 30 is not on this port (trunk 10, 20)");
    }

    #[test]
    fn a_tag_missing_on_the_way_in_is_named_at_the_port_it_enters() {
        let lab = lab(&TRUNK.replace("trunk = [10, 20]", "trunk = [10]"));
        let blocked =
            carry(&lab, &Links::of(&lab), iface(&lab, "r1:eth0.20"), iface(&lab, "h1:eth0")).unwrap_err();
        assert_eq!(blocked.at, "sw1 port r1-eth0");
        assert_eq!(blocked.reason, "VLAN 20 is not on this port (trunk 10)");
    }

    #[test]
    fn a_bridge_without_vlan_filtering_carries_the_tag_to_the_far_end() {
        let lab = lab(&TRUNK.replace("  trunk = [10, 20]\n", "").replace("  access = 20\n", ""));
        let blocked =
            carry(&lab, &Links::of(&lab), iface(&lab, "r1:eth0.20"), iface(&lab, "h1:eth0")).unwrap_err();
        assert_eq!(blocked.at, "h1:eth0");
        assert_eq!(blocked.reason, "no sub-interface of eth0 takes VLAN 20");
        assert_eq!(
            labels(&lab, &blocked.path),
            ["r1:eth0.20", "r1:eth0", "sw1:r1-eth0", "sw1:h1-eth0", "h1:eth0"]
        );
    }

    #[test]
    fn ports_vlans_are_written_as_bridge_vlan_would_group_them() {
        let port =
            |access, trunk: &[u16]| PortVlans { access, trunk: trunk.to_vec(), ..PortVlans::default() };
        assert_eq!(port(Some(20), &[]).describe(), "access 20");
        assert_eq!(port(None, &[10, 20]).describe(), "trunk 10, 20");
        assert_eq!(port(Some(1), &[10]).describe(), "access 1, trunk 10");
        assert_eq!(port(None, &[]).describe(), "no VLAN");
    }
}
