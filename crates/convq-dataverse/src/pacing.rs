//! One gate per identity in front of Dataverse: at most `max_concurrent` requests in flight
//! (Dataverse's limit is 52 per identity), and when Dataverse answers 429 or 503 with a wait,
//! every request of that identity waits, not only the one that got it (sending during the
//! wait extends it). A waiting request keeps its own deadline: it fails with
//! `dataverse_throttled` only when the wait would outlast it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::observe::Observer;
use convq_backend::BackendError;

/// The gates of the identities in use. In pass-through every caller's token is an identity, so
/// idle gates are dropped (see [`Pacing::gate`]): junk or rotated tokens must not grow memory.
#[derive(Debug)]
pub(crate) struct Pacing {
    max_concurrent: usize,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    /// The number of gates at which the idle ones are dropped next.
    prune_at: AtomicUsize,
}

/// Gates kept before the first pruning.
const PRUNE_AT: usize = 256;

impl Pacing {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            max_concurrent: max_concurrent.max(1),
            gates: Mutex::default(),
            prune_at: AtomicUsize::new(PRUNE_AT),
        }
    }

    /// The gate of `identity`, created on first use.
    pub(crate) fn gate(&self, identity: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = gates.get(identity) {
            return Arc::clone(gate);
        }
        if gates.len() >= self.prune_at.load(Ordering::Relaxed) {
            // Idle: no request holds it and no pause is running, so it has no state to keep.
            gates.retain(|_, gate| Arc::strong_count(gate) > 1 || gate.paused_until().is_some());
            // Twice what is in use: pruning costs O(1) per new identity, amortized.
            self.prune_at
                .store((gates.len() * 2).max(PRUNE_AT), Ordering::Relaxed);
        }
        let gate = Arc::new(Gate::new(self.max_concurrent));
        gates.insert(identity.to_owned(), Arc::clone(&gate));
        gate
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One identity's gate.
#[derive(Debug)]
pub(crate) struct Gate {
    permits: Semaphore,
    pause: Mutex<Pause>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Pause {
    /// No request goes out before this.
    until: Option<Instant>,
    /// The status (429/503) and `Retry-After` that set it, for the error of a call that gives up.
    status: u16,
    retry_after: Option<Duration>,
}

impl Gate {
    fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Semaphore::new(max_concurrent),
            pause: Mutex::default(),
        }
    }

    fn pause_state(&self) -> Pause {
        *self.pause.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the identity's pause ends, if it is paused now.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.pause_state()
            .until
            .filter(|&until| until > Instant::now())
    }

    /// Pauses every request of the identity for `wait` from now (a longer pause already set
    /// stays).
    pub(crate) fn pause(
        &self,
        wait: Duration,
        status: u16,
        retry_after: Option<Duration>,
        observer: &dyn Observer,
    ) {
        let until = Instant::now() + wait;
        let mut pause = self.pause.lock().unwrap_or_else(PoisonError::into_inner);
        if pause.until.is_none_or(|current| current < until) {
            *pause = Pause {
                until: Some(until),
                status,
                retry_after,
            };
        }
        drop(pause);
        observer.throttle_pause(wait);
    }

    /// Waits until the identity is not paused; fails when the pause outlasts `deadline`.
    pub(crate) async fn unpaused(&self, deadline: Instant) -> Result<(), BackendError> {
        while let Some(until) = self.paused_until() {
            if until > deadline {
                return Err(self.throttled(0));
            }
            tokio::time::sleep_until(until).await;
        }
        Ok(())
    }

    /// A slot for one request: waits for a pause to end and for a free slot, within `deadline`.
    pub(crate) async fn acquire(
        &self,
        deadline: Instant,
        retries: u32,
        observer: &dyn Observer,
    ) -> Result<SemaphorePermit<'_>, BackendError> {
        let started = Instant::now();
        loop {
            self.unpaused(deadline)
                .await
                .map_err(|_| self.throttled(retries))?;
            let permit = match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; a full queue until the deadline is the
                // concurrency limit throttling this call.
                Ok(Err(_)) | Err(_) => return Err(self.throttled(retries)),
            };
            // A request that got a 429 while this one queued paused the identity: wait again.
            if self.paused_until().is_some() {
                drop(permit);
                continue;
            }
            observer.queue_wait(started.elapsed());
            return Ok(permit);
        }
    }

    fn throttled(&self, retries: u32) -> BackendError {
        let pause = self.pause_state();
        BackendError::rate_limited(
            if pause.status == 0 { 429 } else { pause.status },
            retries,
            pause.retry_after,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Counters;

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_and_a_deadline_past_it_fails() {
        let pacing = Pacing::new(2);
        let gate = pacing.gate("held");
        let counters = Counters::default();
        gate.pause(
            Duration::from_secs(5),
            429,
            Some(Duration::from_secs(5)),
            &counters,
        );
        let started = Instant::now();
        let error = gate
            .acquire(started + Duration::from_secs(1), 0, &counters)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "dataverse_throttled");
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "fails at once, not at the deadline"
        );
        let permit = gate
            .acquire(started + Duration::from_secs(10), 0, &counters)
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        drop(permit);
        // Another identity was never paused.
        let other = pacing.gate("other");
        assert!(other.paused_until().is_none());
        assert_eq!(counters.snapshot().throttle_pauses, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_gates_are_dropped_and_busy_or_paused_ones_kept() {
        let pacing = Pacing::new(2);
        let counters = Counters::default();
        let busy = pacing.gate("busy");
        let paused = pacing.gate("paused");
        paused.pause(Duration::from_secs(60), 429, None, &counters);
        drop(paused);
        // Ten thousand one-off tokens, as junk callers in pass-through would send.
        for n in 0..10_000 {
            drop(pacing.gate(&format!("bearer:{n}")));
        }
        assert!(pacing.len() <= 2 * PRUNE_AT, "{} gates", pacing.len());
        // The busy gate is the same one (its permits are shared); the paused one is still paused.
        assert!(Arc::ptr_eq(&busy, &pacing.gate("busy")));
        assert!(pacing.gate("paused").paused_until().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_max_concurrent_in_flight() {
        let pacing = Pacing::new(2);
        let gate = pacing.gate("held");
        let counters = Counters::default();
        let deadline = Instant::now() + Duration::from_secs(1);
        let a = gate.acquire(deadline, 0, &counters).await.unwrap();
        let _b = gate.acquire(deadline, 0, &counters).await.unwrap();
        let error = gate.acquire(deadline, 0, &counters).await.unwrap_err();
        assert_eq!(error.code(), "dataverse_throttled");
        drop(a);
        let _c = gate
            .acquire(Instant::now() + Duration::from_secs(1), 0, &counters)
            .await
            .unwrap();
    }
}
