//! MQTT over WebSocket (RFC 6455, MQTT 5.0 section 6): the upgrade on a configured
//! path with the `mqtt` or `mqttv3.1` subprotocol, and [`WsStream`], which carries the
//! byte stream in binary frames.
//!
//! The broker semantics are those of TCP: MQTT packets may be split across frames and
//! several may share one frame, because the driver's decoder sees only bytes. Text
//! frames end the connection (close code 1003), as do frames or messages over the
//! configured limits (1009). Pings are answered and the close handshake is completed
//! by tungstenite.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use bytesize::ByteSize;
use futures_util::{Sink, Stream as _};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig as Limits};
use tokio_tungstenite::tungstenite::{Error as WsProtocolError, Message};

use crate::forwarded;
use crate::net::IpNetwork;
use crate::peer::WebSocketInfo;
use crate::stream::Transport;

/// The subprotocols MQTT registers, in order of preference.
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];
/// The most bytes of an upgrade request read before giving up on it.
pub const MAX_UPGRADE_REQUEST: usize = 16 * 1024;
/// tungstenite's receive buffer per connection.
const READ_BUFFER: usize = 16 * 1024;

/// The `websocket` table of a `ws` or `wss` listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// The request path that upgrades; others get 404.
    pub path: String,
    /// Whether the client must offer `mqtt` or `mqttv3.1` in `Sec-WebSocket-Protocol`;
    /// when `false`, clients offering none are served too.
    pub require_subprotocol: bool,
    /// Largest frame payload accepted.
    pub max_frame_size: ByteSize,
    /// Largest message (frames reassembled) accepted. Most clients send one MQTT
    /// packet per message, so keep this above `mqtt.max_packet_size`.
    pub max_message_size: ByteSize,
    /// Whether the client address is taken from `Forwarded` / `X-Forwarded-For` when
    /// the request comes from one of the listener's `trusted_proxies`.
    pub forwarded_headers: bool,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            path: "/mqtt".to_owned(),
            require_subprotocol: true,
            max_frame_size: ByteSize::mib(2),
            max_message_size: ByteSize::mib(2),
            forwarded_headers: false,
        }
    }
}

impl WebSocketConfig {
    /// What is wrong with these settings, each message prefixed with `path`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.path.starts_with('/') || self.path.contains(['?', '#', ' ']) {
            problems.push(format!(
                "{prefix}.path: must start with / and hold no query, fragment or space"
            ));
        }
        if self.max_frame_size.as_u64() < 16 {
            problems.push(format!("{prefix}.max_frame_size: must be at least 16 B"));
        }
        if self.max_message_size < self.max_frame_size {
            problems.push(format!(
                "{prefix}.max_message_size: must be at least max_frame_size"
            ));
        }
        problems
    }

    fn limits(&self) -> Limits {
        let size = |s: ByteSize| Some(usize::try_from(s.as_u64()).unwrap_or(usize::MAX));
        Limits::default()
            .read_buffer_size(READ_BUFFER)
            // The driver batches its writes; each batch goes out as one frame at once.
            .write_buffer_size(0)
            .max_frame_size(size(self.max_frame_size))
            .max_message_size(size(self.max_message_size))
    }
}

/// Why a WebSocket upgrade was refused.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The request was answered with an HTTP error.
    #[error("WebSocket upgrade refused ({status}): {reason}")]
    Refused {
        /// The HTTP status sent.
        status: StatusCode,
        /// Why.
        reason: String,
    },
    /// The request was not a valid WebSocket upgrade, or the stream failed.
    #[error("WebSocket upgrade failed: {0}")]
    Handshake(String),
}

/// What the upgrade established.
#[derive(Debug)]
pub struct Upgrade<S> {
    /// The MQTT byte stream.
    pub stream: WsStream<S>,
    /// The path and subprotocol.
    pub info: WebSocketInfo,
    /// The client address forwarding headers report, if they are trusted and name one.
    pub forwarded_for: Option<SocketAddr>,
}

/// Runs the server side of the upgrade on `io`. `peer` is the address the request came
/// from (after any PROXY header); forwarding headers count only if it is in `trusted`.
/// The caller bounds this in time.
pub async fn accept<S>(
    io: S,
    config: &WebSocketConfig,
    peer: SocketAddr,
    trusted: &[IpNetwork],
) -> Result<Upgrade<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut refusal: Option<(StatusCode, String)> = None;
    let mut info = WebSocketInfo::default();
    let mut forwarded_for = None;
    let trust_headers = config.forwarded_headers && IpNetwork::any_contains(trusted, peer.ip());
    // The error type is tungstenite's HTTP response.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let checked = check_request(request, config);
        match checked {
            Ok(subprotocol) => {
                if let Some(p) = subprotocol {
                    response
                        .headers_mut()
                        .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
                }
                info.path = request.uri().path().to_owned();
                info.subprotocol = subprotocol.map(str::to_owned);
                if trust_headers {
                    forwarded_for = forwarded_client(request, trusted);
                }
                Ok(response)
            }
            Err((status, reason)) => {
                let mut error = ErrorResponse::new(Some(format!("{reason}\n")));
                *error.status_mut() = status;
                refusal = Some((status, reason));
                Err(error)
            }
        }
    };
    let limited = Limited {
        inner: io,
        budget: Some(MAX_UPGRADE_REQUEST),
    };
    let result =
        tokio_tungstenite::accept_hdr_async_with_config(limited, callback, Some(config.limits()))
            .await;
    let mut ws = match (result, refusal) {
        (Ok(ws), _) => ws,
        (Err(_), Some((status, reason))) => return Err(WsError::Refused { status, reason }),
        (Err(error), None) => return Err(WsError::Handshake(error.to_string())),
    };
    ws.get_mut().budget = None;
    Ok(Upgrade {
        stream: WsStream {
            inner: ws,
            close: None,
            close_sent: false,
        },
        info,
        forwarded_for,
    })
}

/// The subprotocol to answer with, or the HTTP status and reason to refuse with.
fn check_request(
    request: &Request,
    config: &WebSocketConfig,
) -> Result<Option<&'static str>, (StatusCode, String)> {
    if request.uri().path() != config.path {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "path {} is not served; MQTT over WebSocket is on {}",
                request.uri().path(),
                config.path
            ),
        ));
    }
    let offered: Vec<&str> = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let chosen = SUBPROTOCOLS
        .into_iter()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)));
    if chosen.is_none() && config.require_subprotocol {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "no MQTT subprotocol offered (Sec-WebSocket-Protocol: {:?}); expected mqtt or mqttv3.1",
                offered.join(", ")
            ),
        ));
    }
    Ok(chosen)
}

fn forwarded_client(request: &Request, trusted: &[IpNetwork]) -> Option<SocketAddr> {
    let values = |name: &str| -> Vec<&str> {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    forwarded::client_address(&values("forwarded"), &values("x-forwarded-for"), trusted)
}

/// Reads at most `budget` bytes while set: bounds the upgrade request.
#[derive(Debug)]
pub struct Limited<S> {
    inner: S,
    budget: Option<usize>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(budget) = self.budget else {
            return Pin::new(&mut self.inner).poll_read(cx, out);
        };
        if budget == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("upgrade request longer than {MAX_UPGRADE_REQUEST} bytes"),
            )));
        }
        let before = out.filled().len();
        if out.remaining() <= budget {
            ready!(Pin::new(&mut self.inner).poll_read(cx, out))?;
        } else {
            let mut chunk = vec![0; budget];
            let mut limited = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
            out.put_slice(limited.filled());
        }
        self.budget = Some(budget - (out.filled().len() - before));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An upgraded WebSocket carrying MQTT bytes in binary frames.
#[derive(Debug)]
pub struct WsStream<S> {
    inner: WebSocketStream<Limited<S>>,
    /// The close code to send when the broker ends the connection.
    close: Option<(CloseCode, &'static str)>,
    close_sent: bool,
}

fn to_io(error: WsProtocolError) -> io::Error {
    match error {
        WsProtocolError::Io(error) => error,
        other => io::Error::other(other.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    fn fail(&mut self, code: CloseCode, reason: &'static str, detail: String) -> io::Error {
        self.close = Some((code, reason));
        io::Error::new(io::ErrorKind::InvalidData, detail)
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for WsStream<S> {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        _reserve: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            let message = match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(0)),
                Some(Ok(message)) => message,
                Some(Err(WsProtocolError::Capacity(error))) => {
                    let detail = format!("WebSocket frame or message too large: {error}");
                    return Poll::Ready(Err(self.fail(CloseCode::Size, "too large", detail)));
                }
                Some(Err(WsProtocolError::Protocol(error))) => {
                    let detail = format!("WebSocket protocol violation: {error}");
                    return Poll::Ready(Err(self.fail(
                        CloseCode::Protocol,
                        "protocol error",
                        detail,
                    )));
                }
                Some(Err(error)) => return Poll::Ready(Err(to_io(error))),
            };
            match message {
                Message::Binary(data) if !data.is_empty() => {
                    buf.extend_from_slice(&data);
                    return Poll::Ready(Ok(data.len()));
                }
                Message::Text(_) => {
                    let detail = "text frame: MQTT over WebSocket uses binary frames only".into();
                    return Poll::Ready(Err(self.fail(
                        CloseCode::Unsupported,
                        "binary frames only",
                        detail,
                    )));
                }
                // Empty binary frames carry nothing; pings are answered by tungstenite.
                _ => continue,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(Pin::new(&mut self.inner).poll_ready(cx)).map_err(to_io)?;
        Pin::new(&mut self.inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(data)))
            .map_err(to_io)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(to_io)
    }

    /// Sends a close frame (1000, or the code of the violation that ended the
    /// connection) and completes the close handshake's sending side.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_sent {
            let ready = ready!(Pin::new(&mut self.inner).poll_ready(cx));
            self.close_sent = true;
            let (code, reason) = self.close.unwrap_or((CloseCode::Normal, ""));
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            if ready.is_ok() {
                let _ = Pin::new(&mut self.inner).start_send(Message::Close(Some(frame)));
            }
        }
        match ready!(Pin::new(&mut self.inner).poll_close(cx)) {
            Ok(()) | Err(WsProtocolError::ConnectionClosed | WsProtocolError::AlreadyClosed) => {
                Poll::Ready(Ok(()))
            }
            Err(error) => Poll::Ready(Err(to_io(error))),
        }
    }
}
