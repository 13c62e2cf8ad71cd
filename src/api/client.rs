//! A small blocking HTTP/1.1 client for the admin API, used by the CLI ([`super::cli`]).
//!
//! Hand-written over `std::net::TcpStream` (one request per connection, `Connection: close`,
//! Content-Length or chunked bodies): the CLI talks to one known server on loopback, so a
//! general client (ureq, with its TLS and connection-pool dependencies) would add compile time
//! and nothing we use.
//!
//! What this does not do: TLS, redirects, keep-alive, or following the SSE feed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

/// Why a CLI command failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the holdline API at {addr}: {source} (is `holdline serve` running? --api sets the address)")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the API: {0}")]
    Io(#[from] std::io::Error),
    #[error("the API sent a response that is not HTTP: {0}")]
    BadResponse(String),
    /// The API refused: its message and, for 422, every problem.
    #[error("{message}{}", problems.iter().map(|p| format!("\n  {p}")).collect::<String>())]
    Api {
        status: u16,
        message: String,
        problems: Vec<String>,
    },
    #[error("{0}")]
    Usage(String),
}

/// A response: status and body (JSON, or a JSON string for a text body, or null when empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// A blocking client for one API address.
#[derive(Clone, Debug)]
pub struct Client {
    addr: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// `addr` is `HOST:PORT`.
    pub fn new(addr: impl Into<String>, token: Option<String>) -> Client {
        Client {
            addr: addr.into(),
            token,
            timeout: Duration::from_secs(10),
        }
    }

    /// Sends one request; any status is a `Reply` (see [`Client::call`] for errors as `Err`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let mut stream = TcpStream::connect(&self.addr).map_err(|source| ClientError::Connect {
            addr: self.addr.clone(),
            source,
        })?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.addr
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
        stream.write_all(head.as_bytes())?;
        stream.write_all(payload.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        parse_response(&raw)
    }

    /// Sends `payload` as the body with `content_type` (an upload); the timeout is longer, since
    /// the server decodes the whole file before it answers.
    pub fn send_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        payload: &[u8],
    ) -> Result<Reply, ClientError> {
        let mut stream = TcpStream::connect(&self.addr).map_err(|source| ClientError::Connect {
            addr: self.addr.clone(),
            source,
        })?;
        stream.set_read_timeout(Some(self.timeout * 12))?;
        stream.set_write_timeout(Some(self.timeout * 12))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            self.addr,
            payload.len()
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        // The server may refuse a large body early (413) and close; its answer still counts.
        let sent = stream.write_all(payload);
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw);
        if raw.is_empty() {
            sent?;
            read?;
        }
        parse_response(&raw)
    }

    /// Like [`Client::send_bytes`], turning a 4xx/5xx into [`ClientError::Api`].
    pub fn call_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        payload: &[u8],
    ) -> Result<Value, ClientError> {
        api_result(self.send_bytes(method, path, content_type, payload)?)
    }

    /// Sends one request and turns a 4xx/5xx into [`ClientError::Api`].
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        api_result(self.request(method, path, body)?)
    }
}

/// A reply as its body, or a 4xx/5xx as [`ClientError::Api`].
fn api_result(reply: Reply) -> Result<Value, ClientError> {
    if reply.status >= 400 {
        let message = reply
            .body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the API answered {}", reply.status));
        let problems = reply
            .body
            .get("problems")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("message").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        return Err(ClientError::Api {
            status: reply.status,
            message,
            problems,
        });
    }
    Ok(reply.body)
}

/// Parses an HTTP/1.1 response read to the end of the connection.
fn parse_response(raw: &[u8]) -> Result<Reply, ClientError> {
    let bad = |why: &str| ClientError::BadResponse(why.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers are not text"))?;
    let mut rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        }
    }
    let body: Vec<u8> = if chunked {
        let mut out = Vec::new();
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("truncated chunk size"))?;
            let size_text = std::str::from_utf8(&rest[..end]).map_err(|_| bad("chunk size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("chunk size is not hex"))?;
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            let chunk = rest.get(..size).ok_or_else(|| bad("truncated chunk"))?;
            out.extend_from_slice(chunk);
            rest = rest.get(size + 2..).unwrap_or(&[]);
        }
        out
    } else {
        let n = length.unwrap_or(rest.len()).min(rest.len());
        rest[..n].to_vec()
    };
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Ok(Reply { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chunked_and_sized_responses_parse() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"a\":1}").unwrap();
        assert_eq!(
            r,
            Reply {
                status: 200,
                body: json!({ "a": 1 })
            }
        );
        let r = parse_response(
            b"HTTP/1.1 422 Unprocessable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":2}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            r,
            Reply {
                status: 422,
                body: json!({ "a": 2 })
            }
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
