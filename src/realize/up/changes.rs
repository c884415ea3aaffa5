//! What a step changes on a live lab, and impairments: links brought down or removed, a
//! child's mode, addresses and routes taken off or put back, netem queues. Removing what is
//! already gone is done (the kernel took it with a link); nothing else is decided here.

use super::Realizer;
use crate::kernel::netlink::RouteSpec;
use crate::model::Destination;
use crate::plan::{Op, Request};
use crate::realize::Error;

impl Realizer<'_> {
    pub(super) async fn change(&self, request: &Request) -> Result<(), Error> {
        let doing = request.doing.as_str();
        let refused = |e| Error::kernel(doing, e, |_| None);
        match &request.op {
            Op::SetDown { ns, dev } => self.netlink(ns)?.set_down(dev).await.map_err(refused),
            Op::DelLink { ns, dev } => gone_is_done(self.netlink(ns)?.del_link(dev).await).map_err(refused),
            Op::SetMode { ns, dev, link } => {
                let index = self.index(ns, dev).await?;
                let Some(message) = link.mode_message(index) else {
                    return Err(Error::new(doing, "this kind has no mode to change"));
                };
                self.netlink(ns)?.change_link(message).await.map_err(|e| {
                    Error::kernel(doing, e, |errno| {
                        (errno == libc::EINVAL)
                            .then(|| "the kernel refuses to set or leave passthru on a live child".into())
                    })
                })
            }
            Op::DelAddress { ns, dev, address } => {
                let index = self.index(ns, dev).await?;
                gone_is_done(self.netlink(ns)?.del_address(index, *address).await).map_err(refused)
            }
            Op::ReplaceAddress { ns, dev, address } => {
                let index = self.index(ns, dev).await?;
                self.netlink(ns)?.replace_address(index, *address).await.map_err(refused)
            }
            Op::DelRoute { ns, to, via, dev } => {
                let route = self.route_spec(ns, *to, *via, dev.as_deref()).await?;
                gone_is_done(self.netlink(ns)?.del_route(route).await).map_err(refused)
            }
            Op::ReplaceRoute { ns, to, via, dev } => {
                let route = self.route_spec(ns, *to, *via, dev.as_deref()).await?;
                self.netlink(ns)?.replace_route(route).await.map_err(refused)
            }
            _ => Err(Error::new(doing, "not a change of a live lab")),
        }
    }

    async fn route_spec(
        &self,
        ns: &str,
        to: Destination,
        via: Option<std::net::IpAddr>,
        dev: Option<&str>,
    ) -> Result<RouteSpec, Error> {
        let dev = match dev {
            Some(dev) => Some(self.index(ns, dev).await?),
            None => None,
        };
        let (to, v6) = match to {
            Destination::Default { v6 } => (None, v6),
            Destination::Net(net) => (Some(net), net.addr().is_ipv6()),
        };
        Ok(RouteSpec { to, v6, via, dev })
    }

    /// Sets netem as the interface's root queue, or puts back the device's default.
    pub(super) async fn impair(
        &self,
        doing: &str,
        ns: &str,
        dev: &str,
        impairment: Option<&crate::impair::Impairment>,
    ) -> Result<(), Error> {
        let index = self.index(ns, dev).await?;
        let netlink = self.netlink(ns)?;
        let done = match impairment {
            Some(impairment) => netlink.set_netem(index, crate::kernel::netem::options(impairment)).await,
            None => gone_is_done(netlink.clear_qdisc(index).await),
        };
        done.map_err(|e| {
            Error::kernel(doing, e, |errno| {
                matches!(errno, libc::ENOENT | libc::EOPNOTSUPP)
                    .then(|| "this kernel has no netem (sch_netem): run the lab in the full kernel, lab run --sandbox FILE".into())
            })
        })
    }
}

/// A removal whose object the kernel already took: a route or address that left with its
/// link, a child deleted with its parent.
fn gone_is_done(
    result: Result<(), crate::kernel::netlink::Error>,
) -> Result<(), crate::kernel::netlink::Error> {
    match &result {
        Err(e)
            if matches!(
                crate::kernel::netlink::errno(e),
                Some(libc::ESRCH | libc::EADDRNOTAVAIL | libc::ENODEV | libc::ENOENT)
            ) =>
        {
            Ok(())
        }
        _ => result,
    }
}
