//! rumqttc clients for MQTT 3.1.1 ([`V3`]) and 5 ([`V5`]). A task polls each client's
//! event loop and forwards its events to a bounded channel; the test waits on them.
//! The task stops at the first error, so a client never reconnects behind a test's back.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::within;

/// Events buffered between the event loop task and the test.
const CHANNEL: usize = 1024;
/// Events set aside while waiting for another kind; a test that leaves more is broken.
const STASH: usize = 10_000;

/// The events of one client, in order, with the ones a wait skipped kept for later.
pub(crate) struct Events<E, X> {
    rx: mpsc::Receiver<Result<E, X>>,
    stash: VecDeque<E>,
    task: JoinHandle<()>,
}

impl<E: Debug, X: Debug> Events<E, X> {
    /// Waits for the first event `select` picks, keeping the others in order.
    pub(crate) async fn wait_for<T>(
        &mut self,
        what: &str,
        mut select: impl FnMut(&E) -> Option<T>,
    ) -> T {
        if let Some(index) = self.stash.iter().position(|e| select(e).is_some()) {
            let event = self.stash.remove(index).expect("index is in range");
            return select(&event).expect("selected before");
        }
        let stash = &mut self.stash;
        let rx = &mut self.rx;
        within(what, async {
            loop {
                match rx.recv().await {
                    Some(Ok(event)) => {
                        if let Some(found) = select(&event) {
                            return found;
                        }
                        assert!(stash.len() < STASH, "too many events skipped: {stash:?}");
                        stash.push_back(event);
                    }
                    Some(Err(error)) => panic!("connection ended waiting for {what}: {error:?}"),
                    None => panic!("event loop stopped waiting for {what}"),
                }
            }
        })
        .await
    }

    /// Waits for the connection to end and returns its error; events before it are kept.
    pub(crate) async fn wait_for_error(&mut self) -> X {
        let stash = &mut self.stash;
        let rx = &mut self.rx;
        within("the connection to end", async {
            loop {
                match rx.recv().await {
                    Some(Ok(event)) => {
                        assert!(stash.len() < STASH, "too many events: {stash:?}");
                        stash.push_back(event);
                    }
                    Some(Err(error)) => return error,
                    None => panic!("event loop stopped without an error"),
                }
            }
        })
        .await
    }

    /// Events received so far and not yet taken, for inspection.
    pub(crate) fn skipped(&self) -> &VecDeque<E> {
        &self.stash
    }
}

impl<E, X> Drop for Events<E, X> {
    fn drop(&mut self) {
        // Dropping the event loop closes the socket without DISCONNECT.
        self.task.abort();
    }
}

fn spawn_events<E, X, L, F>(mut eventloop: L, mut poll: F) -> Events<E, X>
where
    E: Send + 'static,
    X: Send + 'static,
    L: Send + 'static,
    F: for<'a> FnMut(
            &'a mut L,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<E, X>> + Send + 'a>,
        > + Send
        + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL);
    let task = tokio::spawn(async move {
        loop {
            let result = poll(&mut eventloop).await;
            let stop = result.is_err();
            if tx.send(result).await.is_err() || stop {
                return;
            }
        }
    });
    Events {
        rx,
        stash: VecDeque::new(),
        task,
    }
}

/// MQTT 3.1.1 options for `client_id` at the broker on 127.0.0.1:`port`.
pub(crate) fn v3_options(port: u16, client_id: &str) -> rumqttc::MqttOptions {
    let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options
}

/// MQTT 5 options for `client_id` at the broker on 127.0.0.1:`port`.
pub(crate) fn v5_options(port: u16, client_id: &str) -> rumqttc::v5::MqttOptions {
    let mut options = rumqttc::v5::MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options
}

/// A rumqttc MQTT 3.1.1 client.
pub(crate) struct V3 {
    pub(crate) client: rumqttc::AsyncClient,
    pub(crate) events: Events<rumqttc::Event, rumqttc::ConnectionError>,
}

impl V3 {
    /// Connects and waits for a successful CONNACK.
    pub(crate) async fn connect(options: rumqttc::MqttOptions) -> (Self, rumqttc::ConnAck) {
        let (client, eventloop) = rumqttc::AsyncClient::new(options, 64);
        let mut events = spawn_events(eventloop, |l: &mut rumqttc::EventLoop| Box::pin(l.poll()));
        let ack = events
            .wait_for("CONNACK", |e| match e {
                rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack)) => Some(ack.clone()),
                _ => None,
            })
            .await;
        assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
        (Self { client, events }, ack)
    }

    /// Connects and returns the error that ends the attempt (a refused CONNACK).
    pub(crate) async fn connect_error(options: rumqttc::MqttOptions) -> rumqttc::ConnectionError {
        let (_client, eventloop) = rumqttc::AsyncClient::new(options, 64);
        let mut events = spawn_events(eventloop, |l: &mut rumqttc::EventLoop| Box::pin(l.poll()));
        events.wait_for_error().await
    }

    /// Subscribes and waits for the SUBACK; returns its return codes.
    pub(crate) async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::QoS,
    ) -> Vec<rumqttc::SubscribeReasonCode> {
        within("subscribe", self.client.subscribe(filter, qos))
            .await
            .expect("subscribe request");
        self.events
            .wait_for("SUBACK", |e| match e {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(ack)) => {
                    Some(ack.return_codes.clone())
                }
                _ => None,
            })
            .await
    }

    /// Unsubscribes and waits for the UNSUBACK.
    pub(crate) async fn unsubscribe(&mut self, filter: &str) {
        within("unsubscribe", self.client.unsubscribe(filter))
            .await
            .expect("unsubscribe request");
        self.events
            .wait_for("UNSUBACK", |e| {
                matches!(e, rumqttc::Event::Incoming(rumqttc::Packet::UnsubAck(_))).then_some(())
            })
            .await
    }

    /// Publishes and waits until the exchange completes: written for QoS 0, PUBACK for
    /// QoS 1, PUBCOMP for QoS 2.
    pub(crate) async fn publish(
        &mut self,
        topic: &str,
        qos: rumqttc::QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) {
        within(
            "publish",
            self.client.publish(topic, qos, retain, payload.into()),
        )
        .await
        .expect("publish request");
        let pkid = self
            .events
            .wait_for("the PUBLISH to be written", |e| match e {
                rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(pkid)) => Some(*pkid),
                _ => None,
            })
            .await;
        match qos {
            rumqttc::QoS::AtMostOnce => {}
            rumqttc::QoS::AtLeastOnce => {
                self.events
                    .wait_for("PUBACK", |e| match e {
                        rumqttc::Event::Incoming(rumqttc::Packet::PubAck(a)) if a.pkid == pkid => {
                            Some(())
                        }
                        _ => None,
                    })
                    .await
            }
            rumqttc::QoS::ExactlyOnce => {
                self.events
                    .wait_for("PUBCOMP", |e| match e {
                        rumqttc::Event::Incoming(rumqttc::Packet::PubComp(a)) if a.pkid == pkid => {
                            Some(())
                        }
                        _ => None,
                    })
                    .await
            }
        }
    }

    /// The next PUBLISH received.
    pub(crate) async fn next_publish(&mut self) -> rumqttc::Publish {
        self.events
            .wait_for("a PUBLISH", |e| match e {
                rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => Some(p.clone()),
                _ => None,
            })
            .await
    }

    /// Sends DISCONNECT and waits until the broker has closed the connection.
    pub(crate) async fn disconnect(mut self) {
        within("disconnect", self.client.disconnect())
            .await
            .expect("disconnect request");
        self.events
            .wait_for("DISCONNECT to be written", |e| {
                matches!(e, rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)).then_some(())
            })
            .await;
        // The broker closes the socket only after it has released the session.
        self.events.wait_for_error().await;
    }
}

/// A rumqttc MQTT 5 client.
pub(crate) struct V5 {
    pub(crate) client: rumqttc::v5::AsyncClient,
    pub(crate) events: Events<rumqttc::v5::Event, rumqttc::v5::ConnectionError>,
}

/// How the broker acknowledged a v5 PUBLISH.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V5Ack {
    /// QoS 0: no acknowledgement.
    None,
    /// QoS 1.
    PubAck(rumqttc::v5::mqttbytes::v5::PubAckReason),
    /// QoS 2: the PUBREC reason (PUBCOMP waited for when PUBREC succeeded).
    PubRec(rumqttc::v5::mqttbytes::v5::PubRecReason),
}

impl V5 {
    /// Connects and waits for a successful CONNACK.
    pub(crate) async fn connect(
        options: rumqttc::v5::MqttOptions,
    ) -> (Self, rumqttc::v5::mqttbytes::v5::ConnAck) {
        let (client, eventloop) = rumqttc::v5::AsyncClient::new(options, 64);
        let mut events = spawn_events(eventloop, |l: &mut rumqttc::v5::EventLoop| {
            Box::pin(l.poll())
        });
        let ack = events
            .wait_for("CONNACK", |e| match e {
                rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::ConnAck(ack)) => {
                    Some(ack.clone())
                }
                _ => None,
            })
            .await;
        assert_eq!(
            ack.code,
            rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success
        );
        (Self { client, events }, ack)
    }

    /// Subscribes with `filter` and waits for the SUBACK; returns its reason codes.
    pub(crate) async fn subscribe_filter(
        &mut self,
        filter: rumqttc::v5::mqttbytes::v5::Filter,
        properties: Option<rumqttc::v5::mqttbytes::v5::SubscribeProperties>,
    ) -> Vec<rumqttc::v5::mqttbytes::v5::SubscribeReasonCode> {
        match properties {
            Some(p) => within(
                "subscribe",
                self.client.subscribe_many_with_properties([filter], p),
            )
            .await
            .expect("subscribe request"),
            None => within("subscribe", self.client.subscribe_many([filter]))
                .await
                .expect("subscribe request"),
        }
        self.events
            .wait_for("SUBACK", |e| match e {
                rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::SubAck(ack)) => {
                    Some(ack.return_codes.clone())
                }
                _ => None,
            })
            .await
    }

    /// Subscribes to `filter` with `qos` and default options; waits for the SUBACK.
    pub(crate) async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::v5::mqttbytes::QoS,
    ) -> Vec<rumqttc::v5::mqttbytes::v5::SubscribeReasonCode> {
        self.subscribe_filter(rumqttc::v5::mqttbytes::v5::Filter::new(filter, qos), None)
            .await
    }

    /// Unsubscribes and waits for the UNSUBACK; returns its reason codes.
    pub(crate) async fn unsubscribe(
        &mut self,
        filter: &str,
    ) -> Vec<rumqttc::v5::mqttbytes::v5::UnsubAckReason> {
        within("unsubscribe", self.client.unsubscribe(filter))
            .await
            .expect("unsubscribe request");
        self.events
            .wait_for("UNSUBACK", |e| match e {
                rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::UnsubAck(ack)) => {
                    Some(ack.reasons.clone())
                }
                _ => None,
            })
            .await
    }

    /// Publishes and waits until the exchange completes; returns the acknowledgement.
    pub(crate) async fn publish(
        &mut self,
        topic: &str,
        qos: rumqttc::v5::mqttbytes::QoS,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> V5Ack {
        self.publish_with(topic, qos, retain, payload, None).await
    }

    /// Publishes with properties and waits until the exchange completes.
    pub(crate) async fn publish_with(
        &mut self,
        topic: &str,
        qos: rumqttc::v5::mqttbytes::QoS,
        retain: bool,
        payload: impl Into<Bytes>,
        properties: Option<rumqttc::v5::mqttbytes::v5::PublishProperties>,
    ) -> V5Ack {
        use rumqttc::v5::mqttbytes::QoS;
        use rumqttc::v5::{Event, Incoming};
        let payload: Bytes = payload.into();
        let sent = match properties {
            Some(p) => {
                within(
                    "publish",
                    self.client
                        .publish_with_properties(topic, qos, retain, payload, p),
                )
                .await
            }
            None => within("publish", self.client.publish(topic, qos, retain, payload)).await,
        };
        sent.expect("publish request");
        let pkid = self
            .events
            .wait_for("the PUBLISH to be written", |e| match e {
                Event::Outgoing(rumqttc::Outgoing::Publish(pkid)) => Some(*pkid),
                _ => None,
            })
            .await;
        match qos {
            QoS::AtMostOnce => V5Ack::None,
            QoS::AtLeastOnce => {
                let reason = self
                    .events
                    .wait_for("PUBACK", |e| match e {
                        Event::Incoming(Incoming::PubAck(a)) if a.pkid == pkid => Some(a.reason),
                        _ => None,
                    })
                    .await;
                V5Ack::PubAck(reason)
            }
            QoS::ExactlyOnce => {
                let reason = self
                    .events
                    .wait_for("PUBREC", |e| match e {
                        Event::Incoming(Incoming::PubRec(a)) if a.pkid == pkid => Some(a.reason),
                        _ => None,
                    })
                    .await;
                if reason == rumqttc::v5::mqttbytes::v5::PubRecReason::Success
                    || reason == rumqttc::v5::mqttbytes::v5::PubRecReason::NoMatchingSubscribers
                {
                    self.events
                        .wait_for("PUBCOMP", |e| match e {
                            Event::Incoming(Incoming::PubComp(a)) if a.pkid == pkid => Some(()),
                            _ => None,
                        })
                        .await;
                }
                V5Ack::PubRec(reason)
            }
        }
    }

    /// The next PUBLISH received.
    pub(crate) async fn next_publish(&mut self) -> rumqttc::v5::mqttbytes::v5::Publish {
        self.events
            .wait_for("a PUBLISH", |e| match e {
                rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::Publish(p)) => Some(p.clone()),
                _ => None,
            })
            .await
    }

    /// Waits for the broker's DISCONNECT and returns its reason code.
    pub(crate) async fn server_disconnect(
        &mut self,
    ) -> rumqttc::v5::mqttbytes::v5::DisconnectReasonCode {
        match self.events.wait_for_error().await {
            rumqttc::v5::ConnectionError::MqttState(
                rumqttc::v5::StateError::ServerDisconnect { reason_code, .. },
            ) => reason_code,
            other => panic!("expected DISCONNECT from the broker, got {other:?}"),
        }
    }

    /// Sends DISCONNECT 0x00 and waits until the broker has closed the connection.
    pub(crate) async fn disconnect(mut self) {
        within("disconnect", self.client.disconnect())
            .await
            .expect("disconnect request");
        self.events
            .wait_for("DISCONNECT to be written", |e| {
                matches!(
                    e,
                    rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)
                )
                .then_some(())
            })
            .await;
        // The broker closes the socket only after it has released the session.
        self.events.wait_for_error().await;
    }
}
