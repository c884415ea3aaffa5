//! Topology parsing and validation: a TOML file becomes a checked `model::Lab`, or every
//! problem found in it (file:line:column, the line, and a fix); a TOML syntax error stops
//! the reading, so only the first of those is reported.
//! No privileges, no kernel: this stage only reads text.

pub mod diagnostic;
mod document;
mod reader;
mod validate;

pub use diagnostic::{Diagnostic, Severity, Source};

use crate::model::Lab;
use std::path::Path;
use toml::de::DeTable;

/// The outcome of checking one file: the lab when it is valid, and every diagnostic.
pub struct Checked {
    pub source: Source,
    pub lab: Option<Lab>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Reads and checks a topology file; a read error names the file.
pub fn load(path: &Path) -> std::io::Result<Checked> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    Ok(check(Source::new(path.display().to_string(), text)))
}

/// Checks topology text; `source.name` is how messages name the file.
pub fn check(source: Source) -> Checked {
    let (root, syntax_errors) = DeTable::parse_recoverable(&source.text);
    // Errors after the first are often echoes of it (the parser's recovery guesses), so
    // only the first is reported.
    if let Some(first) = syntax_errors.first() {
        let diagnostics = vec![syntax_error(&source, first)];
        return Checked { source, lab: None, diagnostics };
    }
    let sink = reader::Sink::default();
    let document = document::read(root.get_ref(), root.span(), &sink);
    let lab = validate::validate(&document, &source, &sink);
    let mut diagnostics = sink.into_inner();
    diagnostics.sort_by_key(|d| (d.span.start, d.severity == Severity::Warning));
    diagnostics.dedup();
    let lab = lab.filter(|_| diagnostics.iter().all(|d| !d.is_error()));
    Checked { source, lab, diagnostics }
}

fn syntax_error(source: &Source, error: &toml::de::Error) -> Diagnostic {
    let span = error.span().unwrap_or(0..0);
    let span = span.start.min(source.text.len())..span.end.min(source.text.len());
    let message = error.message().trim_end().to_string();
    Diagnostic::error(span, format!("TOML syntax: {message}"))
        .label("here")
        .help("fix the TOML syntax; the topology is checked once the file parses")
}
