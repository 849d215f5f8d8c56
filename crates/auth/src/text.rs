//! Small string helpers.

/// The case-folded form authentication names are compared by: Event Grid treats them as
/// case-insensitive while keeping their original case.
pub(crate) fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Compares two strings the way [`fold_case`] does, without allocating.
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Whether `key` can name a client attribute: letters, digits and underscores.
pub(crate) fn is_attribute_name(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
