//! The delay proxy's event loop: one thread, one epoll set, one timer.
//!
//! Every connection of a [`super::DelayProxy`] is served by this loop. What
//! a client sends is read as soon as it arrives and held on one line in
//! arrival order, each chunk due `delay` after it was read; a timerfd
//! (nanosecond precision, unlike epoll's millisecond timeout) wakes the
//! loop when the oldest chunk is due, and everything due by then is written
//! to its server in one write per connection. What a server answers is
//! passed back at once.
//!
//! One thread rather than a thread per direction of each connection: the
//! benchmark shares two cores with the server, the client and the
//! databases, and a thread handing each chunk to another costs several
//! context switches per round trip, which a switch between hosts does not
//! charge the host. One loop wakes once for whatever is ready.
//!
//! The line is unbounded: a server that stops reading makes the proxy hold
//! what its client sent, which a benchmark's request–response traffic never
//! builds up.

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const TIMER: Token = Token(1);
const WAKER: Token = Token(2);
/// Connection `id`'s client side is token `FIRST_PAIR + 2·id`, its server
/// side the next one.
const FIRST_PAIR: usize = 3;

/// A chunk a client sent, held until `due`; `None` is its end of stream,
/// passed on as a shutdown after the same delay.
struct Held {
    due: Instant,
    pair: usize,
    bytes: Option<Vec<u8>>,
}

/// One side of a proxied connection and what is owed to it.
struct Side {
    stream: TcpStream,
    /// Bytes to write to this stream that it has not taken yet.
    owed: Vec<u8>,
    /// Shut this stream's write half once `owed` is written.
    shut_when_written: bool,
    write_shut: bool,
    read_closed: bool,
}

impl Side {
    fn new(stream: TcpStream) -> Self {
        Side {
            stream,
            owed: Vec::new(),
            shut_when_written: false,
            write_shut: false,
            read_closed: false,
        }
    }

    /// Writes what is owed until the stream would block; `Err` ends the
    /// connection.
    fn write_owed(&mut self) -> std::io::Result<()> {
        let mut written = 0;
        while written < self.owed.len() {
            match self.stream.write(&self.owed[written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.owed.drain(..written);
        if self.owed.is_empty() && self.shut_when_written && !self.write_shut {
            self.write_shut = true;
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// Appends everything readable now to `into`; true at end of stream.
    fn read_available(&mut self, scratch: &mut [u8], into: &mut Vec<u8>) -> std::io::Result<bool> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    self.read_closed = true;
                    return Ok(true);
                }
                Ok(n) => into.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn finished(&self) -> bool {
        self.read_closed && self.write_shut
    }
}

struct Pair {
    client: Side,
    server: Side,
}

/// The proxy's state, owned by its thread.
pub(super) struct DelayLine {
    poll: Poll,
    listener: Option<TcpListener>,
    timer: OwnedFd,
    upstream: SocketAddr,
    delay: Duration,
    stop: Arc<AtomicBool>,
    /// Kept open here: an eventfd closed by the dropping proxy before the
    /// loop read its wake-up would take the pending event with it.
    _waker: Arc<Waker>,
    pairs: HashMap<usize, Pair>,
    next_pair: usize,
    line: VecDeque<Held>,
    scratch: Vec<u8>,
}

impl DelayLine {
    /// The loop for `listener`, and the waker that tells it to look at
    /// `stop`.
    pub(super) fn new(
        listener: std::net::TcpListener,
        upstream: SocketAddr,
        delay: Duration,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<(Self, Arc<Waker>)> {
        let poll = Poll::new()?;
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        poll.registry()
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok((
            DelayLine {
                poll,
                listener: Some(listener),
                timer,
                upstream,
                delay,
                stop,
                _waker: waker.clone(),
                pairs: HashMap::new(),
                next_pair: 0,
                line: VecDeque::new(),
                scratch: vec![0u8; 64 * 1024],
            },
            waker,
        ))
    }

    /// Serves until stopped and every open connection has ended.
    pub(super) fn run(mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(256);
        while self.listener.is_some() || !self.pairs.is_empty() {
            self.poll.poll(&mut events, None)?;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept()?,
                    TIMER => {
                        // Clears the expiry; the line is looked at below.
                        let mut expirations = [0u8; 8];
                        let _ = rustix::io::read(&self.timer, &mut expirations);
                    }
                    WAKER => {
                        if self.stop.load(Ordering::Relaxed) {
                            if let Some(mut listener) = self.listener.take() {
                                let _ = self.poll.registry().deregister(&mut listener);
                            }
                        }
                    }
                    Token(token) => self.serve((token - FIRST_PAIR) / 2),
                }
            }
            self.release_due()?;
        }
        Ok(())
    }

    fn accept(&mut self) -> std::io::Result<()> {
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        loop {
            let client = match listener.accept() {
                Ok((client, _)) => client,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // A loopback connect is immediate; blocking for it keeps the
            // loop simple.
            let server = match std::net::TcpStream::connect(self.upstream) {
                Ok(server) => server,
                Err(error) => {
                    tracing::warn!(%error, "delay proxy: upstream refused");
                    continue;
                }
            };
            server.set_nonblocking(true)?;
            let mut server = TcpStream::from_std(server);
            let mut client = client;
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let id = self.next_pair;
            self.next_pair += 1;
            let both = Interest::READABLE | Interest::WRITABLE;
            let registry = self.poll.registry();
            registry.register(&mut client, Token(FIRST_PAIR + 2 * id), both)?;
            registry.register(&mut server, Token(FIRST_PAIR + 2 * id + 1), both)?;
            self.pairs.insert(
                id,
                Pair {
                    client: Side::new(client),
                    server: Side::new(server),
                },
            );
        }
    }

    /// Reads and writes whatever connection `id` is ready for. Events are
    /// edge-triggered, so each side is read until it would block.
    fn serve(&mut self, id: usize) {
        let Some(pair) = self.pairs.get_mut(&id) else {
            return;
        };
        let outcome = (|| -> std::io::Result<()> {
            if !pair.client.read_closed {
                let mut sent = Vec::new();
                let ended = pair.client.read_available(&mut self.scratch, &mut sent)?;
                let due = Instant::now() + self.delay;
                if !sent.is_empty() {
                    self.line.push_back(Held {
                        due,
                        pair: id,
                        bytes: Some(sent),
                    });
                }
                if ended {
                    self.line.push_back(Held {
                        due,
                        pair: id,
                        bytes: None,
                    });
                }
            }
            if !pair.server.read_closed {
                let ended = pair
                    .server
                    .read_available(&mut self.scratch, &mut pair.client.owed)?;
                pair.client.shut_when_written |= ended;
            }
            pair.client.write_owed()?;
            pair.server.write_owed()
        })();
        self.settle(id, outcome);
    }

    /// Hands every held chunk that is due to its server, then sets the
    /// timer for the next one.
    fn release_due(&mut self) -> std::io::Result<()> {
        loop {
            let now = Instant::now();
            let mut touched = Vec::new();
            while self.line.front().is_some_and(|held| held.due <= now) {
                let held = self.line.pop_front().expect("a front was just seen");
                let Some(pair) = self.pairs.get_mut(&held.pair) else {
                    continue;
                };
                match held.bytes {
                    Some(bytes) => pair.server.owed.extend_from_slice(&bytes),
                    None => pair.server.shut_when_written = true,
                }
                if touched.last() != Some(&held.pair) {
                    touched.push(held.pair);
                }
            }
            for id in touched {
                let outcome = match self.pairs.get_mut(&id) {
                    Some(pair) => pair.server.write_owed(),
                    None => continue,
                };
                self.settle(id, outcome);
            }
            let Some(next) = self.line.front() else {
                return Ok(());
            };
            let wait = next.due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                return self.arm(wait);
            }
        }
    }

    /// One expiry of the timer after `wait` (never zero: that disarms it).
    fn arm(&self, wait: Duration) -> std::io::Result<()> {
        let value = Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos().max(1) as _,
        };
        let once = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &once)?;
        Ok(())
    }

    /// Drops connection `id` once both directions have ended, or at once
    /// on an error (the peers see the reset).
    fn settle(&mut self, id: usize, outcome: std::io::Result<()>) {
        let done = match self.pairs.get(&id) {
            Some(pair) => outcome.is_err() || (pair.client.finished() && pair.server.finished()),
            None => return,
        };
        if done {
            if let Some(mut pair) = self.pairs.remove(&id) {
                let registry = self.poll.registry();
                let _ = registry.deregister(&mut pair.client.stream);
                let _ = registry.deregister(&mut pair.server.stream);
            }
        }
    }
}
