//! Capture filters: a small language in tcpdump's words, checked against what a frame
//! carries (`frame::Contents`). `icmp`, `icmp6`, `arp`, `ip`, `ip6`, `tcp`, `udp`, `vlan
//! [ID]`, `host ADDR`, `src ADDR`, `dst ADDR`, `port N`, `ether host MAC`, `broadcast`,
//! joined with `and` (or side by side), `or`, `not` (or `&&`, `||`, `!`) and parentheses. Unlike tcpdump's,
//! `vlan` matches a tag anywhere on the frame, and the words after it still look inside.
//! Pure: parses text, reads frames.

use super::frame::{ARP, Contents, IPV4, IPV6};
use pnet::util::MacAddr;
use std::net::IpAddr;

/// A parsed filter; the empty filter takes every frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter(Option<Expr>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Is(Word),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Word {
    Icmp,
    Icmp6,
    Arp,
    Ip,
    Ip6,
    Tcp,
    Udp,
    Vlan(Option<u16>),
    Host(IpAddr),
    Source(IpAddr),
    Destination(IpAddr),
    Port(u16),
    EtherHost(MacAddr),
    Broadcast,
}

/// Why a filter does not parse, and at which byte of it.
#[derive(Debug, PartialEq, Eq)]
pub struct FilterError {
    pub at: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "filter, column {}: {}", self.at + 1, self.message)
    }
}

const WORDS: &str = "icmp, icmp6, arp, ip, ip6, tcp, udp, vlan [ID], host ADDR, src ADDR, dst ADDR, port N, ether host MAC, broadcast";

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = tokens(text);
        if tokens.is_empty() {
            return Ok(Filter(None));
        }
        let mut parser = Parser { tokens, next: 0, end: text.len() };
        let expr = parser.or()?;
        match parser.tokens.get(parser.next) {
            None => Ok(Filter(Some(expr))),
            Some((at, token)) => {
                Err(FilterError { at: *at, message: format!("`{token}` has no `(` to close") })
            }
        }
    }

    pub fn takes(&self, frame: &Contents) -> bool {
        self.0.as_ref().is_none_or(|e| e.takes(frame))
    }
}

impl Expr {
    fn takes(&self, frame: &Contents) -> bool {
        match self {
            Expr::Is(word) => word.takes(frame),
            Expr::Not(e) => !e.takes(frame),
            Expr::And(a, b) => a.takes(frame) && b.takes(frame),
            Expr::Or(a, b) => a.takes(frame) || b.takes(frame),
        }
    }
}

impl Word {
    fn takes(&self, frame: &Contents) -> bool {
        let ip = matches!(frame.ethertype, IPV4 | IPV6);
        match self {
            Word::Icmp => frame.ethertype == IPV4 && frame.protocol == Some(1),
            Word::Icmp6 => frame.ethertype == IPV6 && frame.protocol == Some(58),
            Word::Arp => frame.ethertype == ARP,
            Word::Ip => frame.ethertype == IPV4,
            Word::Ip6 => frame.ethertype == IPV6,
            Word::Tcp => ip && frame.protocol == Some(6),
            Word::Udp => ip && frame.protocol == Some(17),
            Word::Vlan(None) => !frame.tags.is_empty(),
            Word::Vlan(Some(id)) => frame.tags.contains(id),
            Word::Host(a) => frame.source == Some(*a) || frame.destination == Some(*a),
            Word::Source(a) => frame.source == Some(*a),
            Word::Destination(a) => frame.destination == Some(*a),
            Word::Port(p) => frame.ports.is_some_and(|(s, d)| s == *p || d == *p),
            Word::EtherHost(m) => frame.source_mac == Some(*m) || frame.destination_mac == Some(*m),
            Word::Broadcast => frame.destination_mac == Some(MacAddr::broadcast()),
        }
    }
}

/// The filter's words and symbols, each with where it starts.
fn tokens(text: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if "()!".contains(c) {
            tokens.push((at, c.to_string()));
            continue;
        }
        let mut word = c.to_string();
        while let Some((_, next)) = chars.peek().copied() {
            if next.is_whitespace() || "()!".contains(next) {
                break;
            }
            word.push(next);
            chars.next();
        }
        tokens.push((at, word));
    }
    tokens
}

struct Parser {
    tokens: Vec<(usize, String)>,
    next: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.next).map(|(_, t)| t.as_str())
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(at, _)| *at)
    }

    fn take(&mut self) -> Option<(usize, String)> {
        let token = self.tokens.get(self.next).cloned();
        self.next += usize::from(token.is_some());
        token
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut expr = self.and()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.take();
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut expr = self.not()?;
        // Words side by side are joined by `and`, as in tcpdump's `tcp port 80`.
        while self.peek().is_some_and(|t| !matches!(t, "or" | "||" | ")")) {
            if matches!(self.peek(), Some("and" | "&&")) {
                self.take();
            }
            expr = Expr::And(Box::new(expr), Box::new(self.not()?));
        }
        Ok(expr)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if matches!(self.peek(), Some("not" | "!")) {
            self.take();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some("(") {
            self.take();
            let expr = self.or()?;
            if self.peek() != Some(")") {
                return Err(self.error("a `(` is not closed; add `)`"));
            }
            self.take();
            return Ok(expr);
        }
        self.word().map(Expr::Is)
    }

    fn word(&mut self) -> Result<Word, FilterError> {
        let Some((at, token)) = self.take() else {
            return Err(self.error(&format!("a word is missing here; the filter knows: {WORDS}")));
        };
        Ok(match token.as_str() {
            "icmp" => Word::Icmp,
            "icmp6" => Word::Icmp6,
            "arp" => Word::Arp,
            "ip" => Word::Ip,
            "ip6" => Word::Ip6,
            "tcp" => Word::Tcp,
            "udp" => Word::Udp,
            "broadcast" => Word::Broadcast,
            "vlan" => Word::Vlan(self.optional_number(4094)?),
            "host" => Word::Host(self.address()?),
            "src" => Word::Source(self.address_after("host")?),
            "dst" => Word::Destination(self.address_after("host")?),
            "port" => Word::Port(self.number(65535)?),
            "ether" => {
                self.expect("host")?;
                Word::EtherHost(self.mac()?)
            }
            other => {
                return Err(FilterError {
                    at,
                    message: format!("`{other}` is no filter word; the filter knows: {WORDS}"),
                });
            }
        })
    }

    fn error(&self, message: &str) -> FilterError {
        FilterError { at: self.at(), message: message.into() }
    }

    fn expect(&mut self, word: &str) -> Result<(), FilterError> {
        if self.peek() != Some(word) {
            return Err(self.error(&format!("`{word}` is missing here")));
        }
        self.take();
        Ok(())
    }

    fn address_after(&mut self, optional: &str) -> Result<IpAddr, FilterError> {
        if self.peek() == Some(optional) {
            self.take();
        }
        self.address()
    }

    fn address(&mut self) -> Result<IpAddr, FilterError> {
        let at = self.at();
        let token = self.take().map(|(_, t)| t).unwrap_or_default();
        token.parse().map_err(|_| FilterError {
            at,
            message: format!("`{token}` is not an IP address; write e.g. 10.0.0.1 or fd00::1"),
        })
    }

    fn mac(&mut self) -> Result<MacAddr, FilterError> {
        let at = self.at();
        let token = self.take().map(|(_, t)| t).unwrap_or_default();
        token.parse().map_err(|_| FilterError {
            at,
            message: format!("`{token}` is not a MAC address; write e.g. 02:00:00:00:00:01"),
        })
    }

    fn number(&mut self, most: u16) -> Result<u16, FilterError> {
        let at = self.at();
        let token = self.take().map(|(_, t)| t).unwrap_or_default();
        match token.parse::<u16>() {
            Ok(n) if n <= most => Ok(n),
            _ => Err(FilterError { at, message: format!("`{token}` is not a number from 0 to {most}") }),
        }
    }

    fn optional_number(&mut self, most: u16) -> Result<Option<u16>, FilterError> {
        match self.peek() {
            Some(t) if t.starts_with(|c: char| c.is_ascii_digit()) => self.number(most).map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tags: &[u16], protocol: u8, source: &str, ports: Option<(u16, u16)>) -> Contents {
        Contents {
            tags: tags.to_vec(),
            ethertype: IPV4,
            protocol: Some(protocol),
            source: source.parse().ok(),
            destination: "10.0.0.9".parse().ok(),
            ports,
            ..Contents::default()
        }
    }

    fn takes(filter: &str, frame: &Contents) -> bool {
        Filter::parse(filter).unwrap().takes(frame)
    }

    #[test]
    fn words_take_what_they_name() {
        let echo = frame(&[19], 1, "10.0.0.1", None);
        let web = frame(&[], 6, "10.0.0.2", Some((40000, 80)));
        assert!(takes("", &echo));
        assert!(takes("icmp", &echo) && !takes("icmp", &web));
        assert!(takes("vlan 19 and icmp", &echo) && !takes("vlan 20", &echo) && takes("vlan", &echo));
        assert!(takes("tcp port 80", &web) && !takes("port 81", &web));
        assert!(
            takes("src host 10.0.0.2", &web) && takes("dst 10.0.0.9", &web) && takes("host 10.0.0.9", &echo)
        );
        assert!(takes("not vlan", &web) && takes("!(icmp or arp)", &web));
        assert!(takes("icmp || tcp && port 80", &web));
        assert!(!takes("arp", &echo) && !takes("ip6", &echo) && takes("ip", &echo));
    }

    #[test]
    fn errors_say_where_and_what_is_known() {
        let error = Filter::parse("icmp and vlen 19").unwrap_err();
        assert_eq!(error.at, 9);
        assert!(error.message.contains("`vlen` is no filter word") && error.message.contains("vlan [ID]"));
        assert_eq!(Filter::parse("(icmp").unwrap_err().message, "a `(` is not closed; add `)`");
        assert!(Filter::parse("vlan 5000").unwrap_err().message.contains("0 to 4094"));
        assert!(Filter::parse("host nowhere").unwrap_err().message.contains("not an IP address"));
        assert!(Filter::parse("icmp)").unwrap_err().message.contains("no `(` to close"));
        assert!(!takes("icmp arp", &frame(&[], 1, "10.0.0.1", None)), "side by side is `and`");
        assert!(Filter::parse("icmp and").unwrap_err().message.contains("a word is missing"));
        assert!(Filter::parse("ether 1").unwrap_err().message.contains("`host` is missing"));
    }
}
