//! What a packet looks like after a trip through the wire in a given protocol version.
//!
//! The encoder drops what an older version cannot carry; this module states exactly
//! what that is, so that round-trip tests, fuzz targets and the engine (e.g. to know
//! what a v3 subscriber will see) share one definition.

use super::{Packet, ProtocolVersion, SubscribeOptions};
use crate::properties::{
    AckProperties, ConnAckProperties, ConnectProperties, PublishProperties, SubscribeProperties,
    UnsubscribeProperties, WillProperties,
};
use crate::reason::ReasonCode;

impl Packet {
    /// The packet a peer decodes after this one is encoded for `version`.
    ///
    /// For MQTT 5.0 that is the packet itself, except that CONNACK never reports a session
    /// with a refusal ([MQTT-3.2.2-6]). For MQTT 3.x, properties and v5 subscription options
    /// are reset to their defaults, CONNACK and SUBACK codes become their closest 3.x
    /// return code, acknowledgement reason codes become Success, UNSUBACK loses its codes,
    /// and MQTT 3.1 has no Session Present. A CONNECT keeps its own protocol version,
    /// whatever `version` says.
    ///
    /// The result is meaningful only for packets that [`Packet::encode`] accepts for
    /// `version`: `decode(encode(p, v), v) == p.normalized_for(v)`.
    pub fn normalized_for(&self, version: ProtocolVersion) -> Packet {
        let mut packet = self.clone();
        if let Self::Connect(connect) = &mut packet {
            if !connect.protocol.is_v5() {
                connect.properties = ConnectProperties::default();
                if let Some(will) = &mut connect.will {
                    will.properties = WillProperties::default();
                }
            }
        }
        if let Self::ConnAck(ack) = &mut packet {
            ack.session_present = ack.sends_session_present(version);
        }
        if !version.is_v5() {
            packet.strip_v5_fields();
        }
        packet
    }

    /// Resets every field MQTT 3.x cannot carry.
    fn strip_v5_fields(&mut self) {
        match self {
            Self::ConnAck(ack) => {
                ack.reason_code = ReasonCode::from_v3_connack(ack.reason_code.to_v3_connack());
                ack.properties = ConnAckProperties::default();
            }
            Self::Publish(publish) => publish.properties = PublishProperties::default(),
            Self::PubAck(ack) | Self::PubRec(ack) | Self::PubRel(ack) | Self::PubComp(ack) => {
                ack.reason_code = ReasonCode::Success;
                ack.properties = AckProperties::default();
            }
            Self::Subscribe(subscribe) => {
                subscribe.properties = SubscribeProperties::default();
                for subscription in &mut subscribe.subscriptions {
                    subscription.options = SubscribeOptions {
                        qos: subscription.options.qos,
                        ..SubscribeOptions::default()
                    };
                }
            }
            Self::SubAck(ack) => {
                ack.properties = AckProperties::default();
                for code in &mut ack.reason_codes {
                    if code.is_error() {
                        *code = ReasonCode::UnspecifiedError;
                    }
                }
            }
            Self::Unsubscribe(unsubscribe) => {
                unsubscribe.properties = UnsubscribeProperties::default();
            }
            Self::UnsubAck(ack) => {
                ack.properties = AckProperties::default();
                ack.reason_codes.clear();
            }
            Self::Disconnect(disconnect) => *disconnect = Default::default(),
            Self::Connect(_) | Self::PingReq | Self::PingResp | Self::Auth(_) => {}
        }
    }
}
