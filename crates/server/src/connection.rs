//! The connection driver: the one event loop per client that moves bytes between the
//! transport and the engine's [`Connection`] state machine.
//!
//! Each turn waits for the first of: shutdown, a close request (takeover, admin), the
//! keep-alive timer, the socket becoming writable, bytes to read, or deliveries queued
//! for the session. Reading stops while the write buffer is full, so a client that does
//! not read cannot make the broker buffer without bound; its session queue (bounded,
//! with an overflow policy) takes the backlog.

use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use gridmq_codec::{ConnAck, Connect, DecodeError, Decoder, Packet, ProtocolVersion, ReasonCode};
use gridmq_engine::{
    AllowAll, Authorizer, Broker, Claim, Connection, ConnectionControl, Kick, Refusal,
};
use pin_project_lite::pin_project;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info};

use gridmq_transport::{AddressSource, PeerInfo, Transport};

use crate::namespace::Namespace;
use crate::namespace::admission::{Admission, until};

/// Bytes encoded for the client before the driver stops reading and encoding more.
const WRITE_HIGH_WATER: usize = 32 * 1024;
/// Space reserved for each socket read.
const READ_RESERVE: usize = 16 * 1024;
/// How long a closing connection may take to flush its last bytes.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection taking over a session waits for the previous one to let go.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of a listener shares.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionContext {
    pub(crate) broker: Arc<Broker>,
    pub(crate) namespace: Arc<Namespace>,
    pub(crate) shutdown: CancellationToken,
}

/// Serves one client connection until it ends. The peer is boxed: it is large and an
/// idle connection's task should stay small.
///
/// Not an `async fn`: its arguments would keep their room in the task for the
/// connection's life. They go straight into the boxed opening instead.
pub(crate) fn serve<T: Transport>(
    ctx: ConnectionContext,
    io: T,
    peer: Box<PeerInfo>,
) -> impl Future<Output = ()> + Send {
    // Debug level: an enabled span costs memory per connection for its whole life, so
    // info-level events below carry `peer` and `client_id` themselves.
    let span = tracing::debug_span!(
        "conn",
        listener = %peer.listener,
        peer = %peer.remote_addr,
        via = tracing::field::Empty,
        client_id = tracing::field::Empty
    );
    if peer.address_source != AddressSource::Socket {
        span.record("via", tracing::field::display(peer.socket_addr));
    }
    // The opening (CONNECT, session claim, refusals and their timers) runs boxed: its
    // state is large and needed once, so it is freed before the connection settles in.
    let opening = Box::pin(open(ctx, io, peer));
    let run = run(opening);
    // The span is off unless debug logging is on; an instrumented future would still
    // carry it for the connection's life, so only then is it attached (and boxed).
    if span.is_disabled() {
        Either::Left(run)
    } else {
        Either::Right(Box::pin(run.instrument(span)))
    }
}

/// Logs what the transport established, once per connection.
fn describe_peer(peer: &PeerInfo) {
    let tls = peer.tls.as_ref();
    let cert = tls.and_then(|t| t.client_certificate.as_ref());
    debug!(
        source = ?peer.address_source,
        tls = tls.and_then(|t| t.protocol_version.as_deref()),
        sni = tls.and_then(|t| t.server_name.as_deref()),
        client_cn = cert.and_then(|c| c.common_name.as_deref()),
        client_sha256 = cert.map(|c| c.sha256_thumbprint.as_str()),
        chain_verified = tls.map(|t| t.chain_verified),
        websocket = peer.websocket.as_ref().and_then(|w| w.subprotocol.as_deref()),
        "transport ready"
    );
}

async fn run<T: Transport>(opening: Pin<Box<impl Future<Output = Option<Opened<T>>>>>) {
    let Some(opened) = opening.await else {
        return;
    };
    // Scoped: once the loop is over its room is free for the closing below.
    let opened = {
        let mut established = pin!(Established::new(opened));
        established.as_mut().await;
        established.project().opened.take()
    };
    let Some(mut io) = opened.map(finish) else {
        return;
    };
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, io.shutdown()).await;
}

/// Ends the connection (session released, will published if due) and logs how; gives
/// back the stream to close.
fn finish<T: Transport>(opened: Opened<T>) -> T {
    let Opened {
        connection,
        io,
        peer,
        ..
    } = opened;
    let client_id = connection.client_id().to_owned();
    let ending = connection.finish(Instant::now().into_std());
    if ending.by_client
        || ending.reason == ReasonCode::SessionTakenOver
        || ending.reason == ReasonCode::ServerShuttingDown
    {
        debug!(reason = %ending.reason, "disconnected: {}", ending.message);
    } else {
        info!(%peer, %client_id, reason = %ending.reason, "disconnected: {}", ending.message);
    }
    io
}

/// An established connection, ready for its event loop.
struct Opened<T> {
    connection: Connection,
    io: T,
    read_buf: BytesMut,
    /// Bytes encoded for the client and not yet written.
    write_buf: BytesMut,
    /// Bytes handed to a stream that buffers them (TLS, WebSocket) and not yet flushed.
    unflushed: bool,
    decoder: Decoder,
    /// The client's address, for log lines.
    peer: PeerAddr,
    /// Namespace mode only: the session's credentials (expiry, re-authentication).
    auth: Option<Box<SessionAuth>>,
}

/// A client's address for log lines: 20 bytes where a `SocketAddr` takes 32, in every
/// connection's task.
#[derive(Debug, Clone, Copy)]
struct PeerAddr {
    ip: IpAddr,
    port: u16,
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        Self {
            ip: addr.ip(),
            port: addr.port(),
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// Reads CONNECT, checks it, claims the session and establishes the connection; `None`
/// when the client was refused or went away.
async fn open<T: Transport>(
    ctx: ConnectionContext,
    mut io: T,
    peer: Box<PeerInfo>,
) -> Option<Opened<T>> {
    describe_peer(&peer);
    let broker = ctx.broker.clone();
    let config = broker.config();
    let mut read_buf = BytesMut::new();
    let mut decoder = Decoder::server(config.max_packet_size as usize);

    let connect = match tokio::time::timeout(
        config.connect_timeout,
        read_connect(&mut io, &mut read_buf, &mut decoder),
    )
    .await
    {
        Err(_) => {
            debug!("closed: no CONNECT within {:?}", config.connect_timeout);
            return None;
        }
        Ok(Err(ConnectError::Io(error))) if error.kind() == std::io::ErrorKind::InvalidData => {
            // A transport-level violation (e.g. a WebSocket text frame): the stream is
            // intact enough to say goodbye (a close frame).
            info!(peer = %peer.remote_addr, "closed before CONNECT: {error}");
            let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, io.shutdown()).await;
            return None;
        }
        Ok(Err(ConnectError::Io(error))) => {
            debug!("closed before CONNECT: {error}");
            return None;
        }
        Ok(Err(ConnectError::Decode { error, v5 })) => {
            info!(peer = %peer.remote_addr, "refused: invalid CONNECT: {error}");
            refuse_invalid_connect(&mut io, v5, &error, peer.remote_addr).await;
            return None;
        }
        Ok(Ok(connect)) => connect,
    };
    let version = connect.protocol;
    let mut plan = match broker.check_connect(connect) {
        Ok(plan) => plan,
        Err(refusal) => {
            refuse(&mut io, version, &refusal, peer.remote_addr).await;
            return None;
        }
    };
    let control = Arc::new(ConnectionControl::new());
    // Namespace mode: who is this, and what may it do? Bounded like the CONNECT read.
    let admission = if ctx.namespace.enforced() {
        let admitted = tokio::time::timeout(
            config.connect_timeout,
            ctx.namespace.admit(&mut plan, &peer, &control),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Refusal::new(
                ReasonCode::ServerUnavailable,
                "authentication did not finish in time",
            ))
        });
        match admitted {
            Ok(admission) => Some(admission),
            Err(refusal) => {
                refuse(&mut io, version, &refusal, peer.remote_addr).await;
                return None;
            }
        }
    } else {
        None
    };
    let authorizer: Arc<dyn Authorizer> = match &admission {
        Some(admission) => admission.authorizer(),
        None => Arc::new(AllowAll),
    };
    let claimed = match broker.claim(&plan, control.clone()) {
        Claim::Ready(claimed) => claimed,
        Claim::Refused(refusal) => {
            refuse(&mut io, version, &refusal, peer.remote_addr).await;
            return None;
        }
        Claim::Wait(pending) => {
            match tokio::time::timeout(HANDOFF_TIMEOUT, poll_fn(|cx| pending.poll(cx))).await {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(refusal)) => {
                    refuse(&mut io, version, &refusal, peer.remote_addr).await;
                    return None;
                }
                Err(_) => {
                    broker.abandon_claim(pending, Instant::now().into_std());
                    let refusal = Refusal::new(
                        ReasonCode::ServerBusy,
                        "the previous connection did not let go in time",
                    );
                    refuse(&mut io, version, &refusal, peer.remote_addr).await;
                    return None;
                }
            }
        }
    };
    let connection = Connection::establish(
        broker.clone(),
        plan,
        claimed,
        control,
        authorizer,
        Instant::now().into_std(),
    );
    tracing::Span::current().record("client_id", connection.client_id());
    debug!(%version, "connected");
    if ctx.shutdown.is_cancelled() {
        // Shutdown kicked every live connection before this one took its session.
        connection.control().kick(
            ReasonCode::ServerShuttingDown,
            "the server is shutting down",
        );
    }
    Some(Opened {
        connection,
        io,
        read_buf,
        write_buf: BytesMut::new(),
        unflushed: false,
        decoder,
        peer: PeerAddr::from(peer.remote_addr),
        auth: admission.map(|admission| SessionAuth::new(&ctx.namespace, admission)),
    })
}

enum ConnectError {
    Io(std::io::Error),
    /// `v5`: whether the bytes started like an MQTT 5 CONNECT, sniffed before the
    /// decoder consumed them.
    Decode {
        error: DecodeError,
        v5: bool,
    },
}

/// Reads until the first packet, which the server decoder only accepts as CONNECT.
async fn read_connect<T: Transport>(
    io: &mut T,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
) -> Result<Box<Connect>, ConnectError> {
    loop {
        // Sniffed first: a packet that fails to decode has already left the buffer.
        let v5 = sniff_v5_connect(buf);
        match decoder.decode(buf) {
            Ok(Some(Packet::Connect(connect))) => return Ok(connect),
            Ok(Some(_)) => {
                return Err(ConnectError::Decode {
                    error: DecodeError::Protocol(
                        "[MQTT-3.1.0-1] the first packet from a client must be CONNECT",
                    ),
                    v5: false,
                });
            }
            Ok(None) => {}
            Err(error) => return Err(ConnectError::Decode { error, v5 }),
        }
        match poll_fn(|cx| io.poll_read_into(cx, buf, 1024)).await {
            Ok(0) => return Err(ConnectError::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(error) => return Err(ConnectError::Io(error)),
        }
    }
}

/// Answers a CONNECT that could not be decoded: an unknown protocol level gets the
/// v3 return code 0x01 ([MQTT-3.1.2-2]); a v5 CONNECT gets CONNACK with the error's
/// reason code; anything else is just closed.
async fn refuse_invalid_connect<T: Transport>(
    io: &mut T,
    v5: bool,
    error: &DecodeError,
    peer: SocketAddr,
) {
    let version = match error {
        DecodeError::UnsupportedProtocol { .. } => ProtocolVersion::V3_1_1,
        _ if v5 => ProtocolVersion::V5,
        _ => return,
    };
    let refusal = Refusal::new(error.reason_code(), error.to_string());
    refuse(io, version, &refusal, peer).await;
}

/// Whether `raw` starts like an MQTT 5 CONNECT (protocol name "MQTT", level 5).
fn sniff_v5_connect(raw: &[u8]) -> bool {
    let Some(first) = raw.first() else {
        return false;
    };
    let header = 1 + raw[1..]
        .iter()
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map_or(4, |p| p + 1);
    *first == 0x10 && raw.get(header..header + 7) == Some(b"\x00\x04MQTT\x05")
}

async fn refuse<T: Transport>(
    io: &mut T,
    version: ProtocolVersion,
    refusal: &Refusal,
    peer: SocketAddr,
) {
    info!(%peer, reason = %refusal.reason, "refused: {}", refusal.message);
    let mut ack = ConnAck {
        session_present: false,
        reason_code: refusal.reason,
        properties: Default::default(),
    };
    if version.is_v5() {
        ack.properties.reason_string = Some(refusal.message.clone().into());
    }
    if let Ok(bytes) = Packet::ConnAck(ack).to_bytes(version) {
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
            io.write_all(&bytes).await?;
            io.shutdown().await
        })
        .await;
    }
}

/// A re-authentication being checked: `Err` carries the DISCONNECT to send.
type ReauthCheck = Pin<Box<dyn Future<Output = Result<(), Kick>> + Send>>;

/// A namespace session's credentials while it runs: when they expire, and a
/// re-authentication in progress. Boxed and absent in open mode, so an idle connection
/// there pays nothing for it.
struct SessionAuth {
    namespace: Arc<Namespace>,
    admission: Admission,
    /// Fires when the credentials expire; `None` when they never do.
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    reauth: Option<ReauthCheck>,
}

impl SessionAuth {
    fn new(namespace: &Arc<Namespace>, admission: Admission) -> Box<Self> {
        let mut auth = Box::new(Self {
            namespace: namespace.clone(),
            admission,
            expiry: None,
            reauth: None,
        });
        auth.update_expiry();
        auth
    }

    fn update_expiry(&mut self) {
        self.expiry = self
            .namespace
            .expires_at(self.admission.session())
            .map(|at| Box::pin(tokio::time::sleep_until(Instant::now() + until(at))));
    }

    /// Polls the expiry and a re-authentication in progress.
    fn poll_event(&mut self, cx: &mut std::task::Context<'_>, closing: bool) -> Poll<Event> {
        if let Some(expiry) = self.expiry.as_mut() {
            if !closing && expiry.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Expired);
            }
        }
        if let Some(check) = self.reauth.as_mut() {
            if let Poll::Ready(outcome) = check.as_mut().poll(cx) {
                return Poll::Ready(Event::Reauthenticated(outcome));
            }
        }
        Poll::Pending
    }
}

/// Starts checking a re-authentication the client asked for; outside namespace mode
/// there is nothing to check it against.
fn start_reauth(auth: &mut Option<Box<SessionAuth>>, connection: &mut Connection) {
    let Some(request) = connection.take_reauth_request() else {
        return;
    };
    match auth {
        Some(auth) => {
            let check = auth
                .namespace
                .reauthenticate(auth.admission.session().clone(), request);
            auth.reauth = Some(Box::pin(check));
        }
        None => connection.complete_reauth(Err(Kick {
            reason: ReasonCode::NotAuthorized,
            message: "re-authentication is not supported here".to_owned(),
        })),
    }
}

enum Event {
    Kick(Kick),
    Timer,
    Expired,
    Reauthenticated(Result<(), Kick>),
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
    Read(std::io::Result<usize>),
    Deliveries,
    Durable,
    Unthrottled,
}

pin_project! {
    /// The event loop of an established connection, ready when the connection is over.
    ///
    /// Written by hand rather than as an `async fn`: its fields are all an idle
    /// connection's task holds for it, with nothing kept twice across an await.
    /// Shutdown reaches the loop as a close request through the connection's control
    /// (see `Server::shutdown`), so it holds no shutdown future of its own.
    struct Established<T> {
        // `None` once the loop is over: `run` takes it back to finish the connection.
        opened: Option<Opened<T>>,
        // The keep-alive, throttle and closing deadline, whichever comes first.
        #[pin]
        sleep: tokio::time::Sleep,
        // Set when the connection started closing: how long its last bytes may take.
        close_deadline: Option<Instant>,
    }
}

impl<T: Transport> Established<T> {
    /// Starts the loop. The session may already hold packets (CONNACK, redeliveries)
    /// and data may have arrived behind CONNECT; otherwise the buffer CONNECT was read
    /// into is released, so an idle connection holds none.
    fn new(mut opened: Opened<T>) -> Self {
        let now = Instant::now();
        opened.take_input(now);
        opened.fill(now);
        Self {
            opened: Some(opened),
            sleep: tokio::time::sleep_until(now + Duration::from_secs(86_400 * 365)),
            close_deadline: None,
        }
    }
}

impl<T: Transport> Future for Established<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(opened) = this.opened.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            if opened.connection.is_closing() {
                if opened.write_buf.is_empty() {
                    return Poll::Ready(());
                }
                this.close_deadline
                    .get_or_insert_with(|| Instant::now() + CLOSE_FLUSH_TIMEOUT);
            }
            let keep_alive = opened.connection.poll_timeout().map(Instant::from_std);
            let deadline = match (keep_alive, *this.close_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = deadline {
                if this.sleep.deadline() != at {
                    this.sleep.as_mut().reset(at);
                }
            }
            let can_read = !opened.connection.is_closing()
                && !opened.connection.is_throttled()
                && opened.write_buf.len() < WRITE_HIGH_WATER;
            let event = std::task::ready!(opened.poll_event(
                cx,
                this.sleep.as_mut(),
                deadline.is_some(),
                can_read
            ));
            let now = Instant::now();
            if matches!(event, Event::Timer) && this.close_deadline.is_some_and(|at| now >= at) {
                debug!("gave up flushing to a client that does not read");
                return Poll::Ready(());
            }
            if !opened.handle_event(event, now) {
                return Poll::Ready(());
            }
            opened.fill(now);
        }
    }
}

impl<T: Transport> Opened<T> {
    /// The first of the loop's events that is ready.
    fn poll_event(
        &mut self,
        cx: &mut std::task::Context<'_>,
        sleep: Pin<&mut tokio::time::Sleep>,
        timer_armed: bool,
        can_read: bool,
    ) -> Poll<Event> {
        let connection = &mut self.connection;
        if let Poll::Ready(kick) = connection.control().poll_kick(cx) {
            return Poll::Ready(Event::Kick(kick));
        }
        if timer_armed && sleep.poll(cx).is_ready() {
            return Poll::Ready(Event::Timer);
        }
        if let Some(auth) = self.auth.as_mut() {
            if let Poll::Ready(event) = auth.poll_event(cx, connection.is_closing()) {
                return Poll::Ready(event);
            }
        }
        if !self.write_buf.is_empty() {
            if let Poll::Ready(result) = Pin::new(&mut self.io).poll_write(cx, &self.write_buf) {
                return Poll::Ready(Event::Wrote(result));
            }
        } else if self.unflushed {
            if let Poll::Ready(result) = Pin::new(&mut self.io).poll_flush(cx) {
                return Poll::Ready(Event::Flushed(result));
            }
        }
        if can_read {
            if let Poll::Ready(result) =
                self.io.poll_read_into(cx, &mut self.read_buf, READ_RESERVE)
            {
                return Poll::Ready(Event::Read(result));
            }
        }
        if connection.is_throttled() && connection.poll_unthrottled(cx).is_ready() {
            return Poll::Ready(Event::Unthrottled);
        }
        let room = self.write_buf.len() < WRITE_HIGH_WATER;
        if room && connection.poll_deliveries(cx).is_ready() {
            return Poll::Ready(Event::Deliveries);
        }
        // Like deliveries, durable completions only matter when there is room to write.
        if room && connection.poll_durable(cx).is_ready() {
            return Poll::Ready(Event::Durable);
        }
        Poll::Pending
    }

    /// Acts on one event; `false` when the connection is over.
    fn handle_event(&mut self, event: Event, now: Instant) -> bool {
        let connection = &mut self.connection;
        match event {
            Event::Kick(kick) => connection.handle_kick(kick),
            Event::Expired => {
                if let Some(auth) = self.auth.as_mut() {
                    auth.expiry = None;
                }
                connection.handle_kick(Kick {
                    reason: ReasonCode::NotAuthorized,
                    message: "the credentials expired (token exp, webhook expiration or \
                              certificate validity); re-authenticate before they do"
                        .to_owned(),
                });
            }
            Event::Reauthenticated(outcome) => {
                let renewed = outcome.is_ok();
                connection.complete_reauth(outcome);
                if let Some(auth) = self.auth.as_mut() {
                    auth.reauth = None;
                    if renewed {
                        auth.update_expiry();
                    }
                }
            }
            Event::Timer => connection.handle_timeout(now.into_std()),
            Event::Wrote(Ok(0))
            | Event::Wrote(Err(_))
            | Event::Flushed(Err(_))
            | Event::Read(Ok(0)) => return false,
            Event::Read(Err(error)) => {
                if error.kind() == std::io::ErrorKind::InvalidData {
                    info!(peer = %self.peer, client_id = connection.client_id(), "closed: {error}");
                }
                return false;
            }
            Event::Wrote(Ok(written)) => {
                self.write_buf.advance(written);
                self.unflushed = self.io.buffers_writes();
            }
            Event::Flushed(Ok(())) => self.unflushed = false,
            Event::Read(Ok(read)) => {
                connection.count_received(read);
                self.take_input(now);
            }
            Event::Unthrottled => {
                connection.handle_unthrottled(now.into_std());
                // Packets read before the throttle are still waiting in the buffer.
                self.take_input(now);
            }
            Event::Deliveries | Event::Durable => {}
        }
        true
    }

    /// Decodes every complete packet read so far and hands it to the connection, then
    /// starts a re-authentication the client asked for.
    fn take_input(&mut self, now: Instant) {
        let Self {
            connection,
            decoder,
            read_buf,
            peer,
            ..
        } = self;
        let now = now.into_std();
        // A throttled connection stops taking packets: the rest wait in the buffer.
        while !connection.is_closing() && !connection.is_throttled() {
            match decoder.decode(read_buf) {
                Ok(Some(packet)) => connection.handle_packet(now, packet),
                Ok(None) => break,
                Err(error) => {
                    info!(%peer, client_id = connection.client_id(), reason = %error.reason_code(), "protocol violation: {error}");
                    connection.handle_decode_error(&error);
                    read_buf.clear();
                }
            }
        }
        if read_buf.is_empty() {
            // Release the receive buffer while idle; the next read reserves a fresh one.
            *read_buf = BytesMut::new();
        }
        start_reauth(&mut self.auth, &mut self.connection);
    }

    /// Encodes what the connection has to send, then lets go of a large idle buffer.
    fn fill(&mut self, now: Instant) {
        if self.write_buf.len() < WRITE_HIGH_WATER {
            self.connection
                .poll_transmit(now.into_std(), &mut self.write_buf, WRITE_HIGH_WATER);
        }
        if self.write_buf.is_empty() && self.write_buf.capacity() > WRITE_HIGH_WATER {
            self.write_buf = BytesMut::new();
        }
    }
}
