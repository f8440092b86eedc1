//! Counts open HTTP connections, in all and per client address, and admits a new
//! one only while both counts are under their caps.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The two caps and the connections they count. Shared by every listener.
#[derive(Debug)]
pub struct ConnectionCaps {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client already holds `max` connections.
    PerClient {
        /// `http.max_connections_per_client`.
        max: usize,
    },
    /// The server already holds `max` connections.
    Total {
        /// `http.max_connections`.
        max: usize,
    },
}

impl Refusal {
    /// The configuration key of the cap that was reached.
    pub fn key(&self) -> &'static str {
        match self {
            Refusal::PerClient { .. } => "http.max_connections_per_client",
            Refusal::Total { .. } => "http.max_connections",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::PerClient { max } => write!(
                f,
                "too many connections from your address ({} = {max})",
                self.key()
            ),
            Refusal::Total { max } => {
                write!(
                    f,
                    "server busy: too many connections ({} = {max})",
                    self.key()
                )
            }
        }
    }
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Admission {
    caps: Arc<ConnectionCaps>,
    client: IpAddr,
}

impl ConnectionCaps {
    /// Caps of `max_total` connections, `max_per_client` of them from one address.
    pub fn new(max_total: usize, max_per_client: usize) -> Arc<Self> {
        Arc::new(ConnectionCaps {
            max_total,
            max_per_client,
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The counts stay consistent even if a holder panicked: each update is
        // one statement.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a connection from `client`, or says which cap it hit. The client's
    /// own cap is looked at first: a client over it is told so even when the
    /// server is full too.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Admission, Refusal> {
        let mut open = self.lock();
        let mine = open.per_client.get(&client).copied().unwrap_or(0);
        if mine >= self.max_per_client {
            return Err(Refusal::PerClient {
                max: self.max_per_client,
            });
        }
        if open.total >= self.max_total {
            return Err(Refusal::Total {
                max: self.max_total,
            });
        }
        open.total += 1;
        open.per_client.insert(client, mine + 1);
        Ok(Admission {
            caps: Arc::clone(self),
            client,
        })
    }

    /// Connections admitted and not yet dropped.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Client addresses holding at least one connection.
    pub fn clients(&self) -> usize {
        self.lock().per_client.len()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.caps.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn per_client_cap_refuses_only_that_client() {
        let caps = ConnectionCaps::new(10, 2);
        let held: Vec<_> = (0..2).map(|_| caps.admit(ip(1)).unwrap()).collect();
        assert_eq!(
            caps.admit(ip(1)).unwrap_err(),
            Refusal::PerClient { max: 2 }
        );
        let other = caps.admit(ip(2)).expect("another client is admitted");
        assert_eq!(caps.open(), 3);
        drop(held);
        assert_eq!(caps.open(), 1);
        caps.admit(ip(1))
            .expect("admitted again once its connections closed");
        drop(other);
    }

    #[test]
    fn total_cap_refuses_everyone_and_frees_on_drop() {
        let caps = ConnectionCaps::new(3, 2);
        let a = caps.admit(ip(1)).unwrap();
        let _b = caps.admit(ip(2)).unwrap();
        let _c = caps.admit(ip(3)).unwrap();
        assert_eq!(caps.admit(ip(4)).unwrap_err(), Refusal::Total { max: 3 });
        drop(a);
        let _d = caps.admit(ip(4)).expect("a place came free");
        assert_eq!((caps.open(), caps.clients()), (3, 3));
    }

    #[test]
    fn client_over_its_cap_is_told_so_when_the_server_is_full_too() {
        let caps = ConnectionCaps::new(2, 2);
        let _held: Vec<_> = (0..2).map(|_| caps.admit(ip(1)).unwrap()).collect();
        assert_eq!(
            caps.admit(ip(1)).unwrap_err(),
            Refusal::PerClient { max: 2 }
        );
        assert_eq!(caps.admit(ip(2)).unwrap_err(), Refusal::Total { max: 2 });
    }

    #[test]
    fn dropping_every_admission_leaves_no_entry() {
        let caps = ConnectionCaps::new(100, 100);
        let held: Vec<_> = (0..50).map(|i| caps.admit(ip(i % 7)).unwrap()).collect();
        assert_eq!(caps.clients(), 7);
        drop(held);
        assert_eq!((caps.open(), caps.clients()), (0, 0));
    }

    #[test]
    fn refusal_text_names_the_key() {
        let text = Refusal::PerClient { max: 32 }.to_string();
        assert!(
            text.contains("http.max_connections_per_client = 32"),
            "{text}"
        );
        let text = Refusal::Total { max: 512 }.to_string();
        assert!(text.contains("http.max_connections = 512"), "{text}");
    }
}
