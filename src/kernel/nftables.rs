//! nf_tables over netlink, in-process: a `nat::Ruleset` encoded as one batch of NEWTABLE,
//! NEWCHAIN and NEWRULE requests (the dozen expressions lab's NAT needs, no more) and
//! installed atomically in the calling thread's namespace; and whether this kernel can.
//! Only table `ip lab` is ever made: nothing is flushed and no other table is touched. A
//! namespace that already has the table refuses it (EEXIST): lab makes every namespace new,
//! so a table found there is not lab's to replace.

use super::netlink::ANSWER_TIMEOUT;
use super::{OsError, lowercase_first, netns};
use crate::nat::{self, Action, Chain, Hook, L4, Masquerade, Match, Publish, Rule, Ruleset, TABLE};
use ipnet::Ipv4Net;
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt,
};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused one request of the batch, and so the whole batch: its errno as
    /// the C library says it, with its number ("operation not supported (os error 95)").
    #[error("{doing}: {}", lowercase_first(&io::Error::from(*.errno).to_string()))]
    Refused { doing: String, errno: Errno },
    #[error(
        "this kernel has no nf_tables NAT for IPv4 (CONFIG_NF_TABLES_IPV4, CONFIG_NFT_NAT, CONFIG_NFT_MASQ, CONFIG_NFT_FIB_IPV4, CONFIG_NFT_CT); NAT labs run natively on a kernel that has it"
    )]
    Unsupported,
    #[error("talking to nf_tables: {0}")]
    Os(#[from] OsError),
    #[error("the kernel's answer never came (waited {} s): it was lost", ANSWER_TIMEOUT.as_secs())]
    NoAnswer,
}

/// Installs `ruleset` in the calling thread's namespace, all of it or nothing.
pub fn install(ruleset: &Ruleset) -> Result<(), Error> {
    let requests = requests(ruleset);
    let batch = batch(&requests);
    let socket = open(batch.len(), requests.len()).map_err(OsError)?;
    socket::send(socket.as_raw_fd(), &batch, MsgFlags::empty()).map_err(os)?;
    await_answers(&socket, &requests)
}

/// Whether this kernel has nf_tables NAT for IPv4 with every expression lab's rules use:
/// a ruleset using them all, installed in a throwaway namespace.
pub fn supported() -> io::Result<bool> {
    netns::run_in_throwaway(|| match install(&every_expression()) {
        Ok(()) => Ok(true),
        Err(Error::Unsupported) => Ok(false),
        Err(e) => Err(io::Error::other(e)),
    })
}

/// A ruleset with every match and action of `nat::Match` and `nat::Action`.
fn every_expression() -> Ruleset {
    let net = Ipv4Net::new_assert(Ipv4Addr::new(192, 0, 2, 0), 24);
    let masquerade = |out: Option<&str>, out_not: Option<&str>| Masquerade {
        from: net,
        out: out.map(String::from),
        out_not: out_not.map(String::from),
    };
    nat::ruleset(&nat::Nat {
        masquerade: vec![masquerade(Some("eth0"), None), masquerade(None, Some("eth0"))],
        publish: vec![Publish {
            proto: L4::Tcp,
            port: 8080,
            host_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
            to: Ipv4Addr::new(192, 0, 2, 2),
            to_port: 80,
        }],
        hairpin: vec![net],
        localhost: false,
    })
}

// ---- the requests --------------------------------------------------------------------------

/// One request of the batch, and what it does in words, for its error.
struct Request {
    doing: String,
    kind: u16,
    flags: u16,
    attributes: Attributes,
}

/// The table, then each chain followed by its rules, appended in order.
fn requests(ruleset: &Ruleset) -> Vec<Request> {
    let mut requests = vec![new_table()];
    for chain in &ruleset.chains {
        requests.push(new_chain(chain));
        for (i, rule) in chain.rules.iter().enumerate() {
            requests.push(new_rule(chain.hook, i + 1, rule));
        }
    }
    requests
}

/// `add table ip lab`, refused if it exists (NLM_F_EXCL).
fn new_table() -> Request {
    Request {
        doing: format!("adding table ip {TABLE}"),
        kind: NFT_MSG_NEWTABLE,
        flags: NLM_F_CREATE | NLM_F_EXCL,
        attributes: Attributes::default().string(NFTA_TABLE_NAME, TABLE).u32(NFTA_TABLE_FLAGS, 0),
    }
}

/// `add chain ip lab HOOK { type nat hook HOOK priority P; policy accept; }`
fn new_chain(chain: &Chain) -> Request {
    let hook = Attributes::default()
        .u32(NFTA_HOOK_HOOKNUM, hook_number(chain.hook))
        .u32(NFTA_HOOK_PRIORITY, chain.hook.priority() as u32);
    Request {
        doing: format!("adding chain {}", chain.hook.name()),
        kind: NFT_MSG_NEWCHAIN,
        flags: NLM_F_CREATE,
        attributes: Attributes::default()
            .string(NFTA_CHAIN_TABLE, TABLE)
            .string(NFTA_CHAIN_NAME, chain.hook.name())
            .nested(NFTA_CHAIN_HOOK, hook)
            .u32(NFTA_CHAIN_POLICY, NF_ACCEPT)
            .string(NFTA_CHAIN_TYPE, "nat"),
    }
}

fn hook_number(hook: Hook) -> u32 {
    match hook {
        Hook::Prerouting => NF_INET_PRE_ROUTING,
        Hook::Output => NF_INET_LOCAL_OUT,
        Hook::Postrouting => NF_INET_POST_ROUTING,
    }
}

/// `add rule ip lab HOOK ...`, the `number`th of its chain (from 1).
fn new_rule(hook: Hook, number: usize, rule: &Rule) -> Request {
    let list = expressions(rule)
        .into_iter()
        .fold(Attributes::default(), |list, expression| list.nested(NFTA_LIST_ELEM, expression.attributes()));
    Request {
        doing: format!("adding rule {number} of chain {}", hook.name()),
        kind: NFT_MSG_NEWRULE,
        flags: NLM_F_CREATE | NLM_F_APPEND,
        attributes: Attributes::default()
            .string(NFTA_RULE_TABLE, TABLE)
            .string(NFTA_RULE_CHAIN, hook.name())
            .nested(NFTA_RULE_EXPRESSIONS, list),
    }
}

// ---- the expressions -----------------------------------------------------------------------

/// One nf_tables expression: its name and its settings (none for some).
struct Expression {
    name: &'static str,
    data: Option<Attributes>,
}

impl Expression {
    fn attributes(self) -> Attributes {
        let named = Attributes::default().string(NFTA_EXPR_NAME, self.name);
        match self.data {
            Some(data) => named.nested(NFTA_EXPR_DATA, data),
            None => named,
        }
    }
}

/// The rule's matches in order, its counter, then its action.
fn expressions(rule: &Rule) -> Vec<Expression> {
    let mut expressions: Vec<Expression> = rule.matches.iter().flat_map(matching).collect();
    expressions.push(Expression { name: "counter", data: None });
    expressions.extend(acting(&rule.action));
    expressions
}

/// Loads what the match looks at into register 1 and compares it.
fn matching(matched: &Match) -> Vec<Expression> {
    match matched {
        Match::SourceIn(net) => address(IPV4_SADDR, *net, NFT_CMP_EQ),
        Match::DestIn(net) => address(IPV4_DADDR, *net, NFT_CMP_EQ),
        Match::DestNotIn(net) => address(IPV4_DADDR, *net, NFT_CMP_NEQ),
        Match::DestLocal => vec![fib_daddr_type(), compare(NFT_CMP_EQ, &RTN_LOCAL.to_ne_bytes())],
        Match::Dnatted => vec![
            ct_status(),
            bitwise_and(&IPS_DST_NAT.to_ne_bytes()),
            compare(NFT_CMP_NEQ, &0u32.to_ne_bytes()),
        ],
        Match::Port { proto, port } => vec![
            meta(NFT_META_L4PROTO),
            compare(NFT_CMP_EQ, &[protocol_number(*proto)]),
            payload(NFT_PAYLOAD_TRANSPORT_HEADER, TH_DPORT, 2),
            compare(NFT_CMP_EQ, &port.to_be_bytes()),
        ],
        Match::OutIface { name, negated } => {
            let op = if *negated { NFT_CMP_NEQ } else { NFT_CMP_EQ };
            vec![meta(NFT_META_OIFNAME), compare(op, &interface_name(name))]
        }
    }
}

/// `ip saddr|daddr [!=] NET`: the address, masked unless the net is one address, compared.
fn address(offset: u32, net: Ipv4Net, op: u32) -> Vec<Expression> {
    let mut expressions = vec![payload(NFT_PAYLOAD_NETWORK_HEADER, offset, 4)];
    if net.prefix_len() < 32 {
        expressions.push(bitwise_and(&net.netmask().octets()));
    }
    expressions.push(compare(op, &net.network().octets()));
    expressions
}

fn protocol_number(proto: L4) -> u8 {
    match proto {
        L4::Tcp => libc::IPPROTO_TCP as u8,
        L4::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// A name as the kernel holds it: NUL-padded to IFNAMSIZ, for an exact match.
fn interface_name(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.resize(libc::IFNAMSIZ.max(name.len() + 1), 0);
    bytes
}

/// `dnat to ADDR:PORT` (address in register 1, port in register 2) or `masquerade`.
fn acting(action: &Action) -> Vec<Expression> {
    match action {
        Action::Dnat { addr, port } => {
            vec![immediate(NFT_REG_1, &addr.octets()), immediate(NFT_REG_2, &port.to_be_bytes()), dnat()]
        }
        Action::Masquerade => vec![Expression { name: "masq", data: None }],
    }
}

fn payload(base: u32, offset: u32, len: u32) -> Expression {
    let data = Attributes::default()
        .u32(NFTA_PAYLOAD_DREG, NFT_REG_1)
        .u32(NFTA_PAYLOAD_BASE, base)
        .u32(NFTA_PAYLOAD_OFFSET, offset)
        .u32(NFTA_PAYLOAD_LEN, len);
    Expression { name: "payload", data: Some(data) }
}

fn meta(key: u32) -> Expression {
    let data = Attributes::default().u32(NFTA_META_DREG, NFT_REG_1).u32(NFTA_META_KEY, key);
    Expression { name: "meta", data: Some(data) }
}

fn fib_daddr_type() -> Expression {
    let data = Attributes::default()
        .u32(NFTA_FIB_DREG, NFT_REG_1)
        .u32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
        .u32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
    Expression { name: "fib", data: Some(data) }
}

fn ct_status() -> Expression {
    let data = Attributes::default().u32(NFTA_CT_DREG, NFT_REG_1).u32(NFTA_CT_KEY, NFT_CT_STATUS);
    Expression { name: "ct", data: Some(data) }
}

/// Register 1 = register 1 & `mask`.
fn bitwise_and(mask: &[u8]) -> Expression {
    let data = Attributes::default()
        .u32(NFTA_BITWISE_SREG, NFT_REG_1)
        .u32(NFTA_BITWISE_DREG, NFT_REG_1)
        .u32(NFTA_BITWISE_LEN, mask.len() as u32)
        .nested(NFTA_BITWISE_MASK, value(mask))
        .nested(NFTA_BITWISE_XOR, value(&vec![0; mask.len()]));
    Expression { name: "bitwise", data: Some(data) }
}

/// Register 1 against `data`: the rule goes on only if `op` holds.
fn compare(op: u32, data: &[u8]) -> Expression {
    let data = Attributes::default()
        .u32(NFTA_CMP_SREG, NFT_REG_1)
        .u32(NFTA_CMP_OP, op)
        .nested(NFTA_CMP_DATA, value(data));
    Expression { name: "cmp", data: Some(data) }
}

fn immediate(register: u32, data: &[u8]) -> Expression {
    let data =
        Attributes::default().u32(NFTA_IMMEDIATE_DREG, register).nested(NFTA_IMMEDIATE_DATA, value(data));
    Expression { name: "immediate", data: Some(data) }
}

fn dnat() -> Expression {
    let data = Attributes::default()
        .u32(NFTA_NAT_TYPE, NFT_NAT_DNAT)
        .u32(NFTA_NAT_FAMILY, libc::AF_INET as u32)
        .u32(NFTA_NAT_REG_ADDR_MIN, NFT_REG_1)
        .u32(NFTA_NAT_REG_PROTO_MIN, NFT_REG_2)
        .u32(NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
    Expression { name: "nat", data: Some(data) }
}

/// Constant data, as expressions take it.
fn value(bytes: &[u8]) -> Attributes {
    Attributes::default().bytes(NFTA_DATA_VALUE, bytes)
}

// ---- netlink -------------------------------------------------------------------------------

/// Netlink attributes, each padded to 4 bytes; numbers in network order, as nf_tables
/// takes them.
#[derive(Default)]
struct Attributes(Vec<u8>);

impl Attributes {
    fn bytes(mut self, kind: u16, data: &[u8]) -> Self {
        let len = (NLA_HEADER + data.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(aligned(self.0.len()), 0);
        self
    }

    fn u32(self, kind: u16, value: u32) -> Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    /// A NUL-terminated string.
    fn string(self, kind: u16, text: &str) -> Self {
        self.bytes(kind, &[text.as_bytes(), &[0]].concat())
    }

    fn nested(self, kind: u16, inner: Attributes) -> Self {
        self.bytes(kind | NLA_F_NESTED, &inner.0)
    }
}

fn aligned(len: usize) -> usize {
    len.next_multiple_of(4)
}

/// BATCH_BEGIN (sequence 0), request i (sequence i + 1) each asking for an answer, BATCH_END.
fn batch(requests: &[Request]) -> Vec<u8> {
    let mut bytes = Vec::new();
    push_message(&mut bytes, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, BATCH_OF_NFTABLES, &[]);
    for (i, request) in requests.iter().enumerate() {
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | request.kind;
        let flags = NLM_F_REQUEST | NLM_F_ACK | request.flags;
        push_message(&mut bytes, kind, flags, i as u32 + 1, FAMILY_IP, &request.attributes.0);
    }
    let end = requests.len() as u32 + 1;
    push_message(&mut bytes, NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, BATCH_OF_NFTABLES, &[]);
    bytes
}

/// nfnetlink's header (family, version, resource id in network order) of a batch's ends...
const BATCH_OF_NFTABLES: [u8; NFGENMSG] =
    [libc::AF_UNSPEC as u8, NFNETLINK_V0, 0, NFNL_SUBSYS_NFTABLES as u8];
/// ... and of a request about family ip.
const FAMILY_IP: [u8; NFGENMSG] = [libc::AF_INET as u8, NFNETLINK_V0, 0, 0];

/// A netlink header, nfnetlink's, then the attributes.
fn push_message(
    bytes: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    sequence: u32,
    nfgenmsg: [u8; NFGENMSG],
    attributes: &[u8],
) {
    let len = (NLMSG_HEADER + NFGENMSG + attributes.len()) as u32;
    bytes.extend_from_slice(&len.to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&sequence.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(&nfgenmsg);
    bytes.extend_from_slice(attributes);
}

/// A NETLINK_NETFILTER socket of the calling thread's namespace, with room to send a batch
/// of `batch_len` bytes in one message and to hold the answers to `requests`, which come
/// all at once when the batch ends.
fn open(batch_len: usize, requests: usize) -> io::Result<OwnedFd> {
    let socket = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )?;
    socket::bind(socket.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
    let timeout = nix::sys::time::TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0);
    socket::setsockopt(&socket, sockopt::ReceiveTimeout, &timeout)?;
    let _ = socket::setsockopt(&socket, sockopt::SndBufForce, &(batch_len + SEND_SLACK));
    let _ = socket::setsockopt(&socket, sockopt::RcvBufForce, &((requests + 1) * ANSWER_ROOM));
    Ok(socket)
}

/// Room for the kernel's own bookkeeping in a send buffer.
const SEND_SLACK: usize = 4096;
/// Receive buffer per answer: each comes in a socket buffer of its own, about 1 KiB.
const ANSWER_ROOM: usize = 2048;

/// Reads answers until every request is acknowledged or one was refused: the first refusal
/// is the cause (the kernel checks the rest of a failed batch, which may fail for its sake).
fn await_answers(socket: &OwnedFd, requests: &[Request]) -> Result<(), Error> {
    let mut answered = vec![false; requests.len()];
    let mut waiting = requests.len();
    let mut buffer = vec![0u8; 64 << 10];
    while waiting > 0 {
        let len = match socket::recv(socket.as_raw_fd(), &mut buffer, MsgFlags::empty()) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Err(Error::NoAnswer),
            other => other.map_err(os)?,
        };
        for (sequence, errno) in answers(&buffer[..len]) {
            let request = (sequence as usize).checked_sub(1).filter(|i| *i < requests.len());
            if errno != 0 {
                return Err(refusal(request.map(|i| &requests[i]), Errno::from_raw(errno)));
            }
            if let Some(i) = request.filter(|i| !answered[*i]) {
                answered[i] = true;
                waiting -= 1;
            }
        }
    }
    Ok(())
}

/// The sequence number and errno (0 for an acknowledgement) of each NLMSG_ERROR message.
fn answers(mut bytes: &[u8]) -> Vec<(u32, i32)> {
    let mut found = Vec::new();
    while bytes.len() >= NLMSG_HEADER {
        let field = |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let len = field(0) as usize;
        if len < NLMSG_HEADER || len > bytes.len() {
            break;
        }
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        if kind == libc::NLMSG_ERROR as u16 && len >= NLMSG_HEADER + 4 {
            found.push((field(8), -(field(NLMSG_HEADER) as i32)));
        }
        bytes = &bytes[aligned(len).min(bytes.len())..];
    }
    found
}

/// The error for a refused request (`None`: the batch itself), told as "no NAT here" when
/// the refusal says the kernel lacks the IPv4 family, the nat chain type, or an expression
/// lab's rules use (a rule naming an expression the kernel has no module for: ENOENT).
fn refusal(request: Option<&Request>, errno: Errno) -> Error {
    let kind = request.map(|r| r.kind);
    // No IPv4 family: the table is refused (6.1's stable kernels check the family) or a
    // chain finds no type for it; no nat chain type: the chain finds none.
    let lacks_nat = matches!(
        (kind, errno),
        (None | Some(NFT_MSG_NEWTABLE), Errno::EOPNOTSUPP | Errno::EAFNOSUPPORT)
            | (Some(NFT_MSG_NEWCHAIN), Errno::ENOENT | Errno::EOPNOTSUPP)
            | (Some(NFT_MSG_NEWRULE), Errno::ENOENT)
    );
    if lacks_nat {
        return Error::Unsupported;
    }
    let doing =
        request.map_or_else(|| "starting a batch of nf_tables requests".to_string(), |r| r.doing.clone());
    Error::Refused { doing, errno }
}

fn os(errno: Errno) -> Error {
    Error::Os(OsError(errno.into()))
}

// ---- from the kernel's uapi: linux/netlink.h, netfilter/nfnetlink.h, nf_tables.h, nf_nat.h

const NLMSG_HEADER: usize = 16;
const NFGENMSG: usize = 4;
const NLA_HEADER: usize = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const NLM_F_REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const NLM_F_ACK: u16 = libc::NLM_F_ACK as u16;
const NLM_F_EXCL: u16 = libc::NLM_F_EXCL as u16;
const NLM_F_CREATE: u16 = libc::NLM_F_CREATE as u16;
const NLM_F_APPEND: u16 = libc::NLM_F_APPEND as u16;

const NFNETLINK_V0: u8 = 0;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = libc::NLMSG_MIN_TYPE as u16;
const NFNL_MSG_BATCH_END: u16 = NFNL_MSG_BATCH_BEGIN + 1;

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_ACCEPT: u32 = 1;

const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;

const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// Offsets in the IPv4 header and in a TCP or UDP header.
const IPV4_SADDR: u32 = 12;
const IPV4_DADDR: u32 = 16;
const TH_DPORT: u32 = 2;

const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;

const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;

const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_L4PROTO: u32 = 16;

const NFTA_FIB_DREG: u16 = 1;
const NFTA_FIB_RESULT: u16 = 2;
const NFTA_FIB_FLAGS: u16 = 3;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
/// linux/rtnetlink.h: the route type of the namespace's own addresses.
const RTN_LOCAL: u32 = 2;

const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFT_CT_STATUS: u32 = 2;
/// nf_conntrack_common.h: the connection's destination was translated.
const IPS_DST_NAT: u32 = 1 << 5;

const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFTA_NAT_FLAGS: u16 = 7;
const NFT_NAT_DNAT: u32 = 1;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 1 << 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested() {
        let inner = Attributes::default().string(NFTA_EXPR_NAME, "ct");
        assert_eq!(inner.0, [7, 0, 1, 0, b'c', b't', 0, 0]);
        let outer = Attributes::default().nested(NFTA_LIST_ELEM, inner).u32(2, 0x0102_0304);
        assert_eq!(outer.0[..4], [12, 0, 1, 0x80]);
        assert_eq!(outer.0[12..], [8, 0, 2, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_batch_is_framed_and_numbered() {
        let ruleset = every_expression();
        let requests = requests(&ruleset);
        let bytes = batch(&requests);
        let mut headers = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
            let sequence = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
            headers.push((kind, sequence));
            rest = &rest[len..];
        }
        assert_eq!(headers.len(), requests.len() + 2);
        assert_eq!(headers[0], (NFNL_MSG_BATCH_BEGIN, 0));
        assert_eq!(headers[1], (0x0a00, 1), "NEWTABLE of nf_tables, first");
        assert_eq!(*headers.last().unwrap(), (NFNL_MSG_BATCH_END, requests.len() as u32 + 1));
        let doing: Vec<&str> = requests.iter().map(|r| r.doing.as_str()).collect();
        assert_eq!(
            doing[..3],
            ["adding table ip lab", "adding chain prerouting", "adding rule 1 of chain prerouting"]
        );
    }

    #[test]
    fn answers_are_read_by_sequence() {
        let mut bytes = Vec::new();
        for (sequence, error) in [(1u32, 0i32), (2, -libc::EOPNOTSUPP)] {
            bytes.extend_from_slice(&36u32.to_ne_bytes());
            bytes.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
            bytes.extend_from_slice(&0u16.to_ne_bytes());
            bytes.extend_from_slice(&sequence.to_ne_bytes());
            bytes.extend_from_slice(&0u32.to_ne_bytes());
            bytes.extend_from_slice(&error.to_ne_bytes());
            bytes.extend_from_slice(&[0; 16]);
        }
        assert_eq!(answers(&bytes), [(1, 0), (2, libc::EOPNOTSUPP)]);
    }

    #[test]
    fn a_kernel_without_the_ipv4_family_is_told_apart() {
        let table = new_table();
        assert!(matches!(refusal(Some(&table), Errno::EOPNOTSUPP), Error::Unsupported));
        let rule = new_rule(Hook::Postrouting, 2, &ruleset_rule());
        assert!(
            matches!(refusal(Some(&rule), Errno::ENOENT), Error::Unsupported),
            "an expression without its module"
        );
        let refused = refusal(Some(&rule), Errno::EOPNOTSUPP);
        assert_eq!(
            refused.to_string(),
            "adding rule 2 of chain postrouting: operation not supported (os error 95)"
        );
    }

    fn ruleset_rule() -> Rule {
        Rule { matches: vec![Match::DestLocal], action: Action::Masquerade }
    }
}
