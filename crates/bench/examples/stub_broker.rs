//! A trivial loopback "broker" for calibrating gridmq-bench itself: it accepts every
//! CONNECT and SUBSCRIBE, acknowledges and discards every PUBLISH, and in `flood` mode
//! pushes pre-encoded QoS 0 PUBLISH packets at every subscriber as fast as it reads them.
//!
//! `cargo run --release -p gridmq-bench --example stub_broker -- PORT [discard|flood]`
//!
//! Runs until killed or for at most ten minutes.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use gridmq_bench::payload::Stamp;
use gridmq_bench::wire::{self, kind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

const LIFETIME: Duration = Duration::from_secs(600);

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(18899);
    let flood = args.next().as_deref() == Some("flood");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let serve = async {
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::spawn(serve_client(stream, flood));
            }
        };
        tokio::time::timeout(LIFETIME, serve)
            .await
            .unwrap_or(Ok::<(), std::io::Error>(()))
    })
}

async fn serve_client(stream: TcpStream, flood: bool) -> std::io::Result<()> {
    let (mut reader, writer) = stream.into_split();
    let writer = std::sync::Arc::new(tokio::sync::Mutex::new(writer));
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let mut v5 = false;
    loop {
        if reader.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let mut out = BytesMut::new();
        let mut consumed = 0;
        while let Ok(Some(frame)) = wire::next_frame(&buf[consumed..]) {
            let body = &buf[consumed + frame.header_len..consumed + frame.len()];
            match frame.kind() {
                1 => {
                    v5 = body.get(6) == Some(&5);
                    out.put_slice(if v5 {
                        &[0x20, 3, 0, 0, 0]
                    } else {
                        &[0x20, 2, 0, 0]
                    });
                }
                8 => {
                    let qos = body.last().copied().unwrap_or(0) & 0b11;
                    out.put_slice(&[0x90, if v5 { 4 } else { 3 }, body[0], body[1]]);
                    if v5 {
                        out.put_u8(0);
                    }
                    out.put_u8(qos);
                    if flood {
                        tokio::spawn(flood_client(writer.clone(), v5));
                    }
                }
                kind::PUBLISH => {
                    if let Ok(p) = wire::publish_fields(frame.first, body, v5) {
                        match p.qos {
                            1 => wire::put_ack(&mut out, kind::PUBACK, p.packet_id),
                            2 => wire::put_ack(&mut out, kind::PUBREC, p.packet_id),
                            _ => {}
                        }
                    }
                }
                kind::PUBREL => wire::put_ack(
                    &mut out,
                    kind::PUBCOMP,
                    wire::ack_packet_id(body).unwrap_or(1),
                ),
                12 => out.put_slice(&[0xD0, 0]),
                14 => return Ok(()),
                _ => {}
            }
            consumed += frame.len();
        }
        buf.advance(consumed);
        if !out.is_empty() {
            writer.lock().await.write_all(&out).await?;
        }
    }
}

/// Writes batches of stamped QoS 0 PUBLISH packets until the client goes away.
async fn flood_client(writer: std::sync::Arc<tokio::sync::Mutex<OwnedWriteHalf>>, v5: bool) {
    let topic = b"stub/flood";
    let mut payload = [0u8; 64];
    let mut seq = 0u64;
    let mut out = BytesMut::with_capacity(64 * 1024);
    loop {
        out.clear();
        for _ in 0..512 {
            Stamp {
                publisher: 0,
                seq,
                sent_ns: 0,
            }
            .write(&mut payload);
            seq += 1;
            let body_len = 2 + topic.len() + usize::from(v5) + payload.len();
            out.put_u8(0x30);
            out.put_u8(body_len as u8);
            out.put_u16(topic.len() as u16);
            out.put_slice(topic);
            if v5 {
                out.put_u8(0);
            }
            out.put_slice(&payload);
        }
        if writer.lock().await.write_all(&out).await.is_err() {
            return;
        }
    }
}
