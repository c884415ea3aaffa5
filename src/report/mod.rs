//! Reporting: what lab prints about a lab or a verification, for people (tables,
//! summaries) and machines (JSON, JUnit). Formats results; decides nothing.

pub mod html;
pub mod junit;
pub mod steps;
pub mod summary;
pub mod table;

/// Text from a topology file made safe to print on a terminal: every control character
/// (escape sequences, carriage returns, bells) but newline and tab becomes `?`, one per
/// byte, so that byte offsets into the text stay right.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| if unsafe_char(c) { "?".repeat(c.len_utf8()) } else { c.to_string() })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_not_printed_and_offsets_stay() {
        let text = "a\u{1b}[2Jb\r\u{85}c\td\n";
        let shown = super::printable(text);
        assert_eq!(shown, "a?[2Jb???c\td\n");
        assert_eq!(shown.len(), text.len());
        assert!(matches!(super::printable("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
