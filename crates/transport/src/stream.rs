//! The byte streams a connection runs over. No stream holds a receive buffer of the
//! driver's while it waits: TCP reads only once the socket is readable; streams read
//! through `AsyncRead` (TLS) read into a stack chunk and copy out what arrived; the
//! WebSocket stream hands over whole messages.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

    /// Whether bytes accepted by `poll_write` may wait in the stream until
    /// `poll_flush` (TLS records, WebSocket frames). The driver flushes such streams
    /// once its write buffer is empty.
    fn buffers_writes(&self) -> bool {
        true
    }
}

impl Transport for TcpStream {
    fn buffers_writes(&self) -> bool {
        false
    }

    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_read_ready(cx))?;
        buf.reserve(reserve);
        // Through `AsyncRead` rather than `try_read_buf`: a short read then clears the
        // readiness, so the next poll waits for epoll instead of trying a read that
        // would block (one `recvfrom` per wake-up saved).
        match tokio_util::io::poll_read_buf(Pin::new(self), cx, buf) {
            Poll::Pending => {
                // Readiness was stale: give back the reservation rather than hold it
                // while the client idles.
                if buf.is_empty() {
                    *buf = BytesMut::new();
                }
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl Transport for Box<dyn Transport> {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> Poll<io::Result<usize>> {
        (**self).poll_read_into(cx, buf, reserve)
    }

    fn buffers_writes(&self) -> bool {
        (**self).buffers_writes()
    }
}

/// The largest read through [`Stream`] into an empty buffer: one TLS record.
const STACK_CHUNK: usize = 16 * 1024;

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
        if buf.capacity() - buf.len() >= reserve.min(STACK_CHUNK) {
            return tokio_util::io::poll_read_buf(Pin::new(&mut self.0), cx, buf);
        }
        // Waiting with an empty buffer: read into the stack so that an idle connection
        // holds no heap buffer, then copy what arrived.
        let mut chunk = [0u8; STACK_CHUNK];
        let mut read = ReadBuf::new(&mut chunk[..reserve.clamp(1, STACK_CHUNK)]);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut read))?;
        let filled = read.filled();
        buf.reserve(reserve.max(filled.len()));
        buf.extend_from_slice(filled);
        Poll::Ready(Ok(filled.len()))
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

/// A stream with bytes already read from it put back in front: what a PROXY header
/// reader read past the header.
#[derive(Debug)]
pub struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    /// `inner`, whose next bytes are `prefix`.
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(out.remaining());
            out.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
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

impl Transport for Rewind<TcpStream> {
    fn buffers_writes(&self) -> bool {
        false
    }

    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        reserve: usize,
    ) -> Poll<io::Result<usize>> {
        if !self.prefix.is_empty() {
            let prefix = std::mem::take(&mut self.prefix);
            buf.extend_from_slice(&prefix);
            return Poll::Ready(Ok(prefix.len()));
        }
        self.inner.poll_read_into(cx, buf, reserve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn stream_reads_without_holding_a_buffer_and_rewind_replays() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = Stream(Rewind::new(Bytes::from_static(b"ab"), server));
        let mut client = client;
        client.write_all(b"cd").await.unwrap();
        let mut buf = BytesMut::new();
        let n = poll_fn(|cx| server.poll_read_into(cx, &mut buf, 1024))
            .await
            .unwrap();
        assert_eq!((n, &buf[..]), (2, &b"ab"[..]));
        let n = poll_fn(|cx| server.poll_read_into(cx, &mut buf, 1024))
            .await
            .unwrap();
        assert_eq!((n, &buf[..]), (2, &b"abcd"[..]));

        server.0.write_all(b"xy").await.unwrap();
        let mut reply = [0; 2];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"xy");
    }
}
