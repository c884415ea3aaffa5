//! Dummies (`kind = "dummy"`): an interface with no wire, for addresses a node owns and as
//! a parent for children. Owns its `ip` word, netlink message and kernel feature.

use super::KernelFeature;
use crate::kernel::netlink::LinkSettings;
use rtnetlink::LinkDummy;
use rtnetlink::packet_route::link::LinkMessage;

pub const NAME: &str = "dummy";
pub const KEYS: &[&str] = &[];
pub const FEATURES: &[KernelFeature] = &[KernelFeature::Dummy];
pub const MODULE: &str = "dummy";

pub fn message(name: &str, settings: &LinkSettings) -> LinkMessage {
    settings.apply(LinkDummy::new(name)).build()
}
