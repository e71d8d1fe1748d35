//! Connection limits of `haul serve`: how long a connection may take to send its first
//! request head (`--header-timeout`) or sit idle between requests (`--idle-timeout`), and how
//! many may be open at once (`--max-connections`). When the cap is reached, a new connection
//! evicts the oldest *half-open* one (no complete request head yet), else the longest-idle
//! one; connections with a request in flight (or its answer still streaming) are never
//! evicted, and if every connection is busy the new one is closed at once.
//!
//! Also raises the soft `RLIMIT_NOFILE` to the hard limit, so the cap is not undercut by a
//! small default. Owns no sockets: the accept loop in `mod.rs` asks [`Registry::admit`] and
//! serves the connection until its [`Conn::closed`] token fires or [`Conn::expired`] resolves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// File descriptors kept back from the connection cap for listeners, spill files, logs.
const FD_RESERVE: u64 = 256;

/// The limits; see the module doc.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

const HALF_OPEN: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;
const EVICTED: u8 = 3;

/// One accepted connection.
pub struct Conn {
    id: u64,
    phase: AtomicU8,
    /// Requests in flight (answers still streaming included); changed under the registry lock.
    busy: AtomicU64,
    /// When the current phase began, in milliseconds since the registry's epoch.
    since_ms: AtomicU64,
    /// The key of this connection in the idle map, while idle.
    idle_key: AtomicU64,
    close: CancellationToken,
    /// Woken when the phase changes, so `expired` recomputes its deadline.
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    open: usize,
    next_id: u64,
    next_idle: u64,
    half_open: BTreeMap<u64, Arc<Conn>>,
    idle: BTreeMap<u64, Arc<Conn>>,
}

/// Every open connection, in eviction order.
pub struct Registry {
    limits: Limits,
    epoch: Instant,
    inner: Mutex<Inner>,
}

impl Registry {
    pub fn new(limits: Limits) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Connections open now (evicted ones no longer count).
    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Registers a new connection, evicting a half-open or idle one when the cap is reached;
    /// `None` when every connection is busy (close the new one).
    pub fn admit(&self, parent: &CancellationToken) -> Option<Arc<Conn>> {
        let mut g = self.lock();
        if g.open >= self.limits.max_connections {
            let victim = match g.half_open.pop_first() {
                Some((_, c)) => c,
                None => g.idle.pop_first()?.1,
            };
            victim.phase.store(EVICTED, Ordering::Relaxed);
            victim.close.cancel();
            g.open -= 1;
        }
        g.open += 1;
        g.next_id += 1;
        let c = Arc::new(Conn {
            id: g.next_id,
            phase: AtomicU8::new(HALF_OPEN),
            busy: AtomicU64::new(0),
            since_ms: AtomicU64::new(self.now_ms()),
            idle_key: AtomicU64::new(0),
            close: parent.child_token(),
            changed: tokio::sync::Notify::new(),
        });
        g.half_open.insert(c.id, c.clone());
        Some(c)
    }

    /// A request arrived on `c`: it is busy (not evictable) until the guard drops, which
    /// happens when its answer has been sent or abandoned.
    pub fn busy(self: &Arc<Self>, c: &Arc<Conn>) -> Busy {
        let mut g = self.lock();
        if c.busy.fetch_add(1, Ordering::Relaxed) == 0 {
            match c.phase.load(Ordering::Relaxed) {
                HALF_OPEN => {
                    g.half_open.remove(&c.id);
                }
                IDLE => {
                    g.idle.remove(&c.idle_key.load(Ordering::Relaxed));
                }
                _ => {}
            }
            if c.phase.load(Ordering::Relaxed) != EVICTED {
                c.phase.store(BUSY, Ordering::Relaxed);
                c.changed.notify_one();
            }
        }
        Busy {
            reg: self.clone(),
            conn: c.clone(),
        }
    }

    fn unbusy(&self, c: &Arc<Conn>) {
        let mut g = self.lock();
        if c.busy.fetch_sub(1, Ordering::Relaxed) == 1 && c.phase.load(Ordering::Relaxed) == BUSY {
            g.next_idle += 1;
            let key = g.next_idle;
            c.idle_key.store(key, Ordering::Relaxed);
            c.since_ms.store(self.now_ms(), Ordering::Relaxed);
            c.phase.store(IDLE, Ordering::Relaxed);
            g.idle.insert(key, c.clone());
            c.changed.notify_one();
        }
    }

    /// The connection ended (closed by either side, evicted or timed out).
    pub fn closed(&self, c: &Conn) {
        let mut g = self.lock();
        match c.phase.swap(EVICTED, Ordering::Relaxed) {
            EVICTED => return,
            HALF_OPEN => {
                g.half_open.remove(&c.id);
            }
            IDLE => {
                g.idle.remove(&c.idle_key.load(Ordering::Relaxed));
            }
            _ => {}
        }
        g.open -= 1;
    }

    /// Resolves when `c` has been half-open longer than the header timeout or idle longer
    /// than the idle timeout.
    pub async fn expired(&self, c: &Conn) {
        loop {
            let limit = match c.phase.load(Ordering::Relaxed) {
                HALF_OPEN => self.limits.header_timeout,
                IDLE => self.limits.idle_timeout,
                EVICTED => return,
                _ => {
                    c.changed.notified().await;
                    continue;
                }
            };
            let deadline =
                self.epoch + Duration::from_millis(c.since_ms.load(Ordering::Relaxed)) + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = c.changed.notified() => {}
            }
        }
    }
}

impl Conn {
    /// Fires when the connection is evicted or the server stops.
    pub fn closed(&self) -> &CancellationToken {
        &self.close
    }
}

/// A request in flight on a connection; see [`Registry::busy`].
pub struct Busy {
    reg: Arc<Registry>,
    conn: Arc<Conn>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.reg.unbusy(&self.conn);
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (once per process is enough; repeating
/// is harmless) and returns the soft limit now in force, if it can be read.
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit reads one rlimit from a struct we own.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `wanted` connections, or fewer when the file-descriptor limit cannot hold them.
pub fn effective_cap(wanted: usize, fd_limit: Option<u64>) -> usize {
    match fd_limit {
        Some(n) if n != libc::RLIM_INFINITY => {
            wanted.min(n.saturating_sub(FD_RESERVE).max(16) as usize)
        }
        _ => wanted,
    }
    .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(max: usize) -> Arc<Registry> {
        Registry::new(Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: max,
        })
    }

    #[test]
    fn a_full_registry_evicts_half_open_before_idle_and_never_busy() {
        let r = reg(3);
        let root = CancellationToken::new();
        let busy = r.admit(&root).expect("room");
        let idle = r.admit(&root).expect("room");
        let half = r.admit(&root).expect("room");
        let _b = r.busy(&busy);
        drop(r.busy(&idle));
        let d = r.admit(&root).expect("the half-open one makes room");
        assert!(half.closed().is_cancelled());
        assert!(!idle.closed().is_cancelled());
        let _d = r.busy(&d);
        let _e = r.admit(&root).expect("the idle one makes room");
        assert!(idle.closed().is_cancelled());
        assert!(!busy.closed().is_cancelled());
        assert_eq!(r.open(), 3);
        // Now busy, busy, half-open(e): e goes next; with only busy ones, none is admitted.
        let _f = r.admit(&root).expect("e makes room");
        let _g = r.busy(&_f);
        assert!(r.admit(&root).is_none(), "every connection is busy");
        r.closed(&busy);
        assert_eq!(r.open(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_shorter_than_the_header_timeout_applies_once_idle() {
        let r = Registry::new(Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(1),
            max_connections: 10,
        });
        let c = r.admit(&CancellationToken::new()).expect("room");
        let t = Instant::now();
        let watch = {
            let (r, c) = (r.clone(), c.clone());
            tokio::spawn(async move { r.expired(&c).await })
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(r.busy(&c));
        let _ = watch.await;
        assert_eq!(t.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_and_idle_connections_expire_after_their_timeouts() {
        let r = reg(10);
        let root = CancellationToken::new();
        let c = r.admit(&root).expect("room");
        let t = Instant::now();
        r.expired(&c).await;
        assert_eq!(t.elapsed(), Duration::from_secs(10));
        drop(r.busy(&c));
        let t = Instant::now();
        r.expired(&c).await;
        assert_eq!(t.elapsed(), Duration::from_secs(60));
    }
}
