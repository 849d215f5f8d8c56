use std::time::Duration;

use bytes::Bytes;
use gridmq_codec::{Connect, ProtocolVersion, QoS, ReasonCode, TopicName, Will, WillProperties};

use crate::testing::{Client, Harness, connect, connect_v5};

fn with_will(mut c: Connect, delay: Option<u32>, retain: bool) -> Connect {
    c.will = Some(Will {
        qos: QoS::AtLeastOnce,
        retain,
        topic: TopicName::new("status/dev").unwrap(),
        payload: Bytes::from_static(b"offline"),
        properties: WillProperties {
            will_delay_interval: delay,
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
    });
    c
}

fn watcher(h: &Harness) -> Client {
    let (mut w, _) = h.connect(connect_v5("watcher", true, 0));
    w.subscribe(h.now, "status/#", QoS::AtLeastOnce);
    w
}

#[test]
fn will_is_published_on_abnormal_disconnect_with_its_properties() {
    let h = Harness::new();
    let mut w = watcher(&h);
    let (dev, _) = h.connect(with_will(connect_v5("dev", true, 0), None, false));
    dev.close(h.now);
    let got = w.publishes(h.now);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"offline");
    assert_eq!(
        got[0].properties.content_type.as_deref(),
        Some("text/plain")
    );
}

#[test]
fn no_will_after_normal_disconnect_but_after_0x04() {
    let h = Harness::new();
    let mut w = watcher(&h);
    let (dev, _) = h.connect(with_will(
        connect("dev", ProtocolVersion::V3_1_1, true),
        None,
        false,
    ));
    dev.disconnect(h.now, ReasonCode::NormalDisconnection);
    assert!(w.publishes(h.now).is_empty());
    let (dev, _) = h.connect(with_will(connect_v5("dev", true, 0), None, false));
    dev.disconnect(h.now, ReasonCode::DisconnectWithWill);
    assert_eq!(w.publishes(h.now).len(), 1);
}

#[test]
fn will_on_keep_alive_timeout() {
    let h = Harness::new();
    let mut w = watcher(&h);
    let (mut dev, _) = h.connect(with_will(
        connect("dev", ProtocolVersion::V3_1_1, true),
        None,
        false,
    ));
    dev.timeout(h.now + Duration::from_secs(90));
    assert!(dev.is_closing());
    dev.close(h.now + Duration::from_secs(90));
    assert_eq!(w.publishes(h.now).len(), 1);
}

#[test]
fn will_delay_is_cancelled_by_a_reconnect() {
    let mut h = Harness::new();
    let mut w = watcher(&h);
    let (dev, _) = h.connect(with_will(connect_v5("dev", false, 600), Some(30), false));
    dev.close(h.now);
    h.advance(Duration::from_secs(10));
    assert!(w.publishes(h.now).is_empty());
    let (_dev, ack) = h.connect(connect_v5("dev", false, 600));
    assert!(ack.session_present);
    h.advance(Duration::from_secs(60));
    assert!(w.publishes(h.now).is_empty());
}

#[test]
fn will_delay_elapses() {
    let mut h = Harness::new();
    let mut w = watcher(&h);
    let (dev, _) = h.connect(with_will(connect_v5("dev", false, 600), Some(30), false));
    dev.close(h.now);
    h.advance(Duration::from_secs(29));
    assert!(w.publishes(h.now).is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(w.publishes(h.now).len(), 1);
}

#[test]
fn will_is_published_when_the_session_ends_before_the_delay() {
    let mut h = Harness::new();
    let mut w = watcher(&h);
    let (dev, _) = h.connect(with_will(connect_v5("dev", false, 5), Some(30), false));
    dev.close(h.now);
    h.advance(Duration::from_secs(6));
    assert_eq!(w.publishes(h.now).len(), 1);
}

#[test]
fn retained_will() {
    let h = Harness::new();
    let (dev, _) = h.connect(with_will(connect_v5("dev", true, 0), None, true));
    dev.close(h.now);
    let (mut late, _) = h.connect(connect_v5("late", true, 0));
    late.subscribe(h.now, "status/dev", QoS::AtLeastOnce);
    let got = late.publishes(h.now);
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
}
