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
/// A dummy takes any MTU.
pub const MTU_RANGE: (u32, u32) = (0, i32::MAX as u32);

pub fn message(name: &str, settings: &LinkSettings) -> LinkMessage {
    settings.apply(LinkDummy::new(name)).build()
}
