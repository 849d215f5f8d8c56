//! Table-driven tests for the two grammars: client group queries and topic templates.

#![allow(clippy::expect_used, clippy::unwrap_used)] // Tests may panic on a broken fixture.

use gridmq_access::query::{CompareOp, Expr, Literal, Operand, QueryErrorKind};
use gridmq_access::template::TemplateErrorKind;
use gridmq_access::{AttributeValue, ClientIdentity, Query, Template};
use proptest::prelude::*;
use test_case::test_case;

/// A sensor client like the ones in Event Grid's documentation.
fn sensor() -> ClientIdentity {
    ClientIdentity::new("Client1")
        .with_attribute("sensors", &["motion", "light"][..])
        .with_attribute("type", "home-sensors")
        .with_attribute("floor", 3)
        .with_attribute("keyName", "b")
        .with_attribute("status", "awake")
        .with_attribute("room", "345")
}

fn bare() -> ClientIdentity {
    ClientIdentity::new("other")
}

fn eval(query: &str, identity: &ClientIdentity) -> bool {
    match Query::parse(query) {
        Ok(q) => q.matches(identity),
        Err(e) => panic!("{query:?} does not parse: {e}"),
    }
}

// Every sample from Event Grid's documentation, then our decisions.
#[test_case(r#"(attributes.sensors = "motion" or attributes.sensors = "humidity") or attributes.type = "home-sensors""#, true; "doc sample: or with parentheses")]
#[test_case(r#"attributes.sensors IN ["motion", "humidity", "temperature"] and attributes.floor <= 5"#, true; "doc sample: IN and integer")]
#[test_case("authenticationName IN ['client1', 'client2']", true; "doc sample: authenticationName IN, case ignored")]
#[test_case("attributes.keyName IN ['a', 'b', 'c']", true; "doc sample: ARM keyName")]
#[test_case("attributes.b IN ['a', 'b', 'c']", false; "doc sample: missing attribute")]
#[test_case(r#"attributes.status <> "sleep mode""#, true; "doc sample: not equal")]
#[test_case("attributes.keyName in ['audit', 'a', 'AA',99]", false; "lowercase in with mixed set")]
#[test_case("attributes.floor in ['audit', 'a', 'AA',3]", true; "mixed set matches integer")]
#[test_case("attributes.floor = 3", true; "integer equality")]
#[test_case("attributes.floor = '3'", false; "string does not equal integer")]
#[test_case("attributes.room = 345", false; "integer does not equal string")]
#[test_case("attributes.room < 400", false; "ordering only on integers")]
#[test_case("attributes.floor != 3", false; "bang equal")]
#[test_case("attributes.floor < 3", false)]
#[test_case("attributes.floor > 2", true)]
#[test_case("attributes.floor >= 3", true)]
#[test_case("attributes.floor <= 2", false)]
#[test_case("attributes.floor > -5", true; "negative integer")]
#[test_case("attributes.sensors = 'light'", true; "array: any element equal")]
#[test_case("attributes.sensors <> 'light'", false; "array: not equal means no element equal")]
#[test_case("attributes.sensors <> 'smoke'", true)]
#[test_case("attributes.missing <> 'x'", false; "missing attribute: not-equal is false too")]
#[test_case("not attributes.missing = 'x'", true; "not complements")]
#[test_case("exists(attributes.floor)", true)]
#[test_case("not exists(attributes.missing)", true)]
#[test_case("EXISTS(attributes.missing)", false; "keywords ignore case")]
#[test_case("attributes.type = 'HOME-SENSORS'", false; "attribute values are case-sensitive")]
#[test_case("authenticationName = 'CLIENT1'", true; "authentication name ignores case")]
#[test_case("AuthenticationName = 'client1'", true; "operand words ignore case")]
#[test_case("authenticationName < 5", false)]
#[test_case("attributes.floor = 3 or attributes.floor = 4 and attributes.room = 'x'", true; "and binds tighter than or")]
#[test_case(
    "(attributes.floor = 3 or attributes.floor = 4) and attributes.room = 'x'",
    false
)]
#[test_case("attributes.floor = 3 AND attributes.room = '345' OR attributes.x = 1", true; "uppercase keywords")]
#[test_case("not not attributes.floor = 3", true)]
#[test_case("not attributes.floor = 3 and attributes.room = '345'", false; "not binds tighter than and")]
#[test_case("attributes.type='home-sensors'", true; "no spaces needed")]
#[test_case("attributes.status = 'it''s'", false; "doubled quote")]
fn query_on_sensor(query: &str, expected: bool) {
    assert_eq!(eval(query, &sensor()), expected, "{query}");
}

#[test_case("attributes.floor <= 5", false; "missing attribute compares false")]
#[test_case("not attributes.floor <= 5", true)]
#[test_case("authenticationName = 'other'", true)]
#[test_case("authenticationName <> 'Other'", false)]
fn query_on_bare_client(query: &str, expected: bool) {
    assert_eq!(eval(query, &bare()), expected);
}

#[test]
fn quotes_inside_strings() {
    let id = ClientIdentity::new("x")
        .with_attribute("a", "it's")
        .with_attribute("b", "say \"hi\"");
    assert!(eval("attributes.a = 'it''s'", &id));
    assert!(eval(r#"attributes.a = "it's""#, &id));
    assert!(eval(r#"attributes.b = 'say "hi"'"#, &id));
    assert!(eval(r#"attributes.b = "say ""hi""""#, &id));
}

#[test]
fn parses_into_the_expected_tree() {
    let q =
        Query::parse("attributes.a = 1 or attributes.b IN ['x', 2] and exists(authenticationName)")
            .expect("parses");
    let expected = Expr::Or(vec![
        Expr::Compare {
            operand: Operand::Attribute("a".into()),
            op: CompareOp::Eq,
            value: Literal::Integer(1),
        },
        Expr::And(vec![
            Expr::In {
                operand: Operand::Attribute("b".into()),
                set: vec![Literal::String("x".into()), Literal::Integer(2)],
            },
            Expr::Exists(Operand::AuthenticationName),
        ]),
    ]);
    assert_eq!(q.expr(), &expected);
}

#[test_case("attributes.a = 1 or attributes.b = 'x'")]
#[test_case("attributes.a IN ['x', 2] and not (attributes.b = 1 or attributes.c <> 'it''s')")]
#[test_case("(attributes.a = 1 and attributes.b = 2) and attributes.c = 3")]
#[test_case("attributes.a = -9223372036854775808")]
fn display_is_canonical_and_parses_back(source: &str) {
    let q = Query::parse(source).expect("parses");
    let printed = q.to_string();
    assert_eq!(printed, source);
    assert_eq!(Query::parse(&printed).expect("reparses"), q);
}

#[test_case("", 0, Some("a condition"); "empty")]
#[test_case("   ", 3, Some("a condition"); "blank")]
#[test_case("attributes.a", 12, Some("an operator"); "no operator")]
#[test_case("attributes.a =", 14, Some("a quoted string or an integer"); "no value")]
#[test_case("attributes.a < 'x'", 15, Some("an integer"); "ordering on a string")]
#[test_case("attributes.a = 1 and", 20, Some("a condition"); "dangling and")]
#[test_case("attributes.a = 1 attributes.b = 2", 17, Some("`and`, `or`"); "missing connective")]
#[test_case("(attributes.a = 1", 17, Some("`)`"); "unclosed parenthesis")]
#[test_case("attributes.a = 1)", 16, Some("`and`, `or`"); "stray parenthesis")]
#[test_case("attributes.a IN []", 17, Some("a quoted string or an integer"); "empty set")]
#[test_case("attributes.a IN ['x' 'y']", 21, Some("`,` or `]`"); "set without comma")]
#[test_case("attributes.a IN 'x'", 16, Some("`[`"); "set without brackets")]
#[test_case("attribute.a = 1", 0, Some("a condition"); "misspelt operand")]
#[test_case("name = 'x'", 0, Some("a condition"); "unknown operand")]
#[test_case("attributes.a = 'x", 15, None; "unterminated string")]
#[test_case("attributes.a = 99999999999999999999", 15, None; "integer overflow")]
#[test_case("attributes.a.b = 1", 11, None; "dotted key")]
#[test_case("attributes. = 1", 11, None; "empty key")]
#[test_case("attributes.a == 1", 14, Some("a quoted string or an integer"); "double equals")]
#[test_case("attributes.a = 1 & attributes.b = 2", 17, Some("a token"); "ampersand")]
#[test_case("exists attributes.a", 7, Some("`(`"); "exists without parentheses")]
#[test_case("attributes.é = 1", 11, None; "non-ASCII key")]
fn query_errors(source: &str, position: usize, expected: Option<&str>) {
    let err = Query::parse(source).expect_err("must not parse");
    assert_eq!(err.position, position, "{source}: {err}");
    if let Some(expected) = expected {
        let got = err.kind.expected().unwrap_or_default();
        assert!(
            got.contains(expected),
            "{source}: expected {expected:?} in {got:?}"
        );
    }
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}attributes.a = 1{}", "(".repeat(100), ")".repeat(100));
    let err = Query::parse(&deep).expect_err("too deep");
    assert_eq!(err.kind, QueryErrorKind::TooDeep);
    let nots = format!("{}attributes.a = 1", "not ".repeat(100));
    assert_eq!(
        Query::parse(&nots).expect_err("too deep").kind,
        QueryErrorKind::TooDeep
    );
    let ok = format!("{}attributes.a = 1{}", "(".repeat(60), ")".repeat(60));
    assert!(Query::parse(&ok).is_ok());
}

// ---------------------------------------------------------------------------------------
// Templates

fn machine() -> ClientIdentity {
    ClientIdentity::new("machine1")
        .with_attribute("area", "section1")
        .with_attribute("floor", 7)
        .with_attribute("rooms", &["r1", "r2"][..])
        .with_attribute("zones", &["z1", "bad/zone", "z2"][..])
        .with_attribute("slashy", "a/b")
        .with_attribute("plus", "a+")
        .with_attribute("hash", "#")
        .with_attribute("empty", "")
        .with_attribute("dollar", "$SYS")
        .with_attribute("none", AttributeValue::StringArray(vec![]))
}

#[test_case("vehicles/#", &["vehicles/#"]; "doc sample: static")]
#[test_case("area/${client.attributes.area}/telemetry", &["area/section1/telemetry"]; "doc sample: attribute")]
#[test_case("machines/${client.authenticationName|.factory1}/temp", &["machines/machine1.factory1/temp"]; "doc sample: pipe suffix")]
#[test_case("machines/${client.authenticationName}.factory1/temp", &["machines/machine1.factory1/temp"]; "plain suffix")]
#[test_case("m/pre-${client.authenticationName}-${client.attributes.area}/+", &["m/pre-machine1-section1/+"]; "two variables in one level")]
#[test_case("f/${client.attributes.floor}", &["f/7"]; "integer attribute")]
#[test_case("r/${client.attributes.rooms}/#", &["r/r1/#", "r/r2/#"]; "array expands per element")]
#[test_case("r/${client.attributes.rooms}/${client.attributes.rooms}", &["r/r1/r1", "r/r2/r2"]; "same variable takes the same element")]
#[test_case("r/${client.attributes.rooms}/${client.attributes.zones}", &["r/r1/z1", "r/r1/z2", "r/r2/z1", "r/r2/z2"]; "two arrays: every combination, invalid elements skipped")]
#[test_case("x/${client.attributes.missing}", &[]; "missing attribute grants nothing")]
#[test_case("x/${client.attributes.slashy}", &[]; "value with slash grants nothing")]
#[test_case("x/${client.attributes.plus}", &[]; "value with plus grants nothing")]
#[test_case("x/${client.attributes.hash}", &[]; "value with hash grants nothing")]
#[test_case("x/${client.attributes.empty}", &[]; "empty value grants nothing")]
#[test_case("x/${client.attributes.none}", &[]; "empty array grants nothing")]
#[test_case("${client.attributes.dollar}/x", &[]; "value cannot open a dollar topic")]
#[test_case("x/${client.attributes.dollar}", &["x/$SYS"]; "dollar later is fine")]
#[test_case("$SYS/${client.authenticationName}/#", &["$SYS/machine1/#"]; "literal dollar topic")]
#[test_case("a//b", &["a//b"]; "empty level")]
fn template_expansion(source: &str, expected: &[&str]) {
    let t = Template::parse(source).expect("parses");
    assert_eq!(t.expand(&machine(), 256), expected);
}

#[test]
fn expansion_limit_grants_nothing_rather_than_part() {
    let t =
        Template::parse("r/${client.attributes.rooms}/${client.attributes.zones}").expect("parses");
    assert_eq!(t.expand(&machine(), 4).len(), 4);
    assert!(t.expand(&machine(), 3).is_empty());
}

#[test_case(
    "a/${client.authenticationName|.x}/b",
    "a/${client.authenticationName}.x/b"
)]
#[test_case("$SYS/+/#", "$SYS/+/#")]
#[test_case("a$${client.attributes.k}", "a$${client.attributes.k}")]
fn template_display_is_canonical(source: &str, printed: &str) {
    let t = Template::parse(source).expect("parses");
    assert_eq!(t.to_string(), printed);
    assert_eq!(Template::parse(printed).expect("reparses"), t);
}

#[test_case("", 0, TemplateErrorKind::Empty)]
#[test_case("a/#/b", 2, TemplateErrorKind::MisplacedMultiWildcard)]
#[test_case("a/b#", 3, TemplateErrorKind::MisplacedMultiWildcard)]
#[test_case("a/+b", 2, TemplateErrorKind::MisplacedSingleWildcard)]
#[test_case(
    "a/x${client.attributes.k}+",
    25,
    TemplateErrorKind::MisplacedSingleWildcard
)]
#[test_case(
    "a/${client.authenticationName",
    2,
    TemplateErrorKind::UnterminatedVariable
)]
#[test_case(
    "a/${client.attributes.k/b}",
    2,
    TemplateErrorKind::UnterminatedVariable
)]
#[test_case("a/${client.name}", 4, TemplateErrorKind::UnknownVariable("client.name".into()))]
#[test_case("a/${principal.deviceId}", 4, TemplateErrorKind::UnknownVariable("principal.deviceId".into()))]
#[test_case("a/${client.attributes.}", 4, TemplateErrorKind::UnknownVariable("client.attributes.".into()))]
#[test_case("a/${client.attributes.a-b}", 4, TemplateErrorKind::UnknownVariable("client.attributes.a-b".into()))]
#[test_case(
    "a/${client.authenticationName|+}",
    30,
    TemplateErrorKind::InvalidSuffix
)]
#[test_case("$share/g/a", 0, TemplateErrorKind::SharedSubscription)]
#[test_case("a/\0", 2, TemplateErrorKind::NullCharacter)]
fn template_errors(source: &str, position: usize, kind: TemplateErrorKind) {
    let err = Template::parse(source).expect_err("must not parse");
    assert_eq!((err.position, err.kind), (position, kind), "{source}");
}

#[test_case("#")]
#[test_case("+")]
#[test_case("+/+/#")]
#[test_case("$SYS/#")]
#[test_case("/")]
#[test_case("a/$/b")]
#[test_case("a/}/b")]
#[test_case("ü/${client.attributes.k}/ö")]
fn valid_templates(source: &str) {
    assert!(Template::parse(source).is_ok(), "{source}");
}

proptest! {
    /// The parsers are total: any input gives a value or an error with an in-bounds
    /// position, never a panic.
    #[test]
    fn query_parser_is_total(source in prop_oneof![
        any::<String>(),
        "[a-zA-Z. ()\\[\\],'\"=<>!0-9-]{0,40}",
        "(attributes\\.[a-z]{1,2} (=|<>|<=|>=|IN) ('x'|1|\\[1, 'a'\\])( (and|or|not) )?){1,4}",
    ]) {
        if let Err(e) = Query::parse(&source) {
            prop_assert!(e.position <= source.len());
        }
    }

    #[test]
    fn template_parser_is_total_and_display_round_trips(source in prop_oneof![
        any::<String>(),
        "[a-z/+#${}|.]{0,30}",
        "([a-z]{0,2}|\\+|\\$\\{client\\.(authenticationName|attributes\\.[a-z])(\\|[a-z.]{0,2})?\\})(/([a-z]{0,2}|\\+|\\$\\{client\\.attributes\\.k\\})){0,3}(/#)?",
    ]) {
        match Template::parse(&source) {
            Err(e) => prop_assert!(e.position <= source.len()),
            Ok(t) => prop_assert_eq!(Template::parse(&t.to_string()), Ok(t)),
        }
    }
}
