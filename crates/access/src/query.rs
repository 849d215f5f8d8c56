//! The client group query language: which clients belong to a group.
//!
//! Event Grid documents the language by example only; this is our grammar, of which
//! Event Grid's is a subset (additions marked *ext*):
//!
//! ```text
//! query      := or_expr END
//! or_expr    := and_expr ( OR and_expr )*
//! and_expr   := unary ( AND unary )*
//! unary      := NOT unary | primary                       ; NOT: ext
//! primary    := '(' or_expr ')'
//!             | EXISTS '(' operand ')'                    ; ext
//!             | operand ( '=' | '<>' | '!=' ) literal
//!             | operand ( '<' | '>' | '<=' | '>=' ) integer
//!             | operand IN '[' literal ( ',' literal )* ']'
//! operand    := 'authenticationName' | 'attributes.' KEY ; KEY = [A-Za-z0-9_]+
//! literal    := string | integer
//! string     := '...' | "..."        ; the quote doubled inside stands for itself (ext)
//! integer    := '-'? [0-9]+          ; 64-bit
//! ```
//!
//! Keywords (`and`, `or`, `in`, `not`, `exists`) and the operand words are case-insensitive.
//! Attribute keys and string values are case-sensitive.
//!
//! # Semantics where Event Grid is silent
//! - A comparison with a missing attribute is false, whatever the operator, so `<>` is not
//!   the negation of `=`: `x <> v` means "x is present and not equal to v". Use `not` for
//!   the complement and `exists(...)` to test presence.
//! - Values are typed: the string `"3"` does not equal the integer `3`; the ordering
//!   operators hold only between integers.
//! - An array attribute satisfies `=` and `IN` if any element does, and `<>` if no element
//!   is equal.
//! - `authenticationName` compares ignoring case, as authentication names are unique
//!   ignoring case; attribute strings compare exactly.
//! - An empty query does not parse: only the built-in `$all` group has none.

use std::fmt;

use crate::identity::{AttributeValue, ClientIdentity};
use crate::text::eq_ignore_case;

/// How deeply parentheses and `not` may nest; bounds the parser's recursion.
pub const MAX_DEPTH: usize = 64;

/// A parsed client group query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(Expr);

/// A node of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// True if any operand is (two or more).
    Or(Vec<Expr>),
    /// True if every operand is (two or more).
    And(Vec<Expr>),
    /// The complement (*ext*).
    Not(Box<Expr>),
    /// `operand op value`.
    Compare {
        /// What is compared.
        operand: Operand,
        /// How.
        op: CompareOp,
        /// With what.
        value: Literal,
    },
    /// `operand IN [set]`.
    In {
        /// What is looked up.
        operand: Operand,
        /// The values it may equal (at least one).
        set: Vec<Literal>,
    },
    /// `exists(operand)`: the client has the attribute (*ext*).
    Exists(Operand),
}

/// The client property a condition reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operand {
    /// `authenticationName`.
    AuthenticationName,
    /// `attributes.<key>`.
    Attribute(String),
}

/// A constant in a query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// A quoted string.
    String(String),
    /// A 64-bit integer.
    Integer(i64),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`.
    Eq,
    /// `<>` or `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
}

impl CompareOp {
    fn is_ordering(self) -> bool {
        !matches!(self, Self::Eq | Self::Ne)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Lt => "<",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Ge => ">=",
        }
    }
}

/// Why a query does not parse, at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {kind}")]
pub struct QueryError {
    /// Byte offset into the query where the problem starts.
    pub position: usize,
    /// What is wrong.
    pub kind: QueryErrorKind,
}

/// What is wrong with a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryErrorKind {
    /// The parser wanted something else here.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What would have been accepted.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A string literal has no closing quote.
    #[error("string literal has no closing quote")]
    UnterminatedString,
    /// An integer does not fit in 64 bits.
    #[error("integer does not fit in 64 bits")]
    IntegerOutOfRange,
    /// `attributes.` is followed by something that is not a key.
    #[error("attribute key `{0}` must be letters, digits and `_`")]
    InvalidAttributeKey(String),
    /// Parentheses or `not` nest too deeply.
    #[error("nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

impl QueryErrorKind {
    /// What the parser expected, for [`QueryErrorKind::Unexpected`].
    pub fn expected(&self) -> Option<&'static str> {
        match self {
            Self::Unexpected { expected, .. } => Some(expected),
            _ => None,
        }
    }
}

impl Query {
    /// Parses a query.
    pub fn parse(source: &str) -> Result<Self, QueryError> {
        let tokens = lex(source)?;
        let mut parser = Parser { tokens, next: 0 };
        let expr = parser.or_expr(0)?;
        parser.expect_end()?;
        Ok(Self(expr))
    }

    /// Wraps an expression (for building queries in code).
    pub fn from_expr(expr: Expr) -> Self {
        Self(expr)
    }

    /// The expression tree.
    pub fn expr(&self) -> &Expr {
        &self.0
    }

    /// Whether a client with this identity belongs to the group.
    pub fn matches(&self, identity: &ClientIdentity) -> bool {
        self.0.eval(identity)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Query {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// An operand's value for one client.
enum Value<'a> {
    /// The authentication name: compared ignoring case.
    Name(&'a str),
    Attr(&'a AttributeValue),
}

impl Operand {
    fn value<'a>(&self, identity: &'a ClientIdentity) -> Option<Value<'a>> {
        match self {
            Self::AuthenticationName => Some(Value::Name(&identity.authentication_name)),
            Self::Attribute(key) => identity.attribute(key).map(Value::Attr),
        }
    }
}

impl Value<'_> {
    fn equals(&self, literal: &Literal) -> bool {
        match (self, literal) {
            (Self::Name(name), Literal::String(s)) => eq_ignore_case(name, s),
            (Self::Attr(AttributeValue::String(v)), Literal::String(s)) => v == s,
            (Self::Attr(AttributeValue::StringArray(items)), Literal::String(s)) => {
                items.iter().any(|item| item == s)
            }
            (Self::Attr(AttributeValue::Integer(v)), Literal::Integer(i)) => v == i,
            _ => false,
        }
    }

    fn compare(&self, op: CompareOp, literal: &Literal) -> bool {
        match op {
            CompareOp::Eq => self.equals(literal),
            CompareOp::Ne => !self.equals(literal),
            _ => match (self, literal) {
                (Self::Attr(AttributeValue::Integer(v)), Literal::Integer(i)) => match op {
                    CompareOp::Lt => v < i,
                    CompareOp::Gt => v > i,
                    CompareOp::Le => v <= i,
                    _ => v >= i,
                },
                _ => false,
            },
        }
    }
}

impl Expr {
    fn eval(&self, identity: &ClientIdentity) -> bool {
        match self {
            Self::Or(items) => items.iter().any(|e| e.eval(identity)),
            Self::And(items) => items.iter().all(|e| e.eval(identity)),
            Self::Not(inner) => !inner.eval(identity),
            Self::Exists(operand) => operand.value(identity).is_some(),
            Self::Compare { operand, op, value } => operand
                .value(identity)
                .is_some_and(|v| v.compare(*op, value)),
            Self::In { operand, set } => operand
                .value(identity)
                .is_some_and(|v| set.iter().any(|lit| v.equals(lit))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Printing: canonical, and parsed back to the same tree.

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthenticationName => f.write_str("authenticationName"),
            Self::Attribute(key) => write!(f, "attributes.{key}"),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(i) => write!(f, "{i}"),
            Self::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Expr {
    fn fmt_child(&self, f: &mut fmt::Formatter<'_>, parenthesize: bool) -> fmt::Result {
        if parenthesize {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }

    fn fmt_list(items: &[Expr], f: &mut fmt::Formatter<'_>, sep: &str) -> fmt::Result {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            // Under `or`, only a nested `or` needs parentheses to keep its shape; under
            // `and`, both `or` (precedence) and `and` (shape) do.
            let nested = match item {
                Expr::Or(_) => true,
                Expr::And(_) => sep == " and ",
                _ => false,
            };
            item.fmt_child(f, nested)?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Or(items) => Self::fmt_list(items, f, " or "),
            Self::And(items) => Self::fmt_list(items, f, " and "),
            Self::Not(inner) => {
                f.write_str("not ")?;
                inner.fmt_child(f, matches!(**inner, Self::Or(_) | Self::And(_)))
            }
            Self::Exists(operand) => write!(f, "exists({operand})"),
            Self::Compare { operand, op, value } => write!(f, "{operand} {op} {value}"),
            Self::In { operand, set } => {
                write!(f, "{operand} IN [")?;
                for (i, lit) in set.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{lit}")?;
                }
                f.write_str("]")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Str(String),
    Int(i64),
    Op(CompareOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(w) => write!(f, "`{w}`"),
            Self::Str(s) => write!(f, "string {}", Literal::String(s.clone())),
            Self::Int(i) => write!(f, "integer {i}"),
            Self::Op(op) => write!(f, "`{op}`"),
            Self::LParen => f.write_str("`(`"),
            Self::RParen => f.write_str("`)`"),
            Self::LBracket => f.write_str("`[`"),
            Self::RBracket => f.write_str("`]`"),
            Self::Comma => f.write_str("`,`"),
            Self::End => f.write_str("end of query"),
        }
    }
}

fn error(position: usize, kind: QueryErrorKind) -> QueryError {
    QueryError { position, kind }
}

fn lex(src: &str) -> Result<Vec<(usize, Tok<'_>)>, QueryError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let (tok, len) = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b',' => (Tok::Comma, 1),
            b'=' => (Tok::Op(CompareOp::Eq), 1),
            b'!' if bytes.get(i + 1) == Some(&b'=') => (Tok::Op(CompareOp::Ne), 2),
            b'<' => match bytes.get(i + 1) {
                Some(b'>') => (Tok::Op(CompareOp::Ne), 2),
                Some(b'=') => (Tok::Op(CompareOp::Le), 2),
                _ => (Tok::Op(CompareOp::Lt), 1),
            },
            b'>' if bytes.get(i + 1) == Some(&b'=') => (Tok::Op(CompareOp::Ge), 2),
            b'>' => (Tok::Op(CompareOp::Gt), 1),
            b'\'' | b'"' => lex_string(src, start)?,
            b'-' | b'0'..=b'9' => lex_integer(src, start)?,
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let len = bytes[start..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
                    .count();
                (Tok::Word(&src[start..start + len]), len)
            }
            _ => {
                let found = src[start..]
                    .chars()
                    .next()
                    .map_or(String::new(), |c| format!("character `{c}`"));
                return Err(error(
                    start,
                    QueryErrorKind::Unexpected {
                        expected: "a token",
                        found,
                    },
                ));
            }
        };
        tokens.push((start, tok));
        i = start + len;
    }
    tokens.push((src.len(), Tok::End));
    Ok(tokens)
}

/// A quoted string starting at `start`; a doubled quote inside stands for one quote.
fn lex_string(src: &str, start: usize) -> Result<(Tok<'static>, usize), QueryError> {
    let quote = src.as_bytes()[start];
    let mut value = String::new();
    let mut rest = &src[start + 1..];
    loop {
        let Some(end) = rest.bytes().position(|b| b == quote) else {
            return Err(error(start, QueryErrorKind::UnterminatedString));
        };
        value.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        if rest.as_bytes().first() == Some(&quote) {
            value.push(char::from(quote));
            rest = &rest[1..];
        } else {
            let len = src.len() - start - rest.len();
            return Ok((Tok::Str(value), len));
        }
    }
}

fn lex_integer(src: &str, start: usize) -> Result<(Tok<'static>, usize), QueryError> {
    let bytes = &src.as_bytes()[start..];
    let sign = usize::from(bytes[0] == b'-');
    let digits = bytes[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return Err(error(
            start,
            QueryErrorKind::Unexpected {
                expected: "digits after `-`",
                found: "`-`".to_owned(),
            },
        ));
    }
    let len = sign + digits;
    src[start..start + len]
        .parse()
        .map(|i| (Tok::Int(i), len))
        .map_err(|_| error(start, QueryErrorKind::IntegerOutOfRange))
}

// ---------------------------------------------------------------------------------------
// Parsing

const EXPECTED_CONDITION: &str =
    "a condition (`attributes.<key>`, `authenticationName`, `not`, `exists(...)` or `(`)";

struct Parser<'a> {
    tokens: Vec<(usize, Tok<'a>)>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> (usize, &Tok<'a>) {
        let i = self.next.min(self.tokens.len() - 1);
        (self.tokens[i].0, &self.tokens[i].1)
    }

    fn unexpected(&self, expected: &'static str) -> QueryError {
        let (pos, tok) = self.peek();
        error(
            pos,
            QueryErrorKind::Unexpected {
                expected,
                found: tok.to_string(),
            },
        )
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek().1, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.next += 1;
        }
        found
    }

    fn expect(&mut self, tok: &Tok<'_>, expected: &'static str) -> Result<(), QueryError> {
        if self.peek().1 == tok {
            self.next += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn expect_end(&self) -> Result<(), QueryError> {
        match self.peek().1 {
            Tok::End => Ok(()),
            _ => Err(self.unexpected("`and`, `or` or the end of the query")),
        }
    }

    fn deeper(&self, depth: usize) -> Result<usize, QueryError> {
        if depth >= MAX_DEPTH {
            Err(error(self.peek().0, QueryErrorKind::TooDeep))
        } else {
            Ok(depth + 1)
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.eat_keyword("or") {
            items.push(self.and_expr(depth)?);
        }
        Ok(collapse(items, Expr::Or))
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary(depth)?];
        while self.eat_keyword("and") {
            items.push(self.unary(depth)?);
        }
        Ok(collapse(items, Expr::And))
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            let depth = self.deeper(depth)?;
            return Ok(Expr::Not(Box::new(self.unary(depth)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if self.peek().1 == &Tok::LParen {
            let depth = self.deeper(depth)?;
            self.next += 1;
            let inner = self.or_expr(depth)?;
            self.expect(&Tok::RParen, "`)`, `and` or `or`")?;
            return Ok(inner);
        }
        if self.eat_keyword("exists") {
            self.expect(&Tok::LParen, "`(` after `exists`")?;
            let operand = self.operand()?;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(Expr::Exists(operand));
        }
        let operand = self.operand()?;
        if self.eat_keyword("in") {
            return Ok(Expr::In {
                operand,
                set: self.set()?,
            });
        }
        let Tok::Op(op) = *self.peek().1 else {
            return Err(
                self.unexpected("an operator (`=`, `<>`, `!=`, `<`, `>`, `<=`, `>=`, `IN`)")
            );
        };
        self.next += 1;
        let value = if op.is_ordering() {
            let Tok::Int(i) = *self.peek().1 else {
                return Err(self.unexpected("an integer (ordering applies to integers only)"));
            };
            self.next += 1;
            Literal::Integer(i)
        } else {
            self.literal()?
        };
        Ok(Expr::Compare { operand, op, value })
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let (pos, tok) = self.peek();
        let Tok::Word(word) = *tok else {
            return Err(self.unexpected(EXPECTED_CONDITION));
        };
        let operand = if word.eq_ignore_ascii_case("authenticationName") {
            Operand::AuthenticationName
        } else if word.len() > 11 && word[..11].eq_ignore_ascii_case("attributes.") {
            let key = &word[11..];
            if key.contains('.') {
                return Err(error(
                    pos + 11,
                    QueryErrorKind::InvalidAttributeKey(key.to_owned()),
                ));
            }
            Operand::Attribute(key.to_owned())
        } else if word.eq_ignore_ascii_case("attributes.") {
            return Err(error(
                pos + word.len(),
                QueryErrorKind::InvalidAttributeKey(String::new()),
            ));
        } else {
            return Err(self.unexpected(EXPECTED_CONDITION));
        };
        self.next += 1;
        Ok(operand)
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        match self.peek().1 {
            Tok::Str(s) => {
                let lit = Literal::String(s.clone());
                self.next += 1;
                Ok(lit)
            }
            Tok::Int(i) => {
                let lit = Literal::Integer(*i);
                self.next += 1;
                Ok(lit)
            }
            _ => Err(self.unexpected("a quoted string or an integer")),
        }
    }

    fn set(&mut self) -> Result<Vec<Literal>, QueryError> {
        self.expect(&Tok::LBracket, "`[` after `IN`")?;
        let mut set = vec![self.literal()?];
        loop {
            match self.peek().1 {
                Tok::Comma => {
                    self.next += 1;
                    set.push(self.literal()?);
                }
                Tok::RBracket => {
                    self.next += 1;
                    return Ok(set);
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }
}

fn collapse(mut items: Vec<Expr>, wrap: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.swap_remove(0)
    } else {
        wrap(items)
    }
}
