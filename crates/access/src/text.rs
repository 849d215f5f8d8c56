//! Small string helpers shared by the modules.

/// Compares two strings ignoring case, Unicode-aware, without allocating.
///
/// Authentication names are unique and matched this way: Event Grid treats them as
/// case-insensitive while keeping their original case.
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// The key [`eq_ignore_case`] compares by, for hash maps of names.
pub(crate) fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Bytes `s` takes as a JSON string literal, quotes included.
pub(crate) fn json_string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
            c if u32::from(c) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_folding_is_unicode_aware() {
        assert!(eq_ignore_case("Straße-ÄÖ", "straße-äö"));
        assert!(!eq_ignore_case("abc", "abcd"));
        assert_eq!(fold_case("DeViCe"), "device");
    }

    #[test]
    fn json_length_counts_escapes() {
        assert_eq!(json_string_len("ab"), 4);
        assert_eq!(json_string_len("a\"b"), 6);
        assert_eq!(json_string_len("\u{1}"), 8);
        assert_eq!(json_string_len("é"), 4);
    }
}
