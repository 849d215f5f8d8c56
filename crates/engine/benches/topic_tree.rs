//! Topic tree benchmarks: subscription matching, subscribe/unsubscribe, retained queries.
//!
//! The workload is a vehicle fleet. Each vehicle has 7 exact telemetry subscriptions
//! (`fleet/{v}/telemetry/{sensor}`), `fleet/{v}/cmd/+` and `fleet/{v}/alerts/#`, every 100th
//! vehicle a `fleet/{v}/#`, and a few fleet-wide filters (`fleet/+/alerts/#`,
//! `fleet/+/telemetry/engine_temp`, `$SYS/broker/#`). Published topics hit random vehicles
//! and a quarter of them match nothing; a small set repeated (`hot`) shows the walk in cache,
//! a large one (`spread`) the cache misses of a big tree.
//!
//! Memory per subscription is the growth of the resident set while the 1M tree is built,
//! printed with the tree's own estimate ([`TopicTree::heap_bytes`]).

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gridmq_engine::topic_tree::{TopicIndex, TopicTree};

const SENSORS: [&str; 7] = [
    "speed",
    "rpm",
    "engine_temp",
    "fuel_level",
    "gps",
    "battery_voltage",
    "tire_pressure",
];

/// Subscriptions per vehicle, fleet-wide filters aside.
const PER_VEHICLE: usize = SENSORS.len() + 2;

/// The value stored per filter: a stand-in for the router's small subscriber struct.
type Subscribers = u64;

/// A tiny deterministic generator, so runs are comparable.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn vehicle(v: usize) -> String {
    format!("veh-{v:08}")
}

/// Calls `f` with every filter of a fleet of `vehicles`.
fn fleet_filters(vehicles: usize, mut f: impl FnMut(&str)) {
    for global in [
        "fleet/+/alerts/#",
        "fleet/+/telemetry/engine_temp",
        "$SYS/broker/#",
    ] {
        f(global);
    }
    for v in 0..vehicles {
        let id = vehicle(v);
        for sensor in SENSORS {
            f(&format!("fleet/{id}/telemetry/{sensor}"));
        }
        f(&format!("fleet/{id}/cmd/+"));
        f(&format!("fleet/{id}/alerts/#"));
        if v % 100 == 0 {
            f(&format!("fleet/{id}/#"));
        }
    }
}

fn build_tree(subscriptions: usize) -> TopicTree<Subscribers> {
    let mut tree = TopicTree::new();
    let mut next = 0;
    fleet_filters(subscriptions / PER_VEHICLE, |filter| {
        next += 1;
        *tree.get_or_insert_with(filter, || 0) = next;
    });
    tree
}

/// Published topics: 3/4 reach subscribers, 1/4 match nothing.
fn publish_topics(vehicles: usize, count: usize) -> Vec<String> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|i| {
            let id = vehicle(rng.below(vehicles));
            let sensor = SENSORS[rng.below(SENSORS.len())];
            match i % 8 {
                0..=3 => format!("fleet/{id}/telemetry/{sensor}"),
                4 => format!("fleet/{id}/alerts/overheat"),
                5 => format!("fleet/{id}/cmd/reboot"),
                6 => format!("fleet/{}/telemetry/{sensor}", vehicle(vehicles + i)),
                _ => format!("plant/{id}/line/{sensor}"),
            }
        })
        .collect()
}

/// Time this thread has spent on a CPU, from `/proc/thread-self/schedstat` (Linux).
///
/// The benches time by it rather than by the wall clock because the machine is shared: what
/// they report is then throughput per core, not per share of a core.
fn cpu_time() -> Option<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// A stopwatch on CPU time, or on the wall clock where that is not available.
struct Stopwatch(Option<Duration>, Instant);

impl Stopwatch {
    fn start() -> Self {
        Self(cpu_time(), Instant::now())
    }

    fn elapsed(&self) -> Duration {
        match (self.0, cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.1.elapsed(),
        }
    }
}

/// Runs `routine` as many times as criterion asks, timed by [`Stopwatch`].
fn on_cpu<T>(b: &mut criterion::Bencher<'_>, mut routine: impl FnMut() -> T) {
    b.iter_custom(|iterations| {
        let watch = Stopwatch::start();
        for _ in 0..iterations {
            black_box(routine());
        }
        watch.elapsed()
    });
}

/// Resident set size in bytes, from `/proc/self/statm` (Linux).
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_tree/match");
    // Largest first, so its resident-set growth is not hidden by memory freed before it.
    for subscriptions in [1_000_000, 100_000, 1_000] {
        let rss_before = rss_bytes();
        let started = Instant::now();
        let tree = build_tree(subscriptions);
        let built = started.elapsed();
        // Only the first (largest) tree grows the process; later ones reuse freed memory.
        let rss = match (rss_bytes(), rss_before) {
            (Some(after), Some(before)) if subscriptions == 1_000_000 => format!(
                ", rss +{:.1} B/sub",
                after.saturating_sub(before) as f64 / tree.len() as f64
            ),
            _ => String::new(),
        };
        eprintln!(
            "{} subscriptions: built in {built:.2?} ({:.0} inserts/s), {} nodes{rss}, \
             heap estimate {:.1} B/sub",
            tree.len(),
            tree.len() as f64 / built.as_secs_f64(),
            tree.node_count(),
            tree.heap_bytes() as f64 / tree.len() as f64,
        );

        // `hot`: 4,096 topics published over and over, whose paths stay in cache. `spread`:
        // 262,144 topics over all vehicles, so a big tree is walked mostly from memory, as
        // when a whole fleet reports.
        for (name, count) in [("hot", 1 << 12), ("spread", 1 << 18)] {
            let topics = publish_topics(subscriptions / PER_VEHICLE, count);
            let mut matched = 0usize;
            for topic in &topics {
                tree.for_each_match(topic, |_| matched += 1);
            }
            eprintln!(
                "  {name}: {:.2} matches per publish",
                matched as f64 / topics.len() as f64
            );
            group.throughput(Throughput::Elements(topics.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(name, subscriptions),
                &topics,
                |b, topics| {
                    on_cpu(b, || {
                        let mut sum: Subscribers = 0;
                        for topic in topics {
                            tree.for_each_match(black_box(topic), |subscribers| {
                                sum += *subscribers
                            });
                        }
                        sum
                    });
                },
            );
        }
    }
    group.finish();
}

/// Subscribes then unsubscribes 1,000 new vehicles' filters on a tree of `subscriptions`,
/// timing one half at a time.
fn subscribe_unsubscribe(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_tree/churn");
    for subscriptions in [100_000, 1_000_000] {
        let mut tree = build_tree(subscriptions);
        let mut filters = Vec::new();
        let base = subscriptions / PER_VEHICLE;
        for v in base..base + 1_000 {
            for sensor in SENSORS {
                filters.push(format!("fleet/{}/telemetry/{sensor}", vehicle(v)));
            }
        }
        group.throughput(Throughput::Elements(filters.len() as u64));
        let mut timed = |name: &str, insert_timed: bool| {
            group.bench_function(BenchmarkId::new(name, subscriptions), |b| {
                b.iter_custom(|iterations| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let started = Stopwatch::start();
                        for filter in &filters {
                            tree.get_or_insert_with(filter, || 1);
                        }
                        let inserted = started.elapsed();
                        let started = Stopwatch::start();
                        for filter in &filters {
                            black_box(tree.remove(filter));
                        }
                        spent += if insert_timed {
                            inserted
                        } else {
                            started.elapsed()
                        };
                    }
                    spent
                });
            });
        };
        timed("insert", true);
        timed("remove", false);
    }
    group.finish();
}

fn retained(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_index/query");
    let vehicles = 100_000 / SENSORS.len();
    let mut index = TopicIndex::new();
    for v in 0..vehicles {
        for sensor in SENSORS {
            let topic = format!("fleet/{}/telemetry/{sensor}", vehicle(v));
            index.insert(&topic, topic.len());
        }
    }
    eprintln!(
        "{} retained topics: {} nodes, heap estimate {:.1} B/topic",
        index.len(),
        index.node_count(),
        index.heap_bytes() as f64 / index.len() as f64,
    );
    let middle = vehicle(vehicles / 2);
    let queries = [
        ("one_vehicle", format!("fleet/{middle}/#")),
        (
            "one_sensor_all_vehicles",
            "fleet/+/telemetry/speed".to_owned(),
        ),
        ("everything", "#".to_owned()),
        ("page_of_100_mid_listing", "#".to_owned()),
    ];
    let resume = format!("fleet/{middle}/telemetry/gps");
    for (name, filter) in &queries {
        let paged = *name == "page_of_100_mid_listing";
        let after = paged.then_some(resume.as_str());
        let mut visited = 0u64;
        let _ = index.for_each_match_after(filter, after, |_, _| {
            visited += 1;
            if paged && visited == 100 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        group.throughput(Throughput::Elements(visited));
        group.bench_function(*name, |b| {
            on_cpu(b, || {
                let mut count = 0u64;
                let _ = index.for_each_match_after(black_box(filter), after, |topic, len| {
                    count += (topic.len() == *len) as u64;
                    if paged && count == 100 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                count
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = matching, subscribe_unsubscribe, retained
}
criterion_main!(benches);
