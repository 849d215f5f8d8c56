//! Authorization decisions: examples from Event Grid's documentation, and property tests
//! against naive reference evaluators written here, independent of the crate's matchers.

#![allow(clippy::expect_used, clippy::unwrap_used)] // Tests may panic on a broken fixture.

use gridmq_access::query::{CompareOp, Expr, Literal, Operand};
use gridmq_access::{
    AttributeValue, ClientGroup, ClientGroupProperties, ClientIdentity, ClientRights, Limits,
    Permission, PermissionBinding, PermissionBindingProperties, Policy, Query, Resources,
    TopicSpace, TopicSpaceProperties,
};
use gridmq_codec::topic::matches_filter;
use proptest::prelude::*;
use test_case::test_case;

fn group(name: &str, query: &str) -> ClientGroup {
    ClientGroup::new(
        name,
        ClientGroupProperties {
            query: query.into(),
            description: None,
        },
    )
}

fn space(name: &str, templates: &[&str]) -> TopicSpace {
    TopicSpace::new(
        name,
        TopicSpaceProperties {
            topic_templates: templates.iter().map(|t| (*t).to_owned()).collect(),
            description: None,
        },
    )
}

fn binding(name: &str, group: &str, space: &str, permission: Permission) -> PermissionBinding {
    PermissionBinding::new(
        name,
        PermissionBindingProperties {
            client_group_name: group.into(),
            topic_space_name: space.into(),
            permission,
            description: None,
        },
    )
}

fn compile(resources: &Resources) -> Policy {
    match Policy::compile(resources, &Limits::default()) {
        Ok(p) => p,
        Err(e) => panic!("does not compile: {e}"),
    }
}

/// The samples' setup: everyone publishes and subscribes under `vehicles/`, machines
/// publish only their own telemetry, and floor managers read their floor.
fn sample_policy() -> Policy {
    compile(&Resources {
        client_groups: vec![
            group("machines", "attributes.type = 'machine'"),
            group(
                "managers",
                "attributes.role IN ['manager', 'admin'] and attributes.floor >= 1",
            ),
        ],
        topic_spaces: vec![
            space("vehicles", &["vehicles/#"]),
            space(
                "telemetry",
                &[
                    "machines/${client.authenticationName}/telemetry",
                    "area/${client.attributes.area}/telemetry",
                ],
            ),
            space("floors", &["floors/${client.attributes.floor}/#"]),
        ],
        permission_bindings: vec![
            binding("pub-vehicles", "$all", "vehicles", Permission::Publisher),
            binding("sub-vehicles", "$all", "Vehicles", Permission::Subscriber),
            binding(
                "pub-telemetry",
                "machines",
                "telemetry",
                Permission::Publisher,
            ),
            binding("sub-floors", "managers", "floors", Permission::Subscriber),
        ],
        ..Resources::default()
    })
}

fn machine1() -> ClientRights {
    sample_policy().rights_for(
        &ClientIdentity::new("machine1")
            .with_attribute("type", "machine")
            .with_attribute("area", "section1"),
    )
}

fn manager() -> ClientRights {
    sample_policy().rights_for(
        &ClientIdentity::new("alice")
            .with_attribute("role", "manager")
            .with_attribute("floor", 4),
    )
}

#[test_case("vehicles/v1/position", true)]
#[test_case("vehicles", true; "hash matches the parent level")]
#[test_case("machines/machine1/telemetry", true)]
#[test_case("machines/machine2/telemetry", false; "another machine's topic")]
#[test_case("machines/MACHINE1/telemetry", false; "substitution keeps case")]
#[test_case("area/section1/telemetry", true)]
#[test_case("area/section2/telemetry", false)]
#[test_case("floors/4/x", false; "subscriber binding does not grant publish")]
#[test_case("$SYS/vehicles", false)]
fn machine_may_publish(topic: &str, expected: bool) {
    assert_eq!(machine1().may_publish(topic), expected);
}

#[test_case("vehicles/+/position", true; "doc sample")]
#[test_case("vehicles/#", true)]
#[test_case("#", false)]
#[test_case("machines/machine1/telemetry", false; "publisher binding does not grant subscribe")]
fn machine_may_subscribe(filter: &str, expected: bool) {
    assert_eq!(machine1().may_subscribe(filter), expected);
}

#[test_case("floors/4/#", true)]
#[test_case("floors/4", true)]
#[test_case("floors/+/#", false; "other floors too")]
#[test_case("floors/5/a", false)]
fn manager_may_subscribe(filter: &str, expected: bool) {
    assert_eq!(manager().may_subscribe(filter), expected);
}

#[test]
fn rights_list_groups_and_compare_by_content() {
    let rights = machine1();
    let groups: Vec<&str> = rights.groups().iter().map(|g| &**g).collect();
    assert_eq!(groups, ["$all", "machines"]);
    assert_eq!(rights.publish_filter_count(), 3);
    assert_eq!(rights.subscribe_filter_count(), 1);
    assert_eq!(rights, machine1());
    assert_ne!(rights, manager());
}

#[test]
fn includes_tells_grown_rights_from_narrowed_ones() {
    let plain = sample_policy().rights_for(&ClientIdentity::new("machine1"));
    let machine = machine1();
    assert!(machine.includes(&plain), "joining a group only adds rights");
    assert!(
        !plain.includes(&machine),
        "leaving it removes the telemetry topics"
    );
    assert!(machine.includes(&machine));
    assert!(!manager().includes(&machine));
    assert!(ClientRights::allow_all().includes(&machine));
    assert!(!machine.includes(&ClientRights::allow_all()));
    assert!(machine.includes(&ClientRights::deny_all()));
}

#[test]
fn open_and_default_policies() {
    let open = Policy::open().rights_for(&ClientIdentity::new("x"));
    assert!(open.may_publish("$SYS/anything") && open.may_subscribe("#"));
    assert!(Policy::open().is_open());
    let closed = Policy::default().rights_for(&ClientIdentity::new("x"));
    assert!(!closed.may_publish("a") && !closed.may_subscribe("a"));
    assert_eq!(closed.groups().len(), 1);
    assert_eq!(ClientRights::deny_all(), ClientRights::deny_all());
}

#[test]
fn compile_refuses_invalid_resources() {
    let resources = Resources {
        topic_spaces: vec![space("ts1", &["a/#/b"])],
        permission_bindings: vec![binding("bind", "nobody", "ts1", Permission::Publisher)],
        ..Resources::default()
    };
    let err = Policy::compile(&resources, &Limits::default()).expect_err("invalid");
    assert_eq!(err.problems.len(), 2);
}

#[test]
fn snapshots_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Policy>();
    shareable::<ClientRights>();
}

#[test]
fn compile_reads_only_what_the_policy_uses() {
    let resources = Resources {
        clients: vec![gridmq_access::Client::new("bad name", Default::default())],
        ..Resources::default()
    };
    assert!(Policy::compile(&resources, &Limits::default()).is_ok());
    assert!(gridmq_access::Validate::validate(&resources, &Limits::default()).is_err());
}

#[test]
fn too_many_expansions_grant_nothing() {
    let resources = Resources {
        topic_spaces: vec![space(
            "ts1",
            &["t/${client.attributes.a}/${client.attributes.b}"],
        )],
        permission_bindings: vec![binding("bind", "$all", "ts1", Permission::Publisher)],
        ..Resources::default()
    };
    let limits = Limits {
        max_template_expansions: 8,
        ..Limits::default()
    };
    let policy = Policy::compile(&resources, &limits).expect("valid");
    let values: Vec<String> = (0..3).map(|i| format!("v{i}")).collect();
    let small = ClientIdentity::new("c")
        .with_attribute("a", values.clone())
        .with_attribute("b", values[..2].to_vec());
    assert!(policy.rights_for(&small).may_publish("t/v2/v1"));
    let big = small.with_attribute("b", values);
    assert!(!policy.rights_for(&big).may_publish("t/v0/v0"));
}

// ---------------------------------------------------------------------------------------
// Reference helpers

/// Brute force: does `template` match every topic `filter` matches? Topics are enumerated
/// over the levels either mentions plus a fresh one, one level longer than both.
fn naive_covers(template: &str, filter: &str) -> bool {
    let mut alphabet: Vec<&str> = template
        .split('/')
        .chain(filter.split('/'))
        .filter(|l| *l != "+" && *l != "#")
        .collect();
    alphabet.push("fresh");
    alphabet.sort_unstable();
    alphabet.dedup();
    let max = template.split('/').count().max(filter.split('/').count()) + 1;
    let mut topics: Vec<String> = alphabet.iter().map(|l| (*l).to_owned()).collect();
    let mut frontier = topics.clone();
    for _ in 1..max {
        frontier = frontier
            .iter()
            .flat_map(|t| alphabet.iter().map(move |l| format!("{t}/{l}")))
            .collect();
        topics.extend(frontier.iter().cloned());
    }
    topics
        .iter()
        .all(|t| !matches_filter(filter, t) || matches_filter(template, t))
}

const LEVELS: &[&str] = &["a", "b", "$s", ""];

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(LEVELS).prop_map(str::to_owned),
        2 => Just("+".to_owned()),
    ]
}

/// Filters (and static templates) of up to four levels, maybe ending in `#`.
fn filter() -> impl Strategy<Value = String> {
    (proptest::collection::vec(level(), 0..4), any::<bool>()).prop_filter_map(
        "non-empty",
        |(mut levels, hash)| {
            if hash {
                levels.push("#".into());
            }
            Some(levels.join("/")).filter(|f| !f.is_empty())
        },
    )
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// (a) `may_subscribe` is "one template covers every topic the filter matches".
    #[test]
    fn may_subscribe_agrees_with_brute_force(
        templates in proptest::collection::vec(filter(), 1..4),
        filters in proptest::collection::vec(filter(), 1..6),
    ) {
        let refs: Vec<&str> = templates.iter().map(String::as_str).collect();
        let policy = compile(&Resources {
            topic_spaces: vec![space("space", &refs)],
            permission_bindings: vec![binding("bind", "$all", "space", Permission::Subscriber)],
            ..Resources::default()
        });
        let rights = policy.rights_for(&ClientIdentity::new("c"));
        for f in &filters {
            let expected = templates.iter().any(|t| naive_covers(t, f));
            prop_assert_eq!(rights.may_subscribe(f), expected, "filter {} templates {:?}", f, templates);
        }
    }

    /// (c) Printing a query and parsing it back gives the same tree.
    #[test]
    fn query_display_round_trips(expr in lib_expr()) {
        let query = Query::from_expr(expr);
        let printed = query.to_string();
        let parsed = Query::parse(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&query), "{}", printed);
    }
}

// ---------------------------------------------------------------------------------------
// (c) Library ASTs

fn lib_operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        Just(Operand::AuthenticationName),
        "[A-Za-z0-9_]{1,6}".prop_map(Operand::Attribute),
    ]
}

fn lib_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<i64>().prop_map(Literal::Integer),
        any::<String>().prop_map(Literal::String),
        "[a-z'\" ]{0,5}".prop_map(Literal::String),
    ]
}

fn lib_expr() -> impl Strategy<Value = Expr> {
    let op = proptest::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Gt,
        CompareOp::Le,
        CompareOp::Ge,
    ]);
    let leaf = prop_oneof![
        (lib_operand(), op, lib_literal(), any::<i64>()).prop_map(|(operand, op, value, i)| {
            let value = if matches!(op, CompareOp::Eq | CompareOp::Ne) {
                value
            } else {
                Literal::Integer(i)
            };
            Expr::Compare { operand, op, value }
        }),
        (
            lib_operand(),
            proptest::collection::vec(lib_literal(), 1..4)
        )
            .prop_map(|(operand, set)| Expr::In { operand, set }),
        lib_operand().prop_map(Expr::Exists),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

// ---------------------------------------------------------------------------------------
// (b) Random resources against a naive reference evaluator

/// A query as this test sees it, printed with its own printer.
#[derive(Debug, Clone)]
enum Q {
    Or(Vec<Q>),
    And(Vec<Q>),
    Not(Box<Q>),
    Cmp(Option<String>, &'static str, Lit),
    In(Option<String>, Vec<Lit>),
    Exists(Option<String>),
}

#[derive(Debug, Clone)]
enum Lit {
    S(String),
    I(i64),
}

const KEYS: &[&str] = &["k1", "k2", "k3"];
const STRINGS: &[&str] = &["a", "b", "$s", "dev", "DEV", "a/b", "", "it's"];

fn operand() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        3 => proptest::sample::select(KEYS).prop_map(|k| Some(k.to_owned())),
    ]
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        proptest::sample::select(STRINGS).prop_map(|s| Lit::S(s.to_owned())),
        (-1i64..3).prop_map(Lit::I),
    ]
}

fn q() -> impl Strategy<Value = Q> {
    let ops = proptest::sample::select(vec!["=", "<>", "!=", "<", ">", "<=", ">="]);
    let leaf = prop_oneof![
        (operand(), ops, lit(), -1i64..3).prop_map(|(o, op, l, i)| {
            let l = if matches!(op, "=" | "<>" | "!=") {
                l
            } else {
                Lit::I(i)
            };
            Q::Cmp(o, op, l)
        }),
        (operand(), proptest::collection::vec(lit(), 1..3)).prop_map(|(o, s)| Q::In(o, s)),
        operand().prop_map(Q::Exists),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..3).prop_map(Q::Or),
            proptest::collection::vec(inner.clone(), 2..3).prop_map(Q::And),
            inner.prop_map(|e| Q::Not(Box::new(e))),
        ]
    })
}

fn print_operand(o: &Option<String>) -> String {
    o.as_ref().map_or("authenticationName".to_owned(), |k| {
        format!("attributes.{k}")
    })
}

fn print_lit(l: &Lit) -> String {
    match l {
        Lit::I(i) => i.to_string(),
        Lit::S(s) if s.contains('\'') => format!("\"{s}\""),
        Lit::S(s) => format!("'{s}'"),
    }
}

/// Fully parenthesized, with upper-case keywords, unlike the library's printer.
fn print_q(q: &Q) -> String {
    let join = |items: &[Q], sep: &str| {
        items
            .iter()
            .map(|i| format!("({})", print_q(i)))
            .collect::<Vec<_>>()
            .join(sep)
    };
    match q {
        Q::Or(items) => join(items, " OR "),
        Q::And(items) => join(items, " AND "),
        Q::Not(inner) => format!("NOT ({})", print_q(inner)),
        Q::Cmp(o, op, l) => format!("{} {op} {}", print_operand(o), print_lit(l)),
        Q::In(o, set) => format!(
            "{} in [{}]",
            print_operand(o),
            set.iter().map(print_lit).collect::<Vec<_>>().join(",")
        ),
        Q::Exists(o) => format!("EXISTS ( {} )", print_operand(o)),
    }
}

fn naive_eq(value: &Option<AttributeValue>, is_name: bool, l: &Lit) -> bool {
    match (value, l) {
        (Some(AttributeValue::String(v)), Lit::S(s)) if is_name => {
            v.to_lowercase() == s.to_lowercase()
        }
        (Some(AttributeValue::String(v)), Lit::S(s)) => v == s,
        (Some(AttributeValue::Integer(v)), Lit::I(i)) => v == i,
        (Some(AttributeValue::StringArray(items)), Lit::S(s)) => items.contains(s),
        _ => false,
    }
}

fn naive_query(q: &Q, id: &ClientIdentity) -> bool {
    let get = |o: &Option<String>| match o {
        None => Some(AttributeValue::String(id.authentication_name.clone())),
        Some(k) => id.attributes.get(k).cloned(),
    };
    match q {
        Q::Or(items) => items.iter().any(|i| naive_query(i, id)),
        Q::And(items) => items.iter().all(|i| naive_query(i, id)),
        Q::Not(inner) => !naive_query(inner, id),
        Q::Exists(o) => get(o).is_some(),
        Q::In(o, set) => set.iter().any(|l| naive_eq(&get(o), o.is_none(), l)),
        Q::Cmp(o, op, l) => {
            let v = get(o);
            match *op {
                "=" => naive_eq(&v, o.is_none(), l),
                "<>" | "!=" => v.is_some() && !naive_eq(&v, o.is_none(), l),
                _ => match (&v, l) {
                    (Some(AttributeValue::Integer(a)), Lit::I(b)) if o.is_some() => match *op {
                        "<" => a < b,
                        ">" => a > b,
                        "<=" => a <= b,
                        _ => a >= b,
                    },
                    _ => false,
                },
            }
        }
    }
}

/// A template level as generated: text, a wildcard, or a variable with optional prefix.
#[derive(Debug, Clone)]
enum TL {
    Text(&'static str),
    Plus,
    Var(&'static str, Option<String>),
}

type Tpl = (Vec<TL>, bool);

fn var_name(key: Option<&str>) -> String {
    key.map_or("client.authenticationName".to_owned(), |k| {
        format!("client.attributes.{k}")
    })
}

fn tl() -> impl Strategy<Value = TL> {
    prop_oneof![
        3 => proptest::sample::select(LEVELS).prop_map(TL::Text),
        1 => Just(TL::Plus),
        3 => (proptest::sample::select(&["x", ""][..]), operand()).prop_map(|(p, o)| TL::Var(p, o)),
    ]
}

fn tpl() -> impl Strategy<Value = Tpl> {
    (proptest::collection::vec(tl(), 1..4), any::<bool>())
        .prop_filter("non-empty", |t| !print_tpl(t).is_empty())
}

fn print_tpl((levels, hash): &Tpl) -> String {
    let mut out: Vec<String> = levels
        .iter()
        .map(|l| match l {
            TL::Text(t) => (*t).to_owned(),
            TL::Plus => "+".to_owned(),
            TL::Var(prefix, key) => format!("{prefix}${{{}}}", var_name(key.as_deref())),
        })
        .collect();
    if *hash {
        out.push("#".into());
    }
    out.join("/")
}

/// Every filter a template stands for: one value per variable, each combination.
fn naive_expand((levels, hash): &Tpl, id: &ClientIdentity) -> Vec<String> {
    let values = |key: &Option<String>| -> Vec<String> {
        match key {
            None => vec![id.authentication_name.clone()],
            Some(k) => match id.attributes.get(k) {
                None => vec![],
                Some(AttributeValue::String(s)) => vec![s.clone()],
                Some(AttributeValue::Integer(i)) => vec![i.to_string()],
                Some(AttributeValue::StringArray(items)) => items.clone(),
            },
        }
    };
    let mut keys: Vec<Option<String>> = Vec::new();
    for l in levels {
        if let TL::Var(_, k) = l {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut combos: Vec<Vec<String>> = vec![vec![]];
    for k in &keys {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values(k)
                    .into_iter()
                    .map(move |v| [c.clone(), vec![v]].concat())
            })
            .collect();
    }
    combos
        .into_iter()
        .filter_map(|combo| {
            let value =
                |k: &Option<String>| combo[keys.iter().position(|x| x == k).unwrap_or(0)].clone();
            let mut out = Vec::new();
            for (i, l) in levels.iter().enumerate() {
                out.push(match l {
                    TL::Text(t) => (*t).to_owned(),
                    TL::Plus => "+".to_owned(),
                    TL::Var(prefix, k) => {
                        let v = value(k);
                        let bad = v.is_empty() || v.contains(['/', '+', '#']);
                        if bad || (i == 0 && prefix.is_empty() && v.starts_with('$')) {
                            return None;
                        }
                        format!("{prefix}{v}")
                    }
                });
            }
            if *hash {
                out.push("#".into());
            }
            Some(out.join("/"))
        })
        .collect()
}

fn identity() -> impl Strategy<Value = ClientIdentity> {
    let value = prop_oneof![
        proptest::sample::select(STRINGS).prop_map(AttributeValue::from),
        (-1i64..3).prop_map(AttributeValue::Integer),
        proptest::collection::vec(
            proptest::sample::select(&["a", "b", "a/b", "$s"][..]).prop_map(str::to_owned),
            0..3
        )
        .prop_map(AttributeValue::StringArray),
    ];
    (
        proptest::sample::select(&["dev", "Dev", "a", "$s"][..]),
        proptest::collection::btree_map(
            proptest::sample::select(KEYS).prop_map(str::to_owned),
            value,
            0..4,
        ),
    )
        .prop_map(|(name, attributes)| ClientIdentity {
            authentication_name: name.to_owned(),
            attributes,
        })
}

/// Topics and filters over the levels templates can produce.
fn topic_level() -> impl Strategy<Value = String> {
    proptest::sample::select(
        &[
            "a", "b", "$s", "", "dev", "Dev", "xa", "xdev", "x$s", "1", "z",
        ][..],
    )
    .prop_map(str::to_owned)
}

fn topic() -> impl Strategy<Value = String> {
    proptest::collection::vec(topic_level(), 1..5).prop_map(|l| l.join("/"))
}

fn sub_filter() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            prop_oneof![4 => topic_level(), 1 => Just("+".to_owned())],
            1..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(mut l, hash)| {
            if hash {
                l.push("#".into());
            }
            l.join("/")
        })
}

#[derive(Debug, Clone)]
struct World {
    groups: Vec<Q>,
    spaces: Vec<Vec<Tpl>>,
    /// (group index, where `groups.len()` is `$all`; space index; publisher?)
    bindings: Vec<(usize, usize, bool)>,
}

fn world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(q(), 0..4),
        proptest::collection::vec(proptest::collection::vec(tpl(), 1..4), 1..4),
    )
        .prop_flat_map(|(groups, spaces)| {
            let binding = (0..=groups.len(), 0..spaces.len(), any::<bool>());
            proptest::collection::vec(binding, 0..8).prop_map(move |bindings| World {
                groups: groups.clone(),
                spaces: spaces.clone(),
                bindings,
            })
        })
}

impl World {
    fn resources(&self) -> Resources {
        let group_name = |g: usize| {
            if g == self.groups.len() {
                "$all".to_owned()
            } else {
                format!("grp-{g}")
            }
        };
        Resources {
            client_groups: self
                .groups
                .iter()
                .enumerate()
                .map(|(i, q)| group(&format!("grp-{i}"), &print_q(q)))
                .collect(),
            topic_spaces: self
                .spaces
                .iter()
                .enumerate()
                .map(|(i, ts)| {
                    let printed: Vec<String> = ts.iter().map(print_tpl).collect();
                    let refs: Vec<&str> = printed.iter().map(String::as_str).collect();
                    space(&format!("ts-{i}"), &refs)
                })
                .collect(),
            permission_bindings: self
                .bindings
                .iter()
                .enumerate()
                .map(|(i, &(g, s, publisher))| {
                    let permission = if publisher {
                        Permission::Publisher
                    } else {
                        Permission::Subscriber
                    };
                    binding(
                        &format!("bind-{i}"),
                        &group_name(g),
                        &format!("ts-{s}"),
                        permission,
                    )
                })
                .collect(),
            ..Resources::default()
        }
    }

    /// The filters granted for one permission, straight from the definitions.
    fn naive_filters(&self, id: &ClientIdentity, publisher: bool) -> Vec<String> {
        let in_group = |g: usize| g == self.groups.len() || naive_query(&self.groups[g], id);
        self.bindings
            .iter()
            .filter(|&&(g, _, p)| p == publisher && in_group(g))
            .flat_map(|&(_, s, _)| self.spaces[s].iter().flat_map(|t| naive_expand(t, id)))
            .collect()
    }
}

proptest! {
    #![proptest_config(config())]

    /// (b) Decisions over random groups, queries, topic spaces, bindings and identities.
    #[test]
    fn decisions_agree_with_naive_reference(
        world in world(),
        ids in proptest::collection::vec(identity(), 1..4),
        topics in proptest::collection::vec(topic(), 1..8),
        filters in proptest::collection::vec(sub_filter(), 1..4),
    ) {
        let policy = compile(&world.resources());
        for id in &ids {
            let rights = policy.rights_for(id);
            let expected_groups: Vec<String> = (0..world.groups.len())
                .filter(|&g| naive_query(&world.groups[g], id))
                .map(|g| format!("grp-{g}"))
                .collect();
            let groups: Vec<String> = rights.groups()[1..].iter().map(|g| g.to_string()).collect();
            prop_assert_eq!(groups, expected_groups);
            let publish = world.naive_filters(id, true);
            for t in &topics {
                let expected = publish.iter().any(|f| matches_filter(f, t));
                prop_assert_eq!(rights.may_publish(t), expected, "topic {} filters {:?} id {:?}", t, publish, id);
            }
            let subscribe = world.naive_filters(id, false);
            for f in &filters {
                let expected = subscribe.iter().any(|t| naive_covers(t, f));
                prop_assert_eq!(rights.may_subscribe(f), expected, "filter {} templates {:?}", f, subscribe);
            }
        }
    }
}

#[test]
fn query_printer_in_this_test_matches_the_library() {
    let q = Q::And(vec![
        Q::Cmp(Some("k1".into()), "!=", Lit::S("it's".into())),
        Q::Not(Box::new(Q::In(None, vec![Lit::I(1), Lit::S("a".into())]))),
    ]);
    let printed = print_q(&q);
    let id = ClientIdentity::new("b").with_attribute("k1", "x");
    let parsed = Query::parse(&printed).expect("parses");
    assert!(parsed.matches(&id) && naive_query(&q, &id), "{printed}");
}
