//! Authorization cost: `may_publish`/`may_subscribe` per message or SUBSCRIBE, and
//! `rights_for` per session, with 20 client groups, 50 topic spaces and templates with
//! variables.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gridmq_access::{
    ClientGroup, ClientGroupProperties, ClientIdentity, ClientRights, Limits, Permission,
    PermissionBinding, PermissionBindingProperties, Policy, Resources, Template, TopicSpace,
    TopicSpaceProperties,
};
use gridmq_codec::topic::matches_filter;

const GROUPS: usize = 20;
const SPACES: usize = 50;

fn resources() -> Resources {
    let client_groups = (0..GROUPS)
        .map(|g| {
            ClientGroup::new(
                format!("group-{g:02}"),
                ClientGroupProperties {
                    query: format!(
                        "attributes.fleet IN ['fleet-{g}', 'fleet-{}'] or attributes.level >= {g}",
                        g + 1
                    ),
                    description: None,
                },
            )
        })
        .collect();
    let topic_spaces = (0..SPACES)
        .map(|s| {
            TopicSpace::new(
                format!("space-{s:02}"),
                TopicSpaceProperties {
                    topic_templates: vec![
                        format!("fleet/{s}/${{client.attributes.fleet}}/+/telemetry"),
                        format!("devices/${{client.authenticationName}}/space{s}/#"),
                        format!("region/${{client.attributes.region}}/space{s}/+"),
                        format!("static/{s}/events/#"),
                    ],
                    description: None,
                },
            )
        })
        .collect();
    let mut permission_bindings = Vec::new();
    for g in 0..GROUPS {
        for k in 0..5 {
            let s = (g * 5 + k) % SPACES;
            for (permission, tag) in [
                (Permission::Publisher, "pub"),
                (Permission::Subscriber, "sub"),
            ] {
                permission_bindings.push(PermissionBinding::new(
                    format!("{tag}-{g:02}-{s:02}"),
                    PermissionBindingProperties {
                        client_group_name: format!("group-{g:02}"),
                        topic_space_name: format!("space-{s:02}"),
                        permission,
                        description: None,
                    },
                ));
            }
        }
    }
    Resources {
        client_groups,
        topic_spaces,
        permission_bindings,
        ..Resources::default()
    }
}

fn identity() -> ClientIdentity {
    ClientIdentity::new("device-042")
        .with_attribute("fleet", "fleet-3")
        .with_attribute("region", vec!["eu-west".to_owned(), "us-east".to_owned()])
        .with_attribute("level", 10)
}

fn bench(c: &mut Criterion) {
    let resources = resources();
    let limits = Limits::default();
    let Ok(policy) = Policy::compile(&resources, &limits) else {
        panic!("benchmark resources must compile");
    };
    let id = identity();
    let rights = policy.rights_for(&id);
    // Groups 0..=10 by level, and 2..=3 by fleet: 11 groups, 55 topic spaces' worth of
    // bindings over 50 spaces.
    assert!(rights.may_publish("fleet/12/fleet-3/truck7/telemetry"));
    assert!(rights.may_publish("devices/device-042/space40/a/b"));
    assert!(!rights.may_publish("fleet/12/fleet-4/truck7/telemetry"));
    assert!(rights.may_subscribe("region/us-east/space30/+"));

    c.bench_function("may_publish/hit_variable_template", |b| {
        b.iter(|| black_box(&rights).may_publish(black_box("fleet/12/fleet-3/truck7/telemetry")))
    });
    c.bench_function("may_publish/hit_hash_template", |b| {
        b.iter(|| black_box(&rights).may_publish(black_box("devices/device-042/space40/a/b")))
    });
    c.bench_function("may_publish/miss", |b| {
        b.iter(|| black_box(&rights).may_publish(black_box("fleet/12/fleet-4/truck7/telemetry")))
    });
    c.bench_function("may_subscribe/hit", |b| {
        b.iter(|| black_box(&rights).may_subscribe(black_box("region/us-east/space30/+")))
    });
    c.bench_function("may_subscribe/miss", |b| {
        b.iter(|| black_box(&rights).may_subscribe(black_box("region/+/space30/+")))
    });
    // The naive alternative, for scale: every filter the client holds, tried in turn.
    let filters = expanded_publish_filters(&resources, &rights, &id);
    let topic = "fleet/12/fleet-3/truck7/telemetry";
    assert!(filters.iter().any(|f| matches_filter(f, topic)));
    c.bench_function("baseline/linear_scan_matches_filter", |b| {
        b.iter(|| {
            black_box(&filters)
                .iter()
                .any(|f| matches_filter(f, black_box(topic)))
        })
    });
    c.bench_function("rights_for/session", |b| {
        b.iter(|| policy.rights_for(black_box(&id)))
    });
    c.bench_function("compile/20_groups_50_spaces", |b| {
        b.iter(|| Policy::compile(black_box(&resources), &limits).is_ok())
    });
}

/// The publisher filters of the client's groups, expanded one by one.
fn expanded_publish_filters(
    resources: &Resources,
    rights: &ClientRights,
    id: &ClientIdentity,
) -> Vec<String> {
    let mut filters: Vec<String> = resources
        .permission_bindings
        .iter()
        .filter(|b| b.properties.permission == Permission::Publisher)
        .filter(|b| {
            rights
                .groups()
                .iter()
                .any(|g| **g == *b.properties.client_group_name)
        })
        .filter_map(|b| resources.topic_space(&b.properties.topic_space_name))
        .flat_map(|ts| ts.properties.topic_templates.iter())
        .filter_map(|t| Template::parse(t).ok())
        .flat_map(|t| t.expand(id, 256))
        .collect();
    filters.sort();
    filters.dedup();
    assert_eq!(filters.len(), rights.publish_filter_count());
    filters
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
