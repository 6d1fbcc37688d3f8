//! The HTTP front door: accepting connections and bounding each one before
//! any request reaches the router.
//!
//! `axum::serve` with its defaults lets a client hold a connection forever
//! with an unfinished header line and grow its read buffer to about 400 KB;
//! 2200 such connections from one address took the process to 1 GB
//! (issue 17). Here every connection is accepted by our own loop and served
//! by hyper's HTTP/1 with:
//! - a cap on open connections per process and per client address, checked
//!   before anything is read (a refused connection gets a `503` written
//!   without waiting, if the socket takes it at once, and is closed); at
//!   the process cap the connection that has waited longest for a request
//!   is closed to make room, so slow connections from many addresses
//!   cannot keep the probes out;
//! - a header-read timeout, which hyper starts whenever the connection waits
//!   for a request, first or kept alive: it is the keep-alive idle timeout too;
//! - a small read buffer and header count and size: a longer header gets
//!   `431` and the connection is closed;
//! - a deadline for the request body (a dribbled WHIP/WHEP offer or admin
//!   upload ends with `400` and the connection is closed);
//! - a bound on how long a response may wait for a client that does not read.
//!
//! Settings ([`HttpLimits`]) are apart from the state (`Connections`, the
//! counts of open connections).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Sleep;

use crate::ServeError;
use crate::metrics::Metrics;

/// hyper's smallest read buffer: a header block must fit in it.
const MIN_READ_BUFFER: usize = 8192;
/// Descriptors kept for everything but HTTP connections (the UDP socket,
/// the runtime's epoll and wake-ups, stage files being loaded, the log,
/// the listener): the connection cap is the file limit minus these.
pub const RESERVED_FILES: u64 = 256;
/// The longest of each timeout accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long the accept loop pauses when the process is out of descriptors
/// (`EMFILE`), instead of spinning on an error it cannot fix.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Connections told to close to make room that may not have closed yet.
const EVICTING_MAX: usize = 32;

/// Bounds of the HTTP front door (WHIP, WHEP, the pages, the probes,
/// `/metrics`, `/admin`): settings only, the same for every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request's header must arrive whole within this, counted from when
    /// the connection starts waiting for it (at accept, or after the last
    /// answer on a kept-alive connection): a half-sent header or an idle
    /// kept-alive connection is closed after it.
    pub header_timeout: Duration,
    /// A request's body must arrive whole within this after its header; a
    /// slower one is answered `400` and its connection closed. An answer
    /// the client does not read for this long closes the connection too.
    pub request_timeout: Duration,
    /// Open HTTP connections per process, at most; lowered at start to the
    /// open-file limit minus [`RESERVED_FILES`].
    pub max_connections: usize,
    /// Open HTTP connections from one client address (an IPv6 client: its
    /// /64), at most.
    pub max_connections_per_client: usize,
    /// The largest request line and headers, in bytes; beyond it `431`.
    /// The connection's read buffer is this, at least 8 KiB.
    pub max_header_bytes: usize,
    /// Header fields per request, at most; beyond it `431`.
    pub max_headers: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            // A header is under 2 KB; 10 s is slow mobile links' worst case
            // and keeps a browser's kept-alive connection for its next poll.
            header_timeout: Duration::from_secs(10),
            // An offer is at most 64 KiB: 30 s is 17 kbit/s.
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            // A browser opens up to 6 connections per server; 64 leaves room
            // for about ten behind one clinic's NAT address.
            max_connections_per_client: 64,
            max_header_bytes: 8192,
            max_headers: 64,
        }
    }
}

impl HttpLimits {
    /// Checks that every bound is a usable number.
    pub fn check(&self) -> Result<(), ServeError> {
        for (name, timeout) in [
            ("the header timeout", self.header_timeout),
            ("the request timeout", self.request_timeout),
        ] {
            if timeout.is_zero() || timeout > MAX_TIMEOUT {
                return Err(ServeError::Config(format!(
                    "{name} must be above 0 and at most 3600 seconds"
                )));
            }
        }
        if self.max_connections == 0 || self.max_connections_per_client == 0 {
            return Err(ServeError::Config(
                "the HTTP connection caps (--http-max-connections, --http-max-connections-per-client) must be at least 1".to_owned(),
            ));
        }
        if !(1024..=(1 << 20)).contains(&self.max_header_bytes) {
            return Err(ServeError::Config(
                "the largest HTTP header must be 1024 to 1048576 bytes".to_owned(),
            ));
        }
        if !(8..=1024).contains(&self.max_headers) {
            return Err(ServeError::Config(
                "HTTP header fields per request must be 8 to 1024".to_owned(),
            ));
        }
        Ok(())
    }

    /// These limits with the process cap lowered to what `open_files` (the
    /// soft open-file limit) leaves after [`RESERVED_FILES`]; an error when
    /// it leaves nothing.
    pub(crate) fn within_file_limit(&self, open_files: u64) -> Result<HttpLimits, ServeError> {
        let room = open_files.saturating_sub(RESERVED_FILES);
        if room == 0 {
            return Err(ServeError::Config(format!(
                "the open-file limit ({open_files}) leaves no descriptors for HTTP connections: \
                 raise it above {RESERVED_FILES} (ulimit -n)"
            )));
        }
        let mut limits = self.clone();
        limits.max_connections = limits
            .max_connections
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        Ok(limits)
    }
}

/// Raises the soft open-file limit to the hard one (more connections and
/// calls fit, and the hard limit is what the operator allowed) and returns
/// the soft limit in force, or `None` when it cannot be read.
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit from a struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(limit.rlim_cur)
}

/// Why a connection was closed at accept. Label values of
/// `framechain_http_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The process has [`HttpLimits::max_connections`] open.
    Process,
    /// This client address has [`HttpLimits::max_connections_per_client`] open.
    Client,
}

impl Refused {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refused::Process => "process",
            Refused::Client => "client",
        }
    }

    /// A whole answer, written once without waiting, before the close.
    fn answer(self) -> &'static [u8] {
        match self {
            Refused::Process => {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Retry-After: 5\r\nConnection: close\r\nContent-Length: 41\r\n\r\nthe server has its most HTTP connections\n"
            }
            Refused::Client => {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Retry-After: 5\r\nConnection: close\r\nContent-Length: 39\r\n\r\ntoo many connections from this address\n"
            }
        }
    }
}

/// The connections open now: in all and per client address, and those
/// waiting for a request (idle, or their header still arriving), oldest
/// first: the ones that may be closed to make room.
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    /// Order of starting to wait -> (connection, its eviction signal).
    waiting: BTreeMap<u64, (u64, Arc<Notify>)>,
    /// Connection -> its key in `waiting`.
    waiting_since: HashMap<u64, u64>,
    /// Connections told to close that have not closed yet.
    evicted: HashSet<u64>,
    /// The next connection id, and the next key of `waiting`.
    next: u64,
}

impl Open {
    fn stop_waiting(&mut self, id: u64) {
        if let Some(key) = self.waiting_since.remove(&id) {
            self.waiting.remove(&key);
        }
    }
}

/// The state of the front door: who holds connections now.
pub(crate) struct Connections {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<Open>,
    metrics: Arc<Metrics>,
}

/// One admitted connection; dropping it gives its place back.
pub(crate) struct Ticket {
    connections: Arc<Connections>,
    client: IpAddr,
    id: u64,
    /// Told when this connection is to close to make room.
    evict: Arc<Notify>,
}

impl Ticket {
    /// The connection waits for a request: it may be closed to make room.
    fn waiting(&self) {
        let mut open = self.connections.lock();
        open.stop_waiting(self.id);
        if open.evicted.contains(&self.id) {
            return;
        }
        let key = open.next;
        open.next += 1;
        open.waiting.insert(key, (self.id, self.evict.clone()));
        open.waiting_since.insert(self.id, key);
    }

    /// The connection has a request in progress: it keeps its place.
    fn busy(&self) {
        self.connections.lock().stop_waiting(self.id);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        open.stop_waiting(self.id);
        open.evicted.remove(&self.id);
        open.total -= 1;
        if let Some(count) = open.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                // The map holds only clients with open connections.
                open.per_client.remove(&self.client);
            }
        }
        self.connections
            .metrics
            .http_connections
            .set(open.total as i64);
    }
}

/// The address a client is counted under: IPv4 (also when mapped into
/// IPv6) as it is; IPv6 by its /64, the smallest block one subscriber gets.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl Connections {
    pub(crate) fn new(limits: &HttpLimits, metrics: Arc<Metrics>) -> Arc<Connections> {
        metrics
            .http_connections_max
            .set(i64::try_from(limits.max_connections).unwrap_or(i64::MAX));
        Arc::new(Connections {
            max_total: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
            open: Mutex::new(Open {
                total: 0,
                per_client: HashMap::new(),
                waiting: BTreeMap::new(),
                waiting_since: HashMap::new(),
                evicted: HashSet::new(),
                next: 0,
            }),
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // The counts stay consistent under a panic elsewhere: every change
        // is one statement.
        self.open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A place for a connection from `ip`, or why not. At the process
    /// cap, the connection that has waited longest for a request (idle, or
    /// its header still arriving: what a flood of slow connections holds)
    /// is told to close and the new one takes its place, so a flood from
    /// many addresses cannot keep the probes out; a connection with a
    /// request in progress is never closed for this.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        let client = client_key(ip);
        let mut open = self.lock();
        if open.per_client.get(&client).copied().unwrap_or(0) >= self.max_per_client {
            return Err(Refused::Client);
        }
        if open.total >= self.max_total {
            // Those told to close still hold descriptors until they do: at
            // most EVICTING_MAX over the cap, well inside RESERVED_FILES.
            if open.evicted.len() >= EVICTING_MAX {
                return Err(Refused::Process);
            }
            let Some((_, (oldest, evict))) = open.waiting.pop_first() else {
                return Err(Refused::Process);
            };
            open.waiting_since.remove(&oldest);
            open.evicted.insert(oldest);
            // A permit is kept if the connection is not listening yet.
            evict.notify_one();
            self.metrics.http_connection_refused("evicted");
        }
        *open.per_client.entry(client).or_insert(0) += 1;
        open.total += 1;
        let id = open.next;
        open.next += 1;
        self.metrics.http_connections.set(open.total as i64);
        Ok(Ticket {
            connections: self.clone(),
            client,
            id,
            evict: Arc::new(Notify::new()),
        })
    }
}

/// Accepts connections on `listener` and serves `router` on each within
/// `limits` (already fitted to the file limit), until `shutdown` turns
/// true; then stops accepting and asks each open connection to end after
/// its request in progress.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Connections::new(&limits, metrics.clone());
    let limits = Arc::new(limits);
    let service = TowerToHyperService::new(router);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (or memory): what is open must close
                // first. Other errors are one connection's (reset before
                // accept) and the next accept goes on.
                if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
                    || error.kind() == io::ErrorKind::OutOfMemory
                {
                    log::warn!("cannot accept an HTTP connection: {error}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        match connections.admit(peer.ip()) {
            Ok(ticket) => {
                tokio::spawn(connection(
                    stream,
                    peer,
                    ticket,
                    service.clone(),
                    limits.clone(),
                    metrics.clone(),
                    shutdown.clone(),
                ));
            }
            Err(refused) => {
                metrics.http_connection_refused(refused.label());
                // Best effort and never waiting: a client that sent its
                // request already may see only the close.
                let _ = stream.try_write(refused.answer());
                drop(stream);
            }
        }
    }
}

/// The client address of the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub SocketAddr);

/// Serves one connection with hyper's HTTP/1 within `limits`.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    service: TowerToHyperService<Router>,
    limits: Arc<HttpLimits>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Answers are small and written whole: do not hold them back.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(WriteStallBound::new(
        stream,
        limits.request_timeout,
        metrics.clone(),
    ));
    let body_timeout = limits.request_timeout;
    let body_metrics = metrics.clone();
    let ticket = Arc::new(ticket);
    ticket.waiting();
    let evict = ticket.evict.clone();
    let request_ticket = ticket.clone();
    let requests = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request =
            request.map(|body| BodyDeadline::new(body, body_timeout, body_metrics.clone()));
        // Who asked, for the audit events (`crate::edge`).
        request.extensions_mut().insert(PeerAddr(peer));
        request_ticket.busy();
        let answering = service.call(request);
        let ticket = request_ticket.clone();
        async move {
            let response = answering.await;
            // Answered: waiting for the next request (kept alive) again.
            ticket.waiting();
            response
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_READ_BUFFER))
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let serving = http.serve_connection(io, requests);
    tokio::pin!(serving);
    let result = tokio::select! {
        result = serving.as_mut() => result,
        _ = shutdown.changed() => {
            serving.as_mut().graceful_shutdown();
            serving.await
        }
        // Closed to make room: it was waiting, nothing is lost.
        _ = evict.notified() => Ok(()),
    };
    if let Err(error) = result {
        if error.is_timeout() {
            metrics.http_timeout("header");
        }
        log::debug!("HTTP connection ended: {error}");
    }
    // The place is given back when the ticket's last holder, the service
    // inside `serving`, goes with the socket at the end of this function.
}

/// The request body took longer than the request timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} s")]
struct BodyTimedOut(f64);

/// A request body that fails once its deadline passes, so a body sent a
/// byte at a time cannot hold a connection and a handler forever.
struct BodyDeadline {
    inner: Incoming,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    metrics: Arc<Metrics>,
}

impl BodyDeadline {
    fn new(inner: Incoming, timeout: Duration, metrics: Arc<Metrics>) -> BodyDeadline {
        BodyDeadline {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            metrics,
        }
    }
}

impl Body for BodyDeadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.metrics.http_timeout("body");
            return Poll::Ready(Some(Err(BodyTimedOut(self.timeout.as_secs_f64()).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose writes fail once one has waited `limit` for the client
/// to read: an answer to a client that never reads must not hold the
/// connection (and its buffers) forever.
struct WriteStallBound {
    inner: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
}

impl WriteStallBound {
    fn new(inner: TcpStream, limit: Duration, metrics: Arc<Metrics>) -> WriteStallBound {
        WriteStallBound {
            inner,
            limit,
            stalled: None,
            metrics,
        }
    }

    /// After a write or flush: its result, or, while it waits, a timeout
    /// error once it has waited `limit` since the last progress.
    fn bound<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            self.metrics.http_timeout("write");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the answer",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for WriteStallBound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStallBound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.bound(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.bound(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.bound(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_process_cap_leaves_room_below_the_file_limit() {
        let limits = HttpLimits::default();
        assert_eq!(
            limits.within_file_limit(1024).unwrap().max_connections,
            1024 - RESERVED_FILES as usize
        );
        assert_eq!(
            limits.within_file_limit(1 << 20).unwrap().max_connections,
            limits.max_connections
        );
        assert!(limits.within_file_limit(RESERVED_FILES).is_err());
    }

    #[test]
    fn refusals_are_whole_answers() {
        for refused in [Refused::Process, Refused::Client] {
            let text = std::str::from_utf8(refused.answer()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(body.len(), length);
        }
    }
}
