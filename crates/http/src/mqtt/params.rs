//! Request parameters of the MQTT routes: the query string, decoded the way Event Grid
//! documents it (percent-encoding, where `+` is a plus sign and not a space, since it
//! is MQTT's single-level wildcard), and the `api-version` check.

use crate::error::{ApiError, FieldError};

/// The `api-version` values Event Grid documents for HTTP Publish and the retained API;
/// all are accepted on every route.
pub const API_VERSIONS: [&str; 3] = [
    "2025-02-15-preview",
    "2025-08-01-preview",
    "2025-11-16-preview",
];

/// The decoded query parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Splits and percent-decodes `raw`; a name or value that is not UTF-8 once
    /// decoded is an error naming it.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        let mut errors = Vec::new();
        for part in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = percent_encoding::percent_decode_str(name).decode_utf8();
            let value = percent_encoding::percent_decode_str(value).decode_utf8();
            match (name, value) {
                (Ok(name), Ok(value)) => pairs.push((name.into_owned(), value.into_owned())),
                (Ok(name), Err(_)) => errors.push(FieldError::new(
                    name.into_owned(),
                    "is not UTF-8 once percent-decoded",
                )),
                (Err(_), _) => errors.push(FieldError::new(
                    "",
                    "a query parameter name is not UTF-8 once percent-decoded",
                )),
            }
        }
        if errors.is_empty() {
            Ok(Self { pairs })
        } else {
            Err(ApiError::invalid("bad query parameters", errors))
        }
    }

    /// The value of `name`; given twice it is an error, as the two could disagree.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, FieldError> {
        let mut values = self.pairs.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(FieldError::new(name, "is given more than once"));
        }
        Ok(first)
    }

    /// Checks `api-version`: absent, or one of [`API_VERSIONS`].
    pub(crate) fn check_api_version(&self) -> Result<(), FieldError> {
        match self.get("api-version")? {
            None => Ok(()),
            Some(v) if API_VERSIONS.contains(&v) => Ok(()),
            Some(v) => Err(FieldError::new(
                "api-version",
                format!(
                    "{v:?} is not supported; supported versions: {}",
                    API_VERSIONS.join(", ")
                ),
            )),
        }
    }
}

/// Collects field errors; `finish` turns any into one 400.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    /// The value of `result`, or `None` after noting its error.
    pub(crate) fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// Notes an error.
    pub(crate) fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// `Ok` when nothing was noted, else a 400 naming every bad parameter.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.0.iter().map(|e| e.field.as_str()).collect();
        let detail = format!("invalid request parameters: {}", names.join(", "));
        Err(ApiError::invalid(detail, self.0))
    }
}

/// Percent-encodes `text` for a header value: bytes outside visible ASCII, and `%`.
pub(crate) fn percent_encode_header(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b' ').add(b'%');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_plus_and_percent_escapes_decode() {
        let query =
            Query::parse(Some("topicFilter=a%2F%2B%2Fb&x=a+b&empty&topic=caf%C3%A9")).unwrap();
        assert_eq!(query.get("topicFilter").unwrap(), Some("a/+/b"));
        assert_eq!(query.get("x").unwrap(), Some("a+b"));
        assert_eq!(query.get("empty").unwrap(), Some(""));
        assert_eq!(query.get("topic").unwrap(), Some("café"));
        assert_eq!(query.get("missing").unwrap(), None);
    }

    #[test]
    fn bad_encodings_and_repeats_are_named() {
        let error = Query::parse(Some("topic=%FF")).unwrap_err();
        assert_eq!(error.errors()[0].field, "topic");
        let query = Query::parse(Some("topic=a&topic=b")).unwrap();
        assert_eq!(query.get("topic").unwrap_err().field, "topic");
    }

    #[test]
    fn api_versions() {
        for version in API_VERSIONS {
            let query = Query::parse(Some(&format!("api-version={version}"))).unwrap();
            assert!(query.check_api_version().is_ok());
        }
        assert!(Query::parse(None).unwrap().check_api_version().is_ok());
        let error = Query::parse(Some("api-version=2020-01-01"))
            .unwrap()
            .check_api_version()
            .unwrap_err();
        assert!(error.message.contains("2025-02-15-preview"), "{error:?}");
    }

    #[test]
    fn header_encoding_keeps_visible_ascii() {
        assert_eq!(percent_encode_header("a/b-c_d"), "a/b-c_d");
        assert_eq!(percent_encode_header("é 100%"), "%C3%A9%20100%25");
    }
}
