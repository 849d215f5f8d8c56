//! MQTT 5.0 reason codes and the MQTT 3.x return codes they map to.
//!
//! The engine speaks only [`ReasonCode`]; the encoder turns it into a v3 return code
//! where the older protocol has one. This file is the one place that mapping lives.

use std::fmt;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal; )*) => {
        /// A reason code as defined by MQTT 5.0 section 2.4.
        ///
        /// The same numeric value means different things in different packets (0x00 is
        /// Success, Normal disconnection or Granted QoS 0); the variants are named after
        /// their most common meaning and [`ReasonCode::GrantedQos0`] etc. are aliases.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $( $(#[$doc])* $name = $value, )*
        }

        impl ReasonCode {
            /// Parses a reason code byte; `None` for values MQTT 5.0 does not define.
            pub fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$name), )*
                    _ => None,
                }
            }

            /// The human readable name the specification gives this code.
            pub fn description(self) -> &'static str {
                match self {
                    $( Self::$name => $text, )*
                }
            }
        }
    };
}

reason_codes! {
    /// Success, Normal disconnection, Granted QoS 0; the default.
    #[default]
    Success = 0x00, "Success";
    /// Granted QoS 1 (SUBACK).
    GrantedQos1 = 0x01, "Granted QoS 1";
    /// Granted QoS 2 (SUBACK).
    GrantedQos2 = 0x02, "Granted QoS 2";
    /// Disconnect with Will Message (DISCONNECT from the client).
    DisconnectWithWill = 0x04, "Disconnect with Will Message";
    /// No matching subscribers (PUBACK, PUBREC).
    NoMatchingSubscribers = 0x10, "No matching subscribers";
    /// No subscription existed (UNSUBACK).
    NoSubscriptionExisted = 0x11, "No subscription existed";
    /// Continue authentication (AUTH).
    ContinueAuthentication = 0x18, "Continue authentication";
    /// Re-authenticate (AUTH).
    ReAuthenticate = 0x19, "Re-authenticate";
    /// Unspecified error.
    UnspecifiedError = 0x80, "Unspecified error";
    /// Malformed Packet.
    MalformedPacket = 0x81, "Malformed Packet";
    /// Protocol Error.
    ProtocolError = 0x82, "Protocol Error";
    /// Implementation specific error.
    ImplementationSpecificError = 0x83, "Implementation specific error";
    /// Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84, "Unsupported Protocol Version";
    /// Client Identifier not valid.
    ClientIdentifierNotValid = 0x85, "Client Identifier not valid";
    /// Bad User Name or Password.
    BadUserNameOrPassword = 0x86, "Bad User Name or Password";
    /// Not authorized.
    NotAuthorized = 0x87, "Not authorized";
    /// Server unavailable.
    ServerUnavailable = 0x88, "Server unavailable";
    /// Server busy.
    ServerBusy = 0x89, "Server busy";
    /// Banned.
    Banned = 0x8A, "Banned";
    /// Server shutting down.
    ServerShuttingDown = 0x8B, "Server shutting down";
    /// Bad authentication method.
    BadAuthenticationMethod = 0x8C, "Bad authentication method";
    /// Keep Alive timeout.
    KeepAliveTimeout = 0x8D, "Keep Alive timeout";
    /// Session taken over.
    SessionTakenOver = 0x8E, "Session taken over";
    /// Topic Filter invalid.
    TopicFilterInvalid = 0x8F, "Topic Filter invalid";
    /// Topic Name invalid.
    TopicNameInvalid = 0x90, "Topic Name invalid";
    /// Packet Identifier in use.
    PacketIdentifierInUse = 0x91, "Packet Identifier in use";
    /// Packet Identifier not found.
    PacketIdentifierNotFound = 0x92, "Packet Identifier not found";
    /// Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93, "Receive Maximum exceeded";
    /// Topic Alias invalid.
    TopicAliasInvalid = 0x94, "Topic Alias invalid";
    /// Packet too large.
    PacketTooLarge = 0x95, "Packet too large";
    /// Message rate too high.
    MessageRateTooHigh = 0x96, "Message rate too high";
    /// Quota exceeded.
    QuotaExceeded = 0x97, "Quota exceeded";
    /// Administrative action.
    AdministrativeAction = 0x98, "Administrative action";
    /// Payload format invalid.
    PayloadFormatInvalid = 0x99, "Payload format invalid";
    /// Retain not supported.
    RetainNotSupported = 0x9A, "Retain not supported";
    /// QoS not supported.
    QosNotSupported = 0x9B, "QoS not supported";
    /// Use another server.
    UseAnotherServer = 0x9C, "Use another server";
    /// Server moved.
    ServerMoved = 0x9D, "Server moved";
    /// Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E, "Shared Subscriptions not supported";
    /// Connection rate exceeded.
    ConnectionRateExceeded = 0x9F, "Connection rate exceeded";
    /// Maximum connect time.
    MaximumConnectTime = 0xA0, "Maximum connect time";
    /// Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1, "Subscription Identifiers not supported";
    /// Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2, "Wildcard Subscriptions not supported";
}

#[allow(non_upper_case_globals)]
impl ReasonCode {
    /// Normal disconnection (DISCONNECT 0x00).
    pub const NormalDisconnection: Self = Self::Success;
    /// Granted QoS 0 (SUBACK 0x00).
    pub const GrantedQos0: Self = Self::Success;

    /// Whether the code reports a failure (0x80 and above).
    pub fn is_error(self) -> bool {
        self as u8 >= 0x80
    }

    /// The SUBACK code granting `qos`.
    pub fn granted(qos: crate::QoS) -> Self {
        match qos {
            crate::QoS::AtMostOnce => Self::GrantedQos0,
            crate::QoS::AtLeastOnce => Self::GrantedQos1,
            crate::QoS::ExactlyOnce => Self::GrantedQos2,
        }
    }

    /// The MQTT 3.x CONNACK return code closest to this reason.
    ///
    /// 3.1.1 has only six return codes; anything without a direct counterpart is
    /// reported as "server unavailable", which tells a v3 client to retry later.
    pub fn to_v3_connack(self) -> ConnectReturnCode {
        match self {
            Self::Success => ConnectReturnCode::Accepted,
            Self::UnsupportedProtocolVersion => ConnectReturnCode::UnacceptableProtocolVersion,
            Self::ClientIdentifierNotValid => ConnectReturnCode::IdentifierRejected,
            Self::BadUserNameOrPassword | Self::BadAuthenticationMethod => {
                ConnectReturnCode::BadUserNameOrPassword
            }
            Self::NotAuthorized | Self::Banned => ConnectReturnCode::NotAuthorized,
            _ => ConnectReturnCode::ServerUnavailable,
        }
    }

    /// Maps a v3 CONNACK return code to the equivalent MQTT 5 reason.
    pub fn from_v3_connack(code: ConnectReturnCode) -> Self {
        match code {
            ConnectReturnCode::Accepted => Self::Success,
            ConnectReturnCode::UnacceptableProtocolVersion => Self::UnsupportedProtocolVersion,
            ConnectReturnCode::IdentifierRejected => Self::ClientIdentifierNotValid,
            ConnectReturnCode::ServerUnavailable => Self::ServerUnavailable,
            ConnectReturnCode::BadUserNameOrPassword => Self::BadUserNameOrPassword,
            ConnectReturnCode::NotAuthorized => Self::NotAuthorized,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), *self as u8)
    }
}

/// The CONNACK return codes of MQTT 3.1 and 3.1.1 (section 3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// 0x00 Connection Accepted.
    Accepted = 0,
    /// 0x01 The Server does not support the level of the MQTT protocol requested.
    UnacceptableProtocolVersion = 1,
    /// 0x02 The Client identifier is correct UTF-8 but not allowed by the Server.
    IdentifierRejected = 2,
    /// 0x03 The Network Connection has been made but the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 0x04 The data in the user name or password is malformed.
    BadUserNameOrPassword = 4,
    /// 0x05 The Client is not authorized to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// Parses a v3 return code; `None` for the reserved values 6-255.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defined_code_round_trips_through_its_byte() {
        for byte in 0..=255u8 {
            if let Some(code) = ReasonCode::from_u8(byte) {
                assert_eq!(code as u8, byte);
            }
        }
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xA3), None);
    }

    #[test]
    fn v3_connack_mapping_is_total_and_stable() {
        assert_eq!(
            ReasonCode::NotAuthorized.to_v3_connack(),
            ConnectReturnCode::NotAuthorized
        );
        assert_eq!(
            ReasonCode::ServerBusy.to_v3_connack(),
            ConnectReturnCode::ServerUnavailable
        );
        for code in 0..=5 {
            let v3 = ConnectReturnCode::from_u8(code).unwrap();
            assert_eq!(ReasonCode::from_v3_connack(v3).to_v3_connack(), v3);
        }
    }

    #[test]
    fn display_names_the_code() {
        assert_eq!(
            ReasonCode::SessionTakenOver.to_string(),
            "Session taken over (0x8E)"
        );
    }
}
