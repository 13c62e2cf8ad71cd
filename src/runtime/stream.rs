//! TCP connections (RFC 3261 §18): a reader that frames messages by Content-Length
//! ([`parse_stream`]), a writer task per connection, and outbound connections for requests or
//! responses whose connection has gone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::sip::parse::{parse_stream, Frame, Limits};
use crate::sip::transport::{ConnId, Peer, Transport};

use super::Input;

/// A connection idle this long is closed (RFC 3261 §18.3 leaves it to the implementation;
/// phones keep theirs alive with CRLF pings, RFC 5626).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Shared state of the stream transport.
#[derive(Clone)]
pub struct Streams {
    inputs: mpsc::Sender<Input>,
    limits: Limits,
    next_conn: Arc<AtomicU64>,
}

impl Streams {
    pub(crate) fn new(inputs: mpsc::Sender<Input>, limits: Limits) -> Streams {
        Streams {
            inputs,
            limits,
            next_conn: Arc::new(AtomicU64::new(1)),
        }
    }

    pub async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, from)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(self.clone().serve(stream, from));
                }
                Err(err) => {
                    tracing::warn!(%err, "tcp accept failed");
                    super::clock::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Opens a connection to `to.addr`, sends `bytes` and then serves it like an accepted one;
    /// tells the core when the peer cannot be reached.
    pub fn connect_and_send(&self, to: Peer, bytes: Vec<u8>) {
        let this = self.clone();
        let addr = to.addr;
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    this.serve_with(stream, addr, Some(bytes)).await;
                }
                _ => {
                    tracing::debug!(%addr, "tcp connect failed; message dropped");
                    let _ = this.inputs.send(Input::Unreachable { peer: to }).await;
                }
            }
        });
    }

    async fn serve(self, stream: TcpStream, from: SocketAddr) {
        self.serve_with(stream, from, None).await;
    }

    async fn serve_with(self, stream: TcpStream, from: SocketAddr, first: Option<Vec<u8>>) {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(_) => return,
        };
        let (mut reader, mut writer) = stream.into_split();
        let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(256);
        if let Some(bytes) = first {
            let _ = wtx.try_send(bytes);
        }
        let write_task = tokio::spawn(async move {
            while let Some(bytes) = wrx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        if self
            .inputs
            .send(Input::Connected {
                conn,
                writer: wtx.clone(),
            })
            .await
            .is_err()
        {
            return;
        }
        let peer = Peer {
            transport: Transport::Tcp,
            addr: from,
            conn: Some(conn),
        };
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16_384];
        'read: loop {
            let n = match tokio::time::timeout(IDLE_TIMEOUT, reader.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
                match parse_stream(&buf, &self.limits) {
                    Ok(Frame::Incomplete) => break,
                    Ok(Frame::KeepAlive { consumed }) => {
                        // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                        if buf[..consumed].starts_with(b"\r\n\r\n") {
                            let _ = wtx.try_send(b"\r\n".to_vec());
                        }
                        buf.drain(..consumed);
                    }
                    Ok(Frame::Message { message, consumed }) => {
                        buf.drain(..consumed);
                        let input = Input::Frame {
                            peer,
                            local,
                            parsed: Box::new(Ok(message)),
                        };
                        if self.inputs.send(input).await.is_err() {
                            break 'read;
                        }
                    }
                    Err(err) => {
                        // A stream that cannot be framed cannot be resynchronised: answer what
                        // can be answered, then close (RFC 3261 §18.3).
                        let input = Input::Frame {
                            peer,
                            local,
                            parsed: Box::new(Err(err)),
                        };
                        let _ = self.inputs.send(input).await;
                        super::clock::sleep(Duration::from_millis(100)).await;
                        break 'read;
                    }
                }
            }
        }
        drop(wtx);
        let _ = self.inputs.send(Input::Closed { conn }).await;
        let _ = write_task.await;
    }
}
