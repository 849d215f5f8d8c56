//! Writes the resources of the namespace-mode fan-in benchmark (docs/BENCHMARKS.md) as
//! JSON to standard output: N publishing clients with attributes, client groups chosen by
//! query, topic spaces whose templates hold variables, permission bindings, and the
//! subscribers. Passwords are argon2id with cheap costs, so a thousand connects stay fast.
//!
//! ```sh
//! cargo run --release -p gridmq-server --example namespace_bench_resources -- \
//!     --clients 1000 --groups 20 --topic-spaces 50 > bench-namespace.json
//! ```
//!
//! Publisher `i` is `bench-p{i}` with attributes `idx = "i"` and `grp = "grp-(i % G)"`;
//! each group may publish in five topic spaces (round-robin over all of them), and every
//! topic space lets a client publish `PREFIX/+/in/${client.attributes.idx}` (where the
//! benchmark's fan-in publishes) besides topics of its own name and group. Subscribers
//! are `bench-s{i}` and may subscribe to `PREFIX/#`. The matching bench options are
//! `--username 'bench-{role}{i}' --password bench`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Publishing clients.
    #[arg(long, default_value_t = 1000)]
    clients: u32,
    /// Subscribing clients.
    #[arg(long, default_value_t = 1)]
    subscribers: u32,
    /// Client groups (besides the subscribers' own).
    #[arg(long, default_value_t = 20)]
    groups: u32,
    /// Topic spaces (besides the subscribers' own).
    #[arg(long, default_value_t = 50)]
    topic_spaces: u32,
    /// The bench tool's --topic-prefix.
    #[arg(long, default_value = "gbench")]
    topic_prefix: String,
    /// Every client's password.
    #[arg(long, default_value = "bench")]
    password: String,
}

fn main() {
    let args = Args::parse();
    let params = gridmq_auth::password::Params::new(1024, 1, 1, None).unwrap();
    let hash = gridmq_auth::hash_password_with(args.password.as_bytes(), params)
        .unwrap()
        .0;
    let prefix = &args.topic_prefix;
    let group = |g: u32| format!("grp-{g:02}");
    let space = |s: u32| format!("space-{s:02}");

    let mut clients: Vec<Value> = (0..args.clients)
        .map(|i| {
            json!({ "name": format!("bench-p{i}"), "passwordHashes": [hash],
                    "attributes": { "idx": i.to_string(), "grp": group(i % args.groups) } })
        })
        .collect();
    clients.extend((0..args.subscribers).map(|i| {
        json!({ "name": format!("bench-s{i}"), "passwordHashes": [hash],
                "attributes": { "role": "subscriber" } })
    }));
    let mut groups: Vec<Value> = (0..args.groups)
        .map(|g| json!({ "name": group(g), "query": format!("attributes.grp = '{}'", group(g)) }))
        .collect();
    groups.push(json!({ "name": "subscribers", "query": "attributes.role = 'subscriber'" }));
    let mut spaces: Vec<Value> = (0..args.topic_spaces)
        .map(|s| {
            json!({ "name": space(s), "topicTemplates": [
                format!("{prefix}/+/in/${{client.attributes.idx}}"),
                format!("devices/${{client.authenticationName}}/{}/#", space(s)),
                format!("groups/${{client.attributes.grp}}/{}/+", space(s)),
            ] })
        })
        .collect();
    spaces.push(json!({ "name": "bench-subscribe", "topicTemplates": [format!("{prefix}/#")] }));
    let mut bindings: Vec<Value> = Vec::new();
    for g in 0..args.groups {
        for k in 0..5 {
            let s = (g * 5 + k) % args.topic_spaces.max(1);
            bindings.push(
                json!({ "name": format!("pub-{g:02}-{k}"), "clientGroupName": group(g),
                                  "topicSpaceName": space(s), "permission": "Publisher" }),
            );
        }
    }
    bindings.push(
        json!({ "name": "subscribers-sub", "clientGroupName": "subscribers",
                          "topicSpaceName": "bench-subscribe", "permission": "Subscriber" }),
    );
    let document = json!({
        "clients": clients,
        "clientGroups": groups,
        "topicSpaces": spaces,
        "permissionBindings": bindings,
    });
    println!("{}", serde_json::to_string_pretty(&document).unwrap());
}
