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
//! The proxy uses a thread per direction of each connection: tokio's timer
//! has millisecond granularity and the delays wanted here are fractions of
//! one, while `std::thread::sleep` is precise to tens of microseconds.
//! Connection pools hold tens of connections, so the threads are few.

use anyhow::Context;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A TCP proxy on 127.0.0.1 that delays what clients send by `delay`.
/// Dropping it stops accepting connections; open ones end with their peers.
pub struct DelayProxy {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
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
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    match TcpStream::connect(upstream) {
                        Ok(server) => proxy(client, server, delay),
                        Err(error) => tracing::warn!(%error, "delay proxy: upstream refused"),
                    }
                }
            })?;
        Ok(DelayProxy { address, stop })
    }

    /// `host:port` to connect to instead of the upstream.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

/// Client → server through a delay line, server → client as it comes.
fn proxy(client: TcpStream, server: TcpStream, delay: Duration) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_reader), Ok(server_writer), Ok(server_reader)) =
        (client.try_clone(), server.try_clone(), server.try_clone())
    else {
        return;
    };
    let (line, arrivals) = mpsc::channel::<(Instant, Vec<u8>)>();
    spawn(move || read_into_line(client_reader, line, delay));
    spawn(move || write_from_line(arrivals, server_writer));
    spawn(move || copy(server_reader, client));
}

fn spawn(work: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name("delay-proxy-conn".into())
        .spawn(work);
}

fn read_into_line(mut from: TcpStream, line: mpsc::Sender<(Instant, Vec<u8>)>, delay: Duration) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0
            || line
                .send((Instant::now() + delay, buffer[..read].to_vec()))
                .is_err()
        {
            break;
        }
    }
}

fn write_from_line(arrivals: mpsc::Receiver<(Instant, Vec<u8>)>, mut to: TcpStream) {
    for (due, bytes) in arrivals {
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        if to.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
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
}
