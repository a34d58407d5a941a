//! `--network-delay-ms`: MariaDB and Redis one network hop away.
//!
//! On this box every database is on loopback, a round trip of a few
//! microseconds, which flatters designs that talk to the database many
//! times per request (a row lock held across three round trips costs
//! nothing here and caps a real deployment). A [`DelayProxy`] sits between
//! the benchmark and a server and holds every chunk the client sends for
//! the delay before passing it on, so each request–response round trip
//! gains that delay, as a hop through a switch would add it.
//!
//! A proxy in user space because this kernel has no `netem` (nor any other
//! qdisc that delays): `tc qdisc add … netem` answers "Specified qdisc kind
//! is unknown", so a veth pair between network namespaces could carry the
//! traffic but not delay it. The proxy's cost stays on the box's two cores,
//! so it is one thread with one epoll loop for all its connections
//! ([`delay_line`]), not threads handing chunks to each other.

mod delay_line;

use anyhow::Context;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A TCP proxy on 127.0.0.1 that delays what clients send by `delay`.
/// Dropping it stops accepting connections; open ones end with their peers.
pub struct DelayProxy {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards to `upstream`
    /// (`host:port`).
    pub fn start(upstream: &str, delay: Duration) -> anyhow::Result<Self> {
        let upstream = upstream
            .to_socket_addrs()
            .with_context(|| format!("resolving {upstream}"))?
            .next()
            .with_context(|| format!("{upstream} has no address"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (line, waker) = delay_line::DelayLine::new(listener, upstream, delay, stop.clone())?;
        std::thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                if let Err(error) = line.run() {
                    tracing::warn!(%error, "delay proxy stopped");
                }
            })?;
        Ok(DelayProxy {
            address,
            stop,
            waker,
        })
    }

    /// `host:port` to connect to instead of the upstream.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
    }
}

/// `url` (`scheme://[user@]host:port[/…]`) with its host and port replaced
/// by `address`.
pub fn through(url: &str, address: SocketAddr) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).with_context(|| format!("parsing {url}"))?;
    parsed
        .set_host(Some(&address.ip().to_string()))
        .with_context(|| format!("{url} takes no host"))?;
    parsed
        .set_port(Some(address.port()))
        .map_err(|()| anyhow::anyhow!("{url} takes no port"))?;
    Ok(parsed.to_string())
}

/// `host:port` of `url`, with the scheme's usual port when it names none.
pub fn upstream_of(url: &str, default_port: u16) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("parsing {url}"))?;
    let host = parsed
        .host_str()
        .with_context(|| format!("{url} names no host"))?;
    Ok(format!("{host}:{}", parsed.port().unwrap_or(default_port)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    #[test]
    fn a_url_is_pointed_at_the_proxy_keeping_its_user_and_path() {
        let address: SocketAddr = "127.0.0.1:4100".parse().unwrap();
        assert_eq!(
            through("mysql://root@127.0.0.1:3306", address).unwrap(),
            "mysql://root@127.0.0.1:4100"
        );
        assert_eq!(
            through("redis://localhost:6379/0", address).unwrap(),
            "redis://127.0.0.1:4100/0"
        );
        assert_eq!(
            upstream_of("redis://localhost/0", 6379).unwrap(),
            "localhost:6379"
        );
    }

    #[test]
    fn each_round_trip_through_the_proxy_gains_the_delay() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_address = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = echo.accept().unwrap();
            let mut byte = [0u8; 1];
            while conn.read_exact(&mut byte).is_ok() {
                conn.write_all(&byte).unwrap();
            }
        });
        let delay = Duration::from_millis(5);
        let proxy = DelayProxy::start(&echo_address.to_string(), delay).unwrap();
        let mut conn = TcpStream::connect(proxy.address()).unwrap();
        conn.set_nodelay(true).unwrap();
        let started = Instant::now();
        for n in 0..4u8 {
            conn.write_all(&[n]).unwrap();
            let mut back = [0u8; 1];
            conn.read_exact(&mut back).unwrap();
            assert_eq!(back, [n], "bytes pass unchanged");
        }
        assert!(
            started.elapsed() >= delay * 4,
            "four round trips took {:?}, less than four delays",
            started.elapsed()
        );
    }

    /// An echo server on a free port: every connection gets back what it
    /// sends, until it closes its side.
    fn echo_server() -> SocketAddr {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in echo.incoming() {
                let mut conn = conn.unwrap();
                std::thread::spawn(move || {
                    let mut back = conn.try_clone().unwrap();
                    let _ = std::io::copy(&mut conn, &mut back);
                });
            }
        });
        address
    }

    #[test]
    fn many_connections_pass_megabytes_both_ways_unchanged() {
        let proxy =
            DelayProxy::start(&echo_server().to_string(), Duration::from_micros(200)).unwrap();
        let clients: Vec<_> = (0..8u8)
            .map(|n| {
                let address = proxy.address();
                std::thread::spawn(move || {
                    let sent: Vec<u8> = (0..2_000_000u32)
                        .map(|i| (i as u8).wrapping_mul(31) ^ n)
                        .collect();
                    let mut conn = TcpStream::connect(address).unwrap();
                    let mut reader = conn.try_clone().unwrap();
                    let expected = sent.len();
                    let receiving = std::thread::spawn(move || {
                        let mut got = Vec::with_capacity(expected);
                        reader.read_to_end(&mut got).unwrap();
                        got
                    });
                    for chunk in sent.chunks(7_919) {
                        conn.write_all(chunk).unwrap();
                    }
                    conn.shutdown(std::net::Shutdown::Write).unwrap();
                    assert!(
                        receiving.join().unwrap() == sent,
                        "connection {n} got other bytes back"
                    );
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
    }

    #[test]
    fn a_client_closing_its_side_reaches_the_server_after_the_delay_and_the_answer_still_comes_back(
    ) {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = server.local_addr().unwrap();
        let delay = Duration::from_millis(20);
        let proxy = DelayProxy::start(&upstream.to_string(), delay).unwrap();
        let mut conn = TcpStream::connect(proxy.address()).unwrap();
        let started = Instant::now();
        conn.write_all(b"question").unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let (mut accepted, _) = server.accept().unwrap();
        let mut asked = Vec::new();
        accepted.read_to_end(&mut asked).unwrap();
        assert_eq!(asked, b"question");
        assert!(
            started.elapsed() >= delay,
            "the end of the stream came after {:?}, before the delay",
            started.elapsed()
        );
        accepted.write_all(b"answer").unwrap();
        drop(accepted);
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"answer");
    }

    #[test]
    fn a_dropped_proxy_refuses_new_connections_and_keeps_serving_open_ones() {
        let proxy =
            DelayProxy::start(&echo_server().to_string(), Duration::from_millis(1)).unwrap();
        let address = proxy.address();
        let mut open = TcpStream::connect(address).unwrap();
        open.write_all(b"a").unwrap();
        let mut byte = [0u8; 1];
        open.read_exact(&mut byte).unwrap();
        drop(proxy);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(address).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the proxy still accepts after 10 s"
            );
            std::thread::yield_now();
        }
        open.write_all(b"b").unwrap();
        open.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"b");
    }
}
