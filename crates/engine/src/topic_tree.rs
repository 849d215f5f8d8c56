//! Topic trees: the index behind subscription matching and retained-message lookup.
