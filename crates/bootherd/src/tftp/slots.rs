//! Who holds the transfer slots: a cap on all transfers and one per client
//! address, so one host cannot take every slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use crate::throttle::Throttle;

/// Who holds the transfer slots: a cap on all transfers and one per client address,
/// so one host cannot take every slot.
pub struct Slots {
    total: Arc<Semaphore>,
    max_per_client: usize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Refusals, logged at most once every ten seconds per limit.
    busy_log: Throttle,
    client_log: Throttle,
}

/// One transfer's slot, given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
    _total: OwnedSemaphorePermit,
}

impl Slots {
    pub fn new(max_transfers: usize, max_per_client: usize) -> Slots {
        Slots {
            total: Arc::new(Semaphore::new(max_transfers)),
            max_per_client,
            per_client: Mutex::new(HashMap::new()),
            busy_log: Throttle::default(),
            client_log: Throttle::default(),
        }
    }

    /// A slot for a transfer to `client`, or the error message to send it.
    pub fn take(self: &Arc<Self>, client: IpAddr, max_transfers: usize) -> Result<Slot, String> {
        let mut per_client = self.lock();
        let held = per_client.get(&client).copied().unwrap_or(0);
        if held >= self.max_per_client {
            let msg = format!(
                "too many transfers from {client}: {held} in progress, the limit is {}",
                self.max_per_client
            );
            if let Some(count) = self.client_log.due_now() {
                warn!(%client, refused = count, "tftp: refused a request: {msg}");
            }
            return Err(msg);
        }
        let Ok(permit) = self.total.clone().try_acquire_owned() else {
            let msg =
                format!("server busy: {max_transfers} transfers in progress, try again later");
            if let Some(count) = self.busy_log.due_now() {
                warn!(%client, refused = count, "tftp: refused a request: {msg}");
            }
            return Err(msg);
        };
        per_client.insert(client, held + 1);
        Ok(Slot {
            slots: self.clone(),
            client,
            _total: permit,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_client.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_client = self.slots.lock();
        if let Some(held) = per_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}
