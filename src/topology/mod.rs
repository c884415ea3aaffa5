//! Topology parsing and validation: a TOML file becomes a checked `model::Lab`, or every
//! problem found in it (file:line:column, the line, and a fix); a TOML syntax error stops
//! the reading, so only the first of those is reported.
//! No privileges, no kernel: this stage only reads text.

pub mod diagnostic;
pub(crate) mod document;
pub(crate) mod reader;
pub(crate) mod validate;

pub use diagnostic::{Diagnostic, Severity, Source};
pub use validate::{MAX_DEADLINE, MAX_TIMEOUT, lab_name_problem};

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

/// The largest topology file read: far above any real lab (10,000 hosts take about 1 MiB).
pub const MAX_FILE_SIZE: u64 = 8 << 20;

/// A topology file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}", path.display())]
pub struct ReadError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: crate::kernel::OsError,
}

/// Reads and checks a topology file; a read error names the file, and a file that is not
/// UTF-8 text is a diagnostic at its first bad byte.
pub fn load(path: &Path) -> Result<Checked, ReadError> {
    let bytes = read_capped(path).map_err(|e| ReadError { path: path.to_path_buf(), source: e.into() })?;
    let name = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => Ok(check(Source::new(name, text))),
        Err(e) => Ok(not_utf8(name, e)),
    }
}

/// The bytes of a regular file of at most `MAX_FILE_SIZE` bytes. Opened without blocking,
/// so that a FIFO or a device is refused rather than waited on or read forever.
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a topology is a .toml file)",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("larger than {} MiB, the most lab reads", MAX_FILE_SIZE >> 20),
        ));
    }
    Ok(bytes)
}

fn not_utf8(name: String, error: std::string::FromUtf8Error) -> Checked {
    let at = error.utf8_error().valid_up_to();
    let source = Source::new(name, String::from_utf8_lossy(error.as_bytes()).into_owned());
    let diagnostic = Diagnostic::error(at..at + 1, "the file is not UTF-8 text")
        .label("this byte is not UTF-8")
        .help("TOML files are UTF-8: save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)");
    Checked { source, lab: None, diagnostics: vec![diagnostic] }
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

/// The lab as a live lab is: `text` (as it was brought up) after its first `upto` steps, then
/// `actions` (`lab do`). The checked source is the text with the actions after it, one a
/// line, so that messages can point into either.
pub fn live(name: &str, text: &str, upto: usize, actions: &[String]) -> Checked {
    let mut combined = format!("{text}\n# lab do\n");
    let mut written = Vec::new();
    for action in actions {
        let action = action.replace(['\n', '\r'], " ");
        let start = combined.len();
        combined.push_str(&action);
        combined.push('\n');
        let text = toml::Spanned::new(start..start + action.len(), action);
        written.push(validate::steps::ActionText { text, base: Some(start) });
    }
    let source = Source::new(name, combined);
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if let Some(first) = syntax_errors.first() {
        let diagnostics = vec![syntax_error(&source, first)];
        return Checked { source, lab: None, diagnostics };
    }
    let sink = reader::Sink::default();
    let document = document::read(root.get_ref(), root.span(), &sink);
    let lab = validate::validate_state(&document, &source, &sink)
        .and_then(|initial| validate::steps::live(&document, &source, &sink, &initial, upto, &written));
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
