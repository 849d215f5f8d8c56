//! Topic templates: topic filters with variables, the members of a topic space.
//!
//! A template is levels separated by `/`. A level is `+`, `#` (last level only), or text in
//! which variables may stand for part or all of the level:
//! - `${client.authenticationName}`: the authentication name, in its original case;
//! - `${client.attributes.KEY}`: the attribute `KEY` (letters, digits, `_`).
//!
//! Event Grid documents one example with a suffix inside the braces,
//! `machines/${client.authenticationName|.factory1}/temp`; we read `${var|text}` as
//! `${var}text`. A `$` not followed by `{` is plain text, so `$SYS/#` is a valid template.
//!
//! # Substitution (where Event Grid is silent)
//! - A missing attribute, or an empty value, makes the template grant nothing.
//! - A value containing `/`, `+`, `#` or U+0000 would not stay within one level: it grants
//!   nothing. Neither does a value starting with `$` at the very start of the template,
//!   which would otherwise reach the reserved `$`-topics.
//! - An integer attribute stands for its decimal form.
//! - An array attribute expands the template once per element (elements that are not
//!   valid values are skipped); each occurrence of the same variable takes the same
//!   element, and several array variables expand to every combination. More expansions
//!   than the limit make the template grant nothing to that client, rather than an
//!   arbitrary part of it.

use std::fmt;

use crate::identity::{AttributeValue, ClientIdentity};

/// A parsed topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    levels: Vec<Level>,
    /// The filter itself, for a template without variables.
    fixed: Option<String>,
}

/// One level of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// `+`: any one level.
    SingleWildcard,
    /// `#`: any number of levels, including none (the last level only).
    MultiWildcard,
    /// Text and variables, concatenated.
    Segment(Vec<Part>),
}

/// A piece of a [`Level::Segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// A value of the client's.
    Variable(Variable),
}

/// A client value a template can refer to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variable {
    /// `${client.authenticationName}`.
    AuthenticationName,
    /// `${client.attributes.KEY}`.
    Attribute(String),
}

/// Why a template does not parse, at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {kind}")]
pub struct TemplateError {
    /// Byte offset into the template where the problem starts.
    pub position: usize,
    /// What is wrong.
    pub kind: TemplateErrorKind,
}

/// What is wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateErrorKind {
    /// The template is the empty string.
    #[error("template is empty")]
    Empty,
    /// `#` is not alone in the last level.
    #[error("`#` must be alone in the last level")]
    MisplacedMultiWildcard,
    /// `+` shares a level with other characters.
    #[error("`+` must be alone in its level")]
    MisplacedSingleWildcard,
    /// `${` without a closing `}` in the same level.
    #[error("`${{` has no closing `}}` in its level")]
    UnterminatedVariable,
    /// A variable name this broker does not know.
    #[error("unknown variable `{0}`: use `client.authenticationName` or `client.attributes.<key>`")]
    UnknownVariable(String),
    /// The text after `|` in a variable contains a wildcard or a brace.
    #[error("text after `|` must not contain `+`, `#`, `{{` or `}}`")]
    InvalidSuffix,
    /// The template starts with `$share/`, which names no topic.
    #[error(
        "a template cannot start with `$share/`: shared subscriptions are authorized on their topic filter"
    )]
    SharedSubscription,
    /// The template contains U+0000, which no topic may.
    #[error("U+0000 is not allowed in topics")]
    NullCharacter,
}

fn error(position: usize, kind: TemplateErrorKind) -> TemplateError {
    TemplateError { position, kind }
}

const AUTHENTICATION_NAME: &str = "client.authenticationName";
const ATTRIBUTES_PREFIX: &str = "client.attributes.";

impl Template {
    /// Parses a template.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        if source.is_empty() {
            return Err(error(0, TemplateErrorKind::Empty));
        }
        if let Some(pos) = source.find('\0') {
            return Err(error(pos, TemplateErrorKind::NullCharacter));
        }
        let count = source.split('/').count();
        let mut levels = Vec::with_capacity(count);
        let mut offset = 0;
        for (index, text) in source.split('/').enumerate() {
            levels.push(parse_level(text, offset, index + 1 == count)?);
            offset += text.len() + 1;
        }
        if source.starts_with("$share/") {
            return Err(error(0, TemplateErrorKind::SharedSubscription));
        }
        let mut template = Self {
            levels,
            fixed: None,
        };
        if !template.has_variables() {
            template.fixed = Some(source.to_owned());
        }
        Ok(template)
    }

    /// The topic filter a template without variables is, the same for every client.
    pub fn as_fixed(&self) -> Option<&str> {
        self.fixed.as_deref()
    }

    /// The template's levels.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Whether any level refers to a client value.
    pub fn has_variables(&self) -> bool {
        self.variables().next().is_some()
    }

    /// Every variable occurrence, in order.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.levels
            .iter()
            .flat_map(|level| match level {
                Level::Segment(parts) => parts.as_slice(),
                _ => &[],
            })
            .filter_map(|part| match part {
                Part::Variable(v) => Some(v),
                Part::Text(_) => None,
            })
    }

    /// The topic filters this template stands for, for one client (see the module docs).
    ///
    /// Returns no filter when the template grants this client nothing, including when it
    /// would expand to more than `max_expansions` filters.
    pub fn expand(&self, identity: &ClientIdentity, max_expansions: usize) -> Vec<String> {
        if let Some(fixed) = &self.fixed {
            return vec![fixed.clone()];
        }
        let mut distinct: Vec<&Variable> = Vec::new();
        for v in self.variables() {
            if !distinct.contains(&v) {
                distinct.push(v);
            }
        }
        let mut choices: Vec<Vec<String>> = Vec::with_capacity(distinct.len());
        let mut total: usize = 1;
        for v in &distinct {
            let values = values_of(v, identity);
            total = total.saturating_mul(values.len());
            if total == 0 || total > max_expansions {
                return Vec::new();
            }
            choices.push(values);
        }
        let mut out = Vec::with_capacity(total);
        let mut pick = vec![0usize; distinct.len()];
        loop {
            if let Some(filter) = self.render(&distinct, &choices, &pick) {
                out.push(filter);
            }
            if !advance(&mut pick, &choices) {
                return out;
            }
        }
    }

    /// The filter for one choice of values, unless a value would start a `$`-topic.
    fn render(
        &self,
        vars: &[&Variable],
        choices: &[Vec<String>],
        pick: &[usize],
    ) -> Option<String> {
        let value = |v: &Variable| {
            let i = vars.iter().position(|x| *x == v).unwrap_or(0);
            choices[i][pick[i]].as_str()
        };
        if let Some(Level::Segment(parts)) = self.levels.first() {
            if let Some(Part::Variable(v)) = parts.first() {
                if value(v).starts_with('$') {
                    return None;
                }
            }
        }
        let mut out = String::new();
        for (i, level) in self.levels.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            match level {
                Level::SingleWildcard => out.push('+'),
                Level::MultiWildcard => out.push('#'),
                Level::Segment(parts) => {
                    for part in parts {
                        match part {
                            Part::Text(t) => out.push_str(t),
                            Part::Variable(v) => out.push_str(value(v)),
                        }
                    }
                }
            }
        }
        Some(out)
    }
}

/// The usable values of a variable for a client: missing and invalid values dropped.
fn values_of(variable: &Variable, identity: &ClientIdentity) -> Vec<String> {
    let raw = match variable {
        Variable::AuthenticationName => vec![identity.authentication_name.clone()],
        Variable::Attribute(key) => match identity.attribute(key) {
            None => Vec::new(),
            Some(AttributeValue::String(s)) => vec![s.clone()],
            Some(AttributeValue::Integer(i)) => vec![i.to_string()],
            Some(AttributeValue::StringArray(items)) => items.clone(),
        },
    };
    raw.into_iter().filter(|v| is_level_value(v)).collect()
}

/// Whether a value stays within one topic level.
fn is_level_value(value: &str) -> bool {
    !value.is_empty() && !value.contains(['/', '+', '#', '\0'])
}

/// Steps the odometer of value choices; false once every combination was seen.
fn advance(pick: &mut [usize], choices: &[Vec<String>]) -> bool {
    for (i, p) in pick.iter_mut().enumerate().rev() {
        *p += 1;
        if *p < choices[i].len() {
            return true;
        }
        *p = 0;
    }
    false
}

fn parse_level(text: &str, offset: usize, last: bool) -> Result<Level, TemplateError> {
    match text {
        "+" => return Ok(Level::SingleWildcard),
        "#" if last => return Ok(Level::MultiWildcard),
        "#" => return Err(error(offset, TemplateErrorKind::MisplacedMultiWildcard)),
        _ => {}
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let at = offset + text.len() - rest.len();
        if let Some(after) = rest.strip_prefix("${") {
            let Some(close) = after.find('}') else {
                return Err(error(at, TemplateErrorKind::UnterminatedVariable));
            };
            let (variable, suffix) = parse_variable(&after[..close], at + 2)?;
            parts.push(Part::Variable(variable));
            if !suffix.is_empty() {
                push_text(&mut parts, suffix);
            }
            rest = &after[close + 1..];
            continue;
        }
        // Literal text up to the next variable (a lone `$` is text); `rest` does not start
        // with `${`, so any match is past its first character.
        let end = rest.find("${").unwrap_or(rest.len());
        let literal = &rest[..end];
        if let Some(i) = literal.find(['+', '#']) {
            let kind = if literal.as_bytes()[i] == b'+' {
                TemplateErrorKind::MisplacedSingleWildcard
            } else {
                TemplateErrorKind::MisplacedMultiWildcard
            };
            return Err(error(at + i, kind));
        }
        push_text(&mut parts, literal);
        rest = &rest[end..];
    }
    if parts.is_empty() {
        // An empty level, as in `a//b`, is a valid topic level.
        parts.push(Part::Text(String::new()));
    }
    Ok(Level::Segment(parts))
}

/// Parses the inside of `${...}`, starting at byte `at`; returns the variable and the
/// literal text after `|`, if any.
fn parse_variable(inner: &str, at: usize) -> Result<(Variable, &str), TemplateError> {
    let (name, suffix) = inner.split_once('|').unwrap_or((inner, ""));
    if suffix.contains(['+', '#', '{', '}']) {
        return Err(error(at + name.len() + 1, TemplateErrorKind::InvalidSuffix));
    }
    let variable = if name == AUTHENTICATION_NAME {
        Variable::AuthenticationName
    } else {
        match name.strip_prefix(ATTRIBUTES_PREFIX) {
            Some(key)
                if !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                Variable::Attribute(key.to_owned())
            }
            _ => {
                return Err(error(
                    at,
                    TemplateErrorKind::UnknownVariable(name.to_owned()),
                ));
            }
        }
    };
    Ok((variable, suffix))
}

fn push_text(parts: &mut Vec<Part>, text: &str) {
    if let Some(Part::Text(prev)) = parts.last_mut() {
        prev.push_str(text);
    } else {
        parts.push(Part::Text(text.to_owned()));
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthenticationName => write!(f, "${{{AUTHENTICATION_NAME}}}"),
            Self::Attribute(key) => write!(f, "${{{ATTRIBUTES_PREFIX}{key}}}"),
        }
    }
}

/// Prints the canonical form (`${var|text}` becomes `${var}text`).
impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, level) in self.levels.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match level {
                Level::SingleWildcard => f.write_str("+")?,
                Level::MultiWildcard => f.write_str("#")?,
                Level::Segment(parts) => {
                    for part in parts {
                        match part {
                            Part::Text(t) => f.write_str(t)?,
                            Part::Variable(v) => write!(f, "{v}")?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, TemplateError> {
        Self::parse(s)
    }
}
