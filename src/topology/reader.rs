//! Typed access to one spanned TOML table: unknown keys, wrong types and missing keys all
//! become diagnostics in a shared sink, so that one run reports every problem of a file.

use super::diagnostic::{Diagnostic, Span};
use std::cell::RefCell;
use std::str::FromStr;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub type S<T> = Spanned<T>;

/// Collects diagnostics from every reader of one file.
#[derive(Default)]
pub struct Sink(RefCell<Vec<Diagnostic>>);

impl Sink {
    pub fn push(&self, diagnostic: Diagnostic) {
        self.0.borrow_mut().push(diagnostic);
    }

    pub fn into_inner(self) -> Vec<Diagnostic> {
        self.0.into_inner()
    }

    pub fn count_errors(&self) -> usize {
        self.0.borrow().iter().filter(|d| d.is_error()).count()
    }
}

/// One table of the file: `what` names it in messages ("a host interface"), `path` is
/// where it sits ("host", "" for the top), for examples of its sub-tables.
pub struct Table<'a, 'i> {
    table: &'a DeTable<'i>,
    pub span: Span,
    what: &'static str,
    path: &'static str,
    sink: &'a Sink,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Wraps a table and reports at once every key it does not know.
    pub fn new(
        table: &'a DeTable<'i>,
        span: Span,
        what: &'static str,
        known: &[&str],
        sink: &'a Sink,
    ) -> Self {
        for (key, _) in table.iter() {
            if !known.contains(&key.get_ref().as_ref()) {
                sink.push(unknown_key(key.get_ref(), key.span(), what, known));
            }
        }
        Table { table, span, what, path: "", sink }
    }

    /// Sets where the table sits in the file ("host", "router", ...).
    pub fn at(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }

    /// The keys written in the table, each with the span of its value.
    pub fn keys(&self) -> Vec<(String, Span)> {
        self.table.iter().map(|(k, v)| (k.get_ref().to_string(), v.span())).collect()
    }

    /// Whether `key` is written, whatever its value.
    pub fn has(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn value(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table.get(key)
    }

    fn type_error(&self, key: &str, value: &Spanned<DeValue<'_>>, expected: &str) {
        self.sink.push(
            Diagnostic::error(value.span(), format!("`{key}` must be {expected}"))
                .label(format!("this is {}", article(value.get_ref().type_str())))
                .help(format!("write it as {}", example(self.path, key, value.get_ref(), expected))),
        );
    }

    pub fn string(&self, key: &str) -> Option<S<String>> {
        let value = self.value(key)?;
        match value.get_ref().as_str() {
            Some(text) => Some(Spanned::new(value.span(), text.to_owned())),
            None => {
                self.type_error(key, value, "a string");
                None
            }
        }
    }

    /// A string that must be present; `help` says how to add it.
    pub fn required_string(&self, key: &str, help: &str) -> Option<S<String>> {
        if self.value(key).is_none() {
            self.sink.push(
                Diagnostic::error(self.span.clone(), format!("{} needs a `{key}`", self.what))
                    .label(format!("`{key}` missing here"))
                    .help(help),
            );
        }
        self.string(key)
    }

    pub fn bool(&self, key: &str) -> Option<S<bool>> {
        let value = self.value(key)?;
        match value.get_ref().as_bool() {
            Some(b) => Some(Spanned::new(value.span(), b)),
            None => {
                self.type_error(key, value, "true or false");
                None
            }
        }
    }

    pub fn integer(&self, key: &str) -> Option<S<i64>> {
        let value = self.value(key)?;
        integer_of(value).or_else(|| {
            self.integer_error(key, value);
            None
        })
    }

    /// A value that is not an integer, or one too large for any setting.
    fn integer_error(&self, key: &str, value: &Spanned<DeValue<'_>>) {
        if value.get_ref().as_integer().is_none() {
            return self.type_error(key, value, "an integer");
        }
        self.sink.push(
            Diagnostic::error(value.span(), format!("`{key}` is too large"))
                .label("out of range for any setting")
                .help("write a value in the range the key's documentation gives"),
        );
    }

    /// A string parsed into `T`; `expected` says what a good value looks like.
    pub fn parsed<T: FromStr>(&self, key: &str, expected: &str) -> Option<S<T>> {
        let text = self.string(key)?;
        self.parse_item(key, &text, expected)
    }

    fn parse_item<T: FromStr>(&self, key: &str, text: &S<String>, expected: &str) -> Option<S<T>> {
        match text.get_ref().parse::<T>() {
            Ok(parsed) => Some(Spanned::new(text.span(), parsed)),
            Err(_) => {
                self.sink.push(
                    Diagnostic::error(text.span(), format!("`{key}` has a bad value `{}`", text.get_ref()))
                        .label("cannot be read")
                        .help(format!("write {expected}")),
                );
                None
            }
        }
    }

    /// An array of strings; a single string is accepted as a one-element array.
    pub fn strings(&self, key: &str) -> Option<S<Vec<S<String>>>> {
        let value = self.value(key)?;
        if let Some(text) = value.get_ref().as_str() {
            return Some(Spanned::new(value.span(), vec![Spanned::new(value.span(), text.into())]));
        }
        let Some(array) = value.get_ref().as_array() else {
            self.type_error(key, value, "an array of strings");
            return None;
        };
        let mut items = Vec::new();
        for item in array.iter() {
            match item.get_ref().as_str() {
                Some(text) => items.push(Spanned::new(item.span(), text.to_owned())),
                None => self.type_error(key, item, "an array of strings"),
            }
        }
        Some(Spanned::new(value.span(), items))
    }

    /// An array of strings, each parsed into `T`.
    pub fn parsed_list<T: FromStr>(&self, key: &str, expected: &str) -> Option<S<Vec<S<T>>>> {
        let list = self.strings(key)?;
        let span = list.span();
        let items =
            list.into_inner().iter().filter_map(|text| self.parse_item(key, text, expected)).collect();
        Some(Spanned::new(span, items))
    }

    /// An array of integers; a single integer is accepted as a one-element array.
    pub fn integers(&self, key: &str) -> Option<S<Vec<S<i64>>>> {
        let value = self.value(key)?;
        if value.get_ref().as_integer().is_some() {
            return match integer_of(value) {
                Some(n) => Some(Spanned::new(value.span(), vec![n])),
                None => {
                    self.integer_error(key, value);
                    None
                }
            };
        }
        let Some(array) = value.get_ref().as_array() else {
            self.type_error(key, value, "an array of integers");
            return None;
        };
        let mut items = Vec::new();
        for item in array.iter() {
            match integer_of(item) {
                Some(n) => items.push(n),
                None if item.get_ref().as_integer().is_some() => self.integer_error(key, item),
                None => self.type_error(key, item, "an array of integers"),
            }
        }
        Some(Spanned::new(value.span(), items))
    }

    /// An array of tables (`[[host.iface]]`), each with its span; a single table is
    /// accepted as a one-element array.
    pub fn tables(&self, key: &str) -> Vec<(Span, &'a DeTable<'i>)> {
        let Some(value) = self.value(key) else { return Vec::new() };
        if let Some(table) = value.get_ref().as_table() {
            return vec![(value.span(), table)];
        }
        let Some(array) = value.get_ref().as_array() else {
            self.type_error(key, value, "an array of tables, written [[...]]");
            return Vec::new();
        };
        let mut tables = Vec::new();
        for item in array.iter() {
            match item.get_ref().as_table() {
                Some(table) => tables.push((item.span(), table)),
                None => self.type_error(key, item, "an array of tables"),
            }
        }
        tables
    }

    /// A sub-table, inline (`tagged = { ... }`) or not (`[host.sysctl]`).
    pub fn table(&self, key: &str) -> Option<(Span, &'a DeTable<'i>)> {
        let value = self.value(key)?;
        match value.get_ref().as_table() {
            Some(table) => Some((value.span(), table)),
            None => {
                self.type_error(key, value, "a table");
                None
            }
        }
    }

    /// A string, or a number written as text (`5` and `"5%"` alike).
    pub fn scalar_value(&self, key: &str) -> Option<S<String>> {
        let value = self.value(key)?;
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(n) => n.to_string(),
            DeValue::Float(f) => f.to_string(),
            _ => {
                self.type_error(key, value, "a string or a number");
                return None;
            }
        };
        Some(Spanned::new(value.span(), text))
    }

    /// Every entry of a table whose values are strings, integers or booleans (sysctl values;
    /// a boolean is written as 1 or 0).
    pub fn scalar_entries(&self, key: &str) -> Vec<(S<String>, S<String>)> {
        let Some((_, table)) = self.table(key) else { return Vec::new() };
        let mut entries = Vec::new();
        for (k, v) in table.iter() {
            let text = match v.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(n) => n.to_string(),
                DeValue::Boolean(b) => u8::from(*b).to_string(),
                _ => {
                    self.type_error(k.get_ref(), v, "a string or an integer");
                    continue;
                }
            };
            entries.push((Spanned::new(k.span(), k.get_ref().to_string()), Spanned::new(v.span(), text)));
        }
        entries
    }
}

fn integer_of(value: &Spanned<DeValue<'_>>) -> Option<S<i64>> {
    let integer = value.get_ref().as_integer()?;
    let n = i64::from_str_radix(integer.as_str(), integer.radix()).ok()?;
    Some(Spanned::new(value.span(), n))
}

/// How a value of the expected type is written, for the help line of a type error; a
/// number or boolean written as a string is shown unquoted.
fn example(path: &str, key: &str, found: &DeValue<'_>, expected: &str) -> String {
    let key = if key.contains('.') { format!("\"{key}\"") } else { key.to_owned() };
    let quoted = found.as_str().map(str::trim);
    match expected {
        "a string" => format!("`{key} = \"...\"`, in double quotes"),
        "true or false" => match quoted {
            Some(b @ ("true" | "false")) => format!("`{key} = {b}`, without quotes"),
            _ => format!("`{key} = true` or `{key} = false`, without quotes"),
        },
        "an integer" => match quoted.filter(|n| n.parse::<i64>().is_ok()) {
            Some(n) => format!("`{key} = {n}`, without quotes"),
            None => format!("`{key} = 10`, without quotes"),
        },
        "an array of strings" => format!("`{key} = [\"...\", \"...\"]`"),
        "an array of integers" => format!("`{key} = [10, 20]`, without quotes"),
        "a table" => format!("`{key} = {{ \"...\" = \"...\" }}`"),
        "a string or an integer" => format!("`{key} = \"1\"` or `{key} = 1`"),
        _ if path.is_empty() => format!("one `[[{key}]]` section per entry"),
        _ => format!("`{key} = [{{ ... }}]`, or one `[[{path}.{key}]]` section per entry"),
    }
}

fn article(type_str: &str) -> String {
    let an = matches!(type_str.chars().next(), Some('a' | 'e' | 'i' | 'o' | 'u'));
    format!("{} {type_str}", if an { "an" } else { "a" })
}

/// Words other tools (`ip link`, containerlab, netlab, Docker) use for keys of ours.
const SYNONYMS: &[(&str, &str)] = &[
    ("ip", "addresses"),
    ("ipv4", "addresses"),
    ("ipv6", "addresses"),
    ("address", "addresses"),
    ("addr", "addresses"),
    ("ip_address", "addresses"),
    ("gw", "gateway"),
    ("type", "kind"),
    ("vlan", "access"),
    ("vid", "id"),
    ("dev", "parent"),
    ("master", "link"),
    ("ifname", "name"),
];

fn unknown_key(key: &str, span: Span, what: &str, known: &[&str]) -> Diagnostic {
    let diagnostic =
        Diagnostic::error(span, format!("unknown key `{key}` in {what}")).label("not a key of this table");
    let synonym =
        SYNONYMS.iter().find(|(word, ours)| *word == key && known.contains(ours)).map(|(_, ours)| *ours);
    match synonym.or_else(|| closest(key, known.iter().copied())) {
        Some(best) => diagnostic.help(format!("did you mean `{best}`?")),
        None => diagnostic.help(format!("the keys of {what} are: {}", known.join(", "))),
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance < word.len() && *distance <= 2.max(c.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}
