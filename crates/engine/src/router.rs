//! The router: every session's subscriptions in one topic tree, and the fan-out of a
//! published message to the inboxes of the sessions it matches.
//!
//! Publishing takes the tree's read lock for one walk; subscribing takes the write lock
//! briefly. The payload is shared by reference count across all deliveries.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gridmq_codec::{SubscribeOptions, SubscriptionFilter};
use parking_lot::RwLock;
use smallvec::SmallVec;

use crate::durable::RouteLog;
use crate::inbox::{Inbox, PushOutcome};
use crate::message::{Delivery, Message, SessionId, SharedRef};
use crate::topic_tree::TopicTree;

/// One session's subscription to one filter.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The subscribing session.
    pub session: SessionId,
    /// Where its deliveries go.
    pub inbox: Arc<Inbox>,
    /// The options it subscribed with.
    pub options: SubscribeOptions,
    /// Its Subscription Identifier, if it gave one.
    pub id: Option<NonZeroU32>,
}

/// A shared subscription group on one filter: each message goes to one member.
#[derive(Debug)]
struct SharedGroup {
    reference: Arc<SharedRef>,
    members: Vec<Subscriber>,
    cursor: AtomicUsize,
}

/// Subscriptions that share one topic filter.
#[derive(Debug, Default)]
struct Node {
    plain: Vec<Subscriber>,
    shared: Vec<SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.shared.is_empty()
    }
}

/// What routing one message did.
#[derive(Debug, Clone, Default)]
pub struct RouteReport {
    /// Sessions the message was queued for.
    pub delivered: usize,
    /// Sessions whose full inbox refused it (overflow policy `Refuse`).
    pub refused: usize,
    /// Sessions whose full inbox dropped a message to take it, or dropped it.
    pub dropped: usize,
    /// Connected sessions whose queues are congested: the publisher should be throttled
    /// until they drain.
    pub congested: SmallVec<[Arc<Inbox>; 2]>,
}

impl RouteReport {
    fn count_pushed(&mut self, (outcome, congested): (PushOutcome, bool), inbox: &Arc<Inbox>) {
        if congested {
            self.congested.push(inbox.clone());
        }
        self.count(outcome);
    }

    fn count(&mut self, outcome: PushOutcome) {
        match outcome {
            PushOutcome::Queued => self.delivered += 1,
            PushOutcome::QueuedDroppedOldest => {
                self.delivered += 1;
                self.dropped += 1;
            }
            PushOutcome::DroppedFull => self.dropped += 1,
            PushOutcome::RefusedFull => self.refused += 1,
            PushOutcome::SkippedOffline | PushOutcome::Closed => {}
        }
    }
}

/// All subscriptions of all sessions.
#[derive(Debug, Default)]
pub struct Router {
    tree: RwLock<TopicTree<Node>>,
    subscriptions: AtomicUsize,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `subscriber`'s subscription to `filter`. Returns whether it
    /// replaced an existing one ([MQTT-3.8.4-3]).
    pub fn subscribe(&self, filter: &SubscriptionFilter, subscriber: Subscriber) -> bool {
        let mut tree = self.tree.write();
        let node = tree.get_or_insert_with(filter.filter(), Node::default);
        let members = match filter {
            SubscriptionFilter::Plain(_) => &mut node.plain,
            SubscriptionFilter::Shared { group, filter } => {
                let index = match node.shared.iter().position(|g| g.reference.group == *group) {
                    Some(index) => index,
                    None => {
                        node.shared.push(SharedGroup {
                            reference: Arc::new(SharedRef {
                                group: group.clone(),
                                filter: filter.clone(),
                            }),
                            members: Vec::new(),
                            cursor: AtomicUsize::new(0),
                        });
                        node.shared.len() - 1
                    }
                };
                &mut node.shared[index].members
            }
        };
        match members.iter_mut().find(|s| s.session == subscriber.session) {
            Some(existing) => {
                *existing = subscriber;
                true
            }
            None => {
                members.push(subscriber);
                self.subscriptions.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Removes `session`'s subscription to `filter`. Returns whether it existed.
    pub fn unsubscribe(&self, filter: &SubscriptionFilter, session: SessionId) -> bool {
        let mut tree = self.tree.write();
        let Some(node) = tree.get_mut(filter.filter()) else {
            return false;
        };
        let removed = match filter {
            SubscriptionFilter::Plain(_) => remove_member(&mut node.plain, session),
            SubscriptionFilter::Shared { group, .. } => {
                match node.shared.iter().position(|g| g.reference.group == *group) {
                    Some(index) => {
                        let removed = remove_member(&mut node.shared[index].members, session);
                        if node.shared[index].members.is_empty() {
                            node.shared.swap_remove(index);
                        }
                        removed
                    }
                    None => false,
                }
            }
        };
        if node.is_empty() {
            tree.remove(filter.filter());
        }
        if removed {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Number of subscriptions held.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Queues `message` for every session with a matching subscription: once per
    /// session for its plain subscriptions (highest QoS, all subscription identifiers,
    /// [MQTT-3.3.4-2]/[MQTT-3.3.4-3]) and once per matching shared group.
    pub fn route(&self, message: &Arc<Message>) -> RouteReport {
        self.route_logged(message, None)
    }

    /// [`Router::route`], recording durable queue entries in `log`.
    pub(crate) fn route_logged(
        &self,
        message: &Arc<Message>,
        mut log: Option<&mut RouteLog>,
    ) -> RouteReport {
        let mut report = RouteReport::default();
        let tree = self.tree.read();
        let mut matches: SmallVec<[&Subscriber; 16]> = SmallVec::new();
        let mut nodes_with_plain = 0usize;
        tree.for_each_match(&message.topic, |node| {
            if !node.plain.is_empty() {
                nodes_with_plain += 1;
                matches.extend(
                    node.plain
                        .iter()
                        .filter(|s| !(s.options.no_local && message.origin == Some(s.session))),
                );
            }
            for group in &node.shared {
                let (outcome, congested) =
                    deliver_to_group(group, message, None, log.as_deref_mut());
                if let Some(inbox) = congested {
                    report.congested.push(inbox);
                }
                report.count(outcome);
            }
        });
        if nodes_with_plain > 1 {
            matches.sort_unstable_by_key(|s| s.session);
        }
        let mut index = 0;
        while index < matches.len() {
            let first = matches[index];
            let mut delivery = delivery_for(message, first);
            index += 1;
            while index < matches.len() && matches[index].session == first.session {
                merge_into(&mut delivery, message, matches[index]);
                index += 1;
            }
            report.count_pushed(
                first.inbox.push_logged(delivery, log.as_deref_mut()),
                &first.inbox,
            );
        }
        report
    }

    /// Offers a delivery made through shared subscription `shared` to another member
    /// of the group than `exclude`. Returns whether a member took it.
    pub fn redeliver_shared(
        &self,
        shared: &SharedRef,
        delivery: Delivery,
        exclude: SessionId,
    ) -> bool {
        self.redeliver_shared_logged(shared, delivery, exclude, None)
    }

    pub(crate) fn redeliver_shared_logged(
        &self,
        shared: &SharedRef,
        delivery: Delivery,
        exclude: SessionId,
        log: Option<&mut RouteLog>,
    ) -> bool {
        let tree = self.tree.read();
        let Some(group) = tree.get(&shared.filter).and_then(|node| {
            node.shared
                .iter()
                .find(|g| g.reference.group == shared.group)
        }) else {
            return false;
        };
        deliver_to_group(group, &delivery.message, Some(exclude), log)
            .0
            .is_queued()
    }
}

fn remove_member(members: &mut Vec<Subscriber>, session: SessionId) -> bool {
    match members.iter().position(|s| s.session == session) {
        Some(index) => {
            members.swap_remove(index);
            true
        }
        None => false,
    }
}

fn delivery_for(message: &Arc<Message>, subscriber: &Subscriber) -> Delivery {
    let mut delivery = Delivery::new(
        message.clone(),
        message.qos.min(subscriber.options.qos),
        // [MQTT-3.3.1-12] Retain As Published keeps the flag; otherwise it is cleared.
        message.retain && subscriber.options.retain_as_published,
    );
    delivery.subscription_ids.extend(subscriber.id);
    delivery
}

fn merge_into(delivery: &mut Delivery, message: &Message, subscriber: &Subscriber) {
    delivery.qos = delivery.qos.max(message.qos.min(subscriber.options.qos));
    delivery.retain |= message.retain && subscriber.options.retain_as_published;
    delivery.subscription_ids.extend(subscriber.id);
}

/// Picks one member round-robin, preferring connected members, and queues the message
/// for it; falls through to the next member when an inbox refuses.
fn deliver_to_group(
    group: &SharedGroup,
    message: &Arc<Message>,
    exclude: Option<SessionId>,
    mut log: Option<&mut RouteLog>,
) -> (PushOutcome, Option<Arc<Inbox>>) {
    let count = group.members.len();
    if count == 0 {
        return (PushOutcome::Closed, None);
    }
    let start = group.cursor.fetch_add(1, Ordering::Relaxed) % count;
    let candidates = || {
        (0..count)
            .map(|i| &group.members[(start + i) % count])
            .filter(|m| Some(m.session) != exclude)
    };
    let mut last = PushOutcome::Closed;
    for online_pass in [true, false] {
        for member in candidates().filter(|m| m.inbox.is_online() == online_pass) {
            let mut delivery = delivery_for(message, member);
            delivery.shared = Some(group.reference.clone());
            let (outcome, congested) = member.inbox.push_logged(delivery, log.as_deref_mut());
            last = outcome;
            if last.is_queued() {
                return (last, congested.then(|| member.inbox.clone()));
            }
        }
    }
    (last, None)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Instant;

    use bytes::Bytes;
    use gridmq_codec::{Publish, QoS, TopicName};

    use super::*;
    use crate::config::OverflowPolicy;
    use crate::inbox::InboxLimits;

    fn inbox() -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::new(
            0,
            InboxLimits {
                max_messages: 100,
                max_bytes: u64::MAX,
                overflow: OverflowPolicy::DropOldest,
                queue_qos0_offline: false,
                congestion_threshold: usize::MAX,
            },
        ));
        inbox.set_online(true);
        inbox
    }

    fn subscriber(session: u64, inbox: &Arc<Inbox>, qos: QoS, id: Option<u32>) -> Subscriber {
        Subscriber {
            session: SessionId(session),
            inbox: inbox.clone(),
            options: SubscribeOptions {
                qos,
                ..Default::default()
            },
            id: id.and_then(NonZeroU32::new),
        }
    }

    fn filter(f: &str) -> SubscriptionFilter {
        SubscriptionFilter::parse(&f.into()).unwrap()
    }

    fn message(topic: &str, qos: QoS, origin: Option<u64>) -> Arc<Message> {
        let mut publish = Publish::new(TopicName::new(topic).unwrap(), Bytes::from_static(b"x"));
        publish.qos = qos;
        publish.retain = true;
        Arc::new(Message::from_publish(
            publish,
            Instant::now(),
            origin.map(SessionId),
        ))
    }

    fn drain(inbox: &Inbox) -> Vec<Delivery> {
        let mut out = VecDeque::new();
        inbox.take_all(&mut out);
        out.into()
    }

    #[test]
    fn overlapping_subscriptions_give_one_delivery_at_the_highest_qos() {
        let router = Router::new();
        let a = inbox();
        router.subscribe(&filter("a/+"), subscriber(1, &a, QoS::AtMostOnce, Some(1)));
        router.subscribe(&filter("a/#"), subscriber(1, &a, QoS::ExactlyOnce, Some(2)));
        let report = router.route(&message("a/b", QoS::AtLeastOnce, None));
        assert_eq!(report.delivered, 1);
        let got = drain(&a);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
        let mut ids: Vec<u32> = got[0].subscription_ids.iter().map(|i| i.get()).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
        assert!(!got[0].retain, "retain cleared without Retain As Published");
    }

    #[test]
    fn no_local_skips_the_publisher() {
        let router = Router::new();
        let a = inbox();
        let mut sub = subscriber(1, &a, QoS::AtLeastOnce, None);
        sub.options.no_local = true;
        router.subscribe(&filter("t"), sub);
        router.route(&message("t", QoS::AtLeastOnce, Some(1)));
        assert!(drain(&a).is_empty());
        router.route(&message("t", QoS::AtLeastOnce, Some(2)));
        assert_eq!(drain(&a).len(), 1);
    }

    #[test]
    fn retain_as_published_keeps_the_flag() {
        let router = Router::new();
        let a = inbox();
        let mut sub = subscriber(1, &a, QoS::AtLeastOnce, None);
        sub.options.retain_as_published = true;
        router.subscribe(&filter("t"), sub);
        router.route(&message("t", QoS::AtLeastOnce, None));
        assert!(drain(&a)[0].retain);
    }

    #[test]
    fn shared_group_balances_round_robin() {
        let router = Router::new();
        let (a, b) = (inbox(), inbox());
        router.subscribe(
            &filter("$share/g/t/#"),
            subscriber(1, &a, QoS::AtLeastOnce, None),
        );
        router.subscribe(
            &filter("$share/g/t/#"),
            subscriber(2, &b, QoS::AtLeastOnce, None),
        );
        for _ in 0..10 {
            assert_eq!(
                router
                    .route(&message("t/x", QoS::AtLeastOnce, None))
                    .delivered,
                1
            );
        }
        assert_eq!(drain(&a).len(), 5);
        let got = drain(&b);
        assert_eq!(got.len(), 5);
        assert!(got[0].shared.is_some());
    }

    #[test]
    fn shared_group_prefers_connected_members() {
        let router = Router::new();
        let (a, b) = (inbox(), inbox());
        b.set_online(false);
        router.subscribe(
            &filter("$share/g/t"),
            subscriber(1, &a, QoS::AtLeastOnce, None),
        );
        router.subscribe(
            &filter("$share/g/t"),
            subscriber(2, &b, QoS::AtLeastOnce, None),
        );
        for _ in 0..4 {
            router.route(&message("t", QoS::AtLeastOnce, None));
        }
        assert_eq!(drain(&a).len(), 4);
        assert!(drain(&b).is_empty());
    }

    #[test]
    fn each_group_and_each_plain_subscriber_gets_a_copy() {
        let router = Router::new();
        let (a, b, c) = (inbox(), inbox(), inbox());
        router.subscribe(
            &filter("$share/g1/t"),
            subscriber(1, &a, QoS::AtLeastOnce, None),
        );
        router.subscribe(
            &filter("$share/g2/t"),
            subscriber(2, &b, QoS::AtLeastOnce, None),
        );
        router.subscribe(&filter("t"), subscriber(3, &c, QoS::AtLeastOnce, None));
        assert_eq!(
            router
                .route(&message("t", QoS::AtLeastOnce, None))
                .delivered,
            3
        );
    }

    #[test]
    fn unsubscribe_removes_and_reports() {
        let router = Router::new();
        let a = inbox();
        assert!(!router.subscribe(&filter("t"), subscriber(1, &a, QoS::AtLeastOnce, None)));
        assert!(router.subscribe(&filter("t"), subscriber(1, &a, QoS::AtMostOnce, None)));
        assert_eq!(router.subscription_count(), 1);
        assert!(router.unsubscribe(&filter("t"), SessionId(1)));
        assert!(!router.unsubscribe(&filter("t"), SessionId(1)));
        assert_eq!(router.subscription_count(), 0);
        assert_eq!(
            router
                .route(&message("t", QoS::AtLeastOnce, None))
                .delivered,
            0
        );
    }

    #[test]
    fn redelivery_goes_to_another_member() {
        let router = Router::new();
        let (a, b) = (inbox(), inbox());
        router.subscribe(
            &filter("$share/g/t"),
            subscriber(1, &a, QoS::AtLeastOnce, None),
        );
        router.subscribe(
            &filter("$share/g/t"),
            subscriber(2, &b, QoS::AtLeastOnce, None),
        );
        router.route(&message("t", QoS::AtLeastOnce, None));
        let (from, to) = if a.is_empty() { (&b, &a) } else { (&a, &b) };
        let delivery = drain(from).remove(0);
        let shared = delivery.shared.clone().unwrap();
        let exclude = if Arc::ptr_eq(from, &a) {
            SessionId(1)
        } else {
            SessionId(2)
        };
        assert!(router.redeliver_shared(&shared, delivery, exclude));
        assert_eq!(drain(to).len(), 1);
    }
}
