//! The byte streams a connection runs over. TCP reads only once the socket is readable,
//! so an idle connection holds no receive buffer; other streams (TLS, WebSocket) read
//! through their `AsyncRead`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A bidirectional byte stream carrying MQTT packets.
pub trait Transport: AsyncWrite + Send + Unpin + 'static {
    /// Reads what is available into `buf`, reserving `reserve` bytes of space only once
    /// data is there where the stream allows it. `Ok(0)` is the end of the stream.
    ///
    /// Cancel safety: bytes read are in `buf`; nothing is lost if the caller stops
    /// polling.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> Poll<io::Result<usize>>;
}

impl Transport for TcpStream {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_read_ready(cx))?;
            buf.reserve(reserve);
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Readiness was stale (it stays set until a read would block): give
                    // back the reservation rather than hold it while the client idles.
                    if buf.is_empty() {
                        *buf = BytesMut::new();
                    }
                    continue;
                }
                result => return Poll::Ready(result),
            }
        }
    }
}

/// Adapts any `AsyncRead + AsyncWrite` stream (TLS, test pipes) to [`Transport`].
#[derive(Debug)]
pub struct Stream<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for Stream<S> {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> Poll<io::Result<usize>> {
        buf.reserve(reserve);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.0), cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
