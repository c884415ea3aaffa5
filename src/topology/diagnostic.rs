//! Errors and warnings about a topology file, located by byte span and rendered once:
//! a miette report for people (file:line:column, the line, a marker, a fix), or JSON.

use miette::LabeledSpan;
use serde::Serialize;
use std::fmt::{self, Write as _};

pub type Span = std::ops::Range<usize>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
    /// Other places that explain the problem (the first definition of a duplicate, ...).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, span, message)
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, span, message)
    }

    fn new(severity: Severity, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A topology file's name (as the user gave it) and text.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    /// Byte offset of each line's start, for locating spans without rescanning.
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Source { name: name.into(), text, line_starts }
    }

    /// 0-based index of the line that holds a byte offset.
    fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= offset) - 1
    }

    /// 1-based line and column of a byte offset. The column counts bytes, as the rendered
    /// report (miette) does, so that both name the same place.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let line_start = self.line_starts[line - 1];
        (line, offset - line_start + 1)
    }
}

/// At most this many diagnostics are rendered for people; JSON carries them all.
pub const RENDERED: usize = 200;

/// Renders diagnostics of one file for a terminal (`color`) or a log: the first `RENDERED`,
/// then how many more there are. Each one costs the lines it shows, not the file's size.
pub fn render(source: &Source, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme =
        if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    // Control characters of the file are shown as `?`: they would act on the terminal.
    let shown = Source::new(source.name.clone(), crate::report::printable(&source.text));
    for diagnostic in diagnostics.iter().take(RENDERED) {
        let printable = |t: &str| crate::report::printable(t).into_owned();
        let diagnostic = &Diagnostic {
            message: printable(&diagnostic.message),
            label: printable(&diagnostic.label),
            help: diagnostic.help.as_deref().map(printable),
            related: diagnostic.related.iter().map(|(s, l)| (s.clone(), printable(l))).collect(),
            ..diagnostic.clone()
        };
        let view = MietteView { diagnostic, source: &shown };
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &view);
    }
    if let Some(more) = diagnostics.len().checked_sub(RENDERED).filter(|n| *n > 0) {
        let _ =
            writeln!(out, "... and {more} more not shown here (`lab validate --json FILE` lists every one)");
    }
    out
}

impl miette::SourceCode for Source {
    /// The lines around a span, found through the line index: miette's own reader for
    /// text scans from the start of the file, which is quadratic over many diagnostics.
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let start = span.offset().min(self.text.len());
        let end = (span.offset() + span.len()).min(self.text.len());
        let first_line = self.line_index(start).saturating_sub(context_lines_before);
        let after_last = self.line_index(end.saturating_sub(1).max(start)) + context_lines_after + 2;
        let window_start = self.line_starts[first_line];
        let window_end = self.line_starts.get(after_last).copied().unwrap_or(self.text.len());
        let window = &self.text.as_bytes()[window_start..window_end];
        let inner = (start - window_start, end - start).into();
        let contents = window.read_span(&inner, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            (contents.span().offset() + window_start, contents.span().len()).into(),
            contents.line() + first_line,
            contents.column(),
            contents.line_count() + first_line,
        )))
    }
}

/// The JSON form of a diagnostic, with the location resolved.
#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub severity: Severity,
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub message: &'a str,
    pub label: &'a str,
    pub help: Option<&'a str>,
}

pub fn to_json<'a>(source: &'a Source, diagnostic: &'a Diagnostic) -> JsonDiagnostic<'a> {
    let (line, column) = source.line_col(diagnostic.span.start);
    JsonDiagnostic {
        severity: diagnostic.severity,
        file: &source.name,
        line,
        column,
        message: &diagnostic.message,
        label: &diagnostic.label,
        help: diagnostic.help.as_deref(),
    }
}

struct MietteView<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a Source,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let help = self.diagnostic.help.as_ref()?;
        Some(Box::new(help))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let d = self.diagnostic;
        let label = (!d.label.is_empty()).then(|| d.label.clone());
        let primary = LabeledSpan::new_primary_with_span(label, d.span.clone());
        let related = d
            .related
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), span.clone()));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// A word with its indefinite article: "a macvlan", "an ipvlan".
pub fn a(word: &str) -> String {
    let vowel = word.chars().next().is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {word}", if vowel { "an" } else { "a" })
}
