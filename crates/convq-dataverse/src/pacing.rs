//! One gate per identity in front of Dataverse, whose service protection limits count per
//! user (or application identity), per web server: at most `max_concurrent` requests in flight
//! (Dataverse allows 52), or fewer when Dataverse suggests a degree of parallelism
//! (`x-ms-dop-hint`); when Dataverse answers 429 or 503 with a `Retry-After`, every request of
//! that identity waits the whole of it, not only the one that got it (sending during the wait
//! extends it); and after a pause, requests resume gradually (one, then twice as many each
//! [`RAMP_STEP`], up to the ceiling), as Microsoft recommends, not all at once. A waiting
//! request keeps its own deadline: it fails with `dataverse_throttled` as soon as the wait
//! would outlast it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::observe::Observer;
use convq_backend::BackendError;

/// After a pause, the concurrency allowed doubles every step, from one.
pub(crate) const RAMP_STEP: Duration = Duration::from_secs(1);

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
            // Idle gates have no state worth keeping; one a request holds (even between its
            // requests) stays, so that it keeps its pause and its slots.
            gates.retain(|_, gate| Arc::strong_count(gate) > 1 || !gate.is_idle());
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
    state: Mutex<State>,
    /// Told when a slot frees, a pause is set or the hint changes: waiters look again.
    changed: Notify,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// The configured most in flight (52 by default: Dataverse's limit).
    ceiling: usize,
    /// The last `x-ms-dop-hint`: the concurrency Dataverse suggests, within the ceiling.
    dop_hint: Option<usize>,
    pause: Pause,
}

#[derive(Debug, Default, Clone, Copy)]
struct Pause {
    /// No request goes out before this; from then, concurrency ramps up from one.
    until: Option<Instant>,
    /// The status (429/503) and `Retry-After` that set it, for the error of a call that gives up.
    status: u16,
    retry_after: Option<Duration>,
}

impl State {
    /// How many may be in flight at `now` (not paused).
    fn limit(&self, now: Instant) -> usize {
        let ceiling = self
            .dop_hint
            .map_or(self.ceiling, |hint| hint.clamp(1, self.ceiling));
        match self.pause.until {
            Some(until) => {
                let steps = now.saturating_duration_since(until).as_nanos() / RAMP_STEP.as_nanos();
                let ramp = 1_usize.checked_shl(u32::try_from(steps).unwrap_or(u32::MAX));
                ramp.map_or(ceiling, |ramp| ramp.min(ceiling))
            }
            None => ceiling,
        }
    }

    /// When [`State::limit`] next grows, while ramping up.
    fn next_step(&self, now: Instant) -> Option<Instant> {
        let until = self.pause.until?;
        let steps = now.saturating_duration_since(until).as_nanos() / RAMP_STEP.as_nanos();
        let next = until + RAMP_STEP * u32::try_from(steps + 1).ok()?;
        (self.limit(now) < self.limit(next)).then_some(next)
    }
}

/// One request's place in the gate; frees it when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'g> {
    gate: &'g Gate,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.state().in_flight -= 1;
        self.gate.changed.notify_waiters();
    }
}

impl Gate {
    fn new(max_concurrent: usize) -> Self {
        Self {
            state: Mutex::new(State {
                in_flight: 0,
                ceiling: max_concurrent,
                dop_hint: None,
                pause: Pause::default(),
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Nothing in flight, no pause and no ramp-up after one running: dropping the gate loses
    /// nothing but a `x-ms-dop-hint`, which Dataverse sends again.
    fn is_idle(&self) -> bool {
        let now = Instant::now();
        let state = self.state();
        state.in_flight == 0
            && state.pause.until.is_none_or(|until| until <= now)
            && state.next_step(now).is_none()
    }

    /// When the identity's pause ends, if it is paused now.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.state()
            .pause
            .until
            .filter(|&until| until > Instant::now())
    }

    /// Pauses every request of the identity for `wait` from now (a longer pause already set
    /// stays); after it, concurrency ramps up again from one.
    pub(crate) fn pause(
        &self,
        wait: Duration,
        status: u16,
        retry_after: Option<Duration>,
        observer: &dyn Observer,
    ) {
        let until = Instant::now() + wait;
        let mut state = self.state();
        if state.pause.until.is_none_or(|current| current < until) {
            state.pause = Pause {
                until: Some(until),
                status,
                retry_after,
            };
        }
        drop(state);
        self.changed.notify_waiters();
        observer.throttle_pause(wait);
    }

    /// Takes Dataverse's `x-ms-dop-hint`: the concurrency it suggests for this identity now.
    pub(crate) fn set_dop_hint(&self, hint: usize) {
        let mut state = self.state();
        if state.dop_hint != Some(hint) {
            state.dop_hint = Some(hint);
            drop(state);
            self.changed.notify_waiters();
        }
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

    /// A slot for one request: waits for a pause to end and for a free slot within the current
    /// limit (the hint, the ramp after a pause), within `deadline`.
    pub(crate) async fn acquire(
        &self,
        deadline: Instant,
        retries: u32,
        observer: &dyn Observer,
    ) -> Result<Permit<'_>, BackendError> {
        let started = Instant::now();
        loop {
            // Registered before looking, so a change between the look and the wait is seen.
            let mut changed = std::pin::pin!(self.changed.notified());
            changed.as_mut().enable();
            let now = Instant::now();
            let wake = {
                let mut state = self.state();
                match state.pause.until.filter(|&until| until > now) {
                    // Waiting past the deadline would only turn this answer into a timeout.
                    Some(until) if until > deadline => return Err(throttled(&state, retries)),
                    Some(until) => until,
                    None if state.in_flight < state.limit(now) => {
                        state.in_flight += 1;
                        drop(state);
                        observer.queue_wait(started.elapsed());
                        return Ok(Permit { gate: self });
                    }
                    None => state
                        .next_step(now)
                        .map_or(deadline, |next| next.min(deadline)),
                }
            };
            let _ = tokio::time::timeout_at(wake, changed).await;
            if Instant::now() >= deadline {
                // A full gate until the deadline is the concurrency limit throttling this call.
                return Err(self.throttled(retries));
            }
        }
    }

    fn throttled(&self, retries: u32) -> BackendError {
        throttled(&self.state(), retries)
    }
}

fn throttled(state: &State, retries: u32) -> BackendError {
    let pause = state.pause;
    BackendError::rate_limited(
        if pause.status == 0 { 429 } else { pause.status },
        retries,
        // What is left of the pause, when one holds the identity (the whole Retry-After when it
        // just began): how long the caller should wait.
        pause
            .until
            .map(|until| until.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
            .or(pause.retry_after),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Counters;

    /// `gate` told by a 429 to wait `seconds` (`Retry-After`).
    fn throttled(gate: &Gate, seconds: u64, counters: &Counters) {
        let wait = Duration::from_secs(seconds);
        gate.pause(wait, 429, Some(wait), counters);
    }

    /// A slot of `gate` for a call whose deadline is `seconds` after `started`.
    async fn acquire_by<'g>(
        gate: &'g Gate,
        started: Instant,
        seconds: u64,
        counters: &Counters,
    ) -> Result<Permit<'g>, BackendError> {
        gate.acquire(started + Duration::from_secs(seconds), 0, counters)
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_and_a_deadline_past_it_fails() {
        let pacing = Pacing::new(2);
        let gate = pacing.gate("held");
        let counters = Counters::default();
        throttled(&gate, 5, &counters);
        let started = Instant::now();
        let error = acquire_by(&gate, started, 1, &counters).await.unwrap_err();
        assert_eq!(error.code(), "dataverse_throttled");
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "fails at once, not at the deadline"
        );
        let permit = acquire_by(&gate, started, 10, &counters).await.unwrap();
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
        let permit = busy
            .acquire(Instant::now() + Duration::from_secs(1), 0, &counters)
            .await
            .unwrap();
        pacing
            .gate("paused")
            .pause(Duration::from_secs(60), 429, None, &counters);
        // Ten thousand one-off tokens, as junk callers in pass-through would send.
        for n in 0..10_000 {
            drop(pacing.gate(&format!("bearer:{n}")));
        }
        assert!(pacing.len() <= 2 * PRUNE_AT, "{} gates", pacing.len());
        // The busy gate is the same one (its slot is still taken); the paused one still waits.
        assert!(Arc::ptr_eq(&busy, &pacing.gate("busy")));
        assert!(pacing.gate("paused").paused_until().is_some());
        drop(permit);
    }

    /// Dataverse's longest usual wait: the gate holds every request of the identity for all
    /// of it, whatever a single call's cap on its own retry.
    #[tokio::test(start_paused = true)]
    async fn a_retry_after_of_300_s_holds_the_identity_for_300_s() {
        let pacing = Pacing::new(52);
        let gate = pacing.gate("held");
        let counters = Counters::default();
        let started = Instant::now();
        throttled(&gate, 300, &counters);
        // A call whose deadline ends sooner fails at once, told how long is left.
        let error = acquire_by(&gate, started, 299, &counters)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "dataverse_throttled");
        assert!(
            matches!(error, BackendError::DataverseThrottled { retry_after: Some(left), .. } if left == Duration::from_secs(300)),
            "{error:?}"
        );
        tokio::time::sleep(Duration::from_secs(100)).await;
        let permit = acquire_by(&gate, started, 600, &counters).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(300));
        drop(permit);
    }

    /// After a pause: one request at first, then 2, 4, 8... a step apart, up to the ceiling.
    #[tokio::test(start_paused = true)]
    async fn after_a_pause_requests_resume_gradually() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pacing = Arc::new(Pacing::new(6));
        let gate = pacing.gate("held");
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        gate.pause(Duration::from_secs(10), 429, None, counters.as_ref());
        let admitted = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (pacing, counters, admitted) = (
                Arc::clone(&pacing),
                Arc::clone(&counters),
                Arc::clone(&admitted),
            );
            tasks.push(tokio::spawn(async move {
                let gate = pacing.gate("held");
                let _permit = gate
                    .acquire(started + Duration::from_secs(60), 0, counters.as_ref())
                    .await
                    .unwrap();
                admitted.fetch_add(1, Ordering::SeqCst);
                // Held a long time: what is in flight is what the gate let out.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }));
        }
        let mut seen = Vec::new();
        for at in [9_500, 10_500, 11_500, 12_500, 13_500, 20_000] {
            tokio::time::sleep_until(started + Duration::from_millis(at)).await;
            seen.push(admitted.load(Ordering::SeqCst));
        }
        assert_eq!(seen, [0, 1, 2, 4, 6, 6], "ceiling 6");
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 10);
    }

    /// `x-ms-dop-hint` sets the concurrency; the configured limit stays the ceiling.
    #[tokio::test(start_paused = true)]
    async fn the_dop_hint_sets_the_concurrency_within_the_ceiling() {
        let pacing = Pacing::new(4);
        let gate = pacing.gate("held");
        let counters = Counters::default();
        let in_flight = |n: usize| {
            let gate = &gate;
            let counters = &counters;
            async move {
                let deadline = Instant::now() + Duration::from_millis(10);
                let mut permits = Vec::new();
                while let Ok(permit) = gate.acquire(deadline, 0, counters).await {
                    permits.push(permit);
                    if permits.len() > n {
                        break;
                    }
                }
                permits.len()
            }
        };
        assert_eq!(in_flight(4).await, 4);
        gate.set_dop_hint(2);
        assert_eq!(in_flight(4).await, 2);
        gate.set_dop_hint(100);
        assert_eq!(in_flight(100).await, 4, "52-like ceiling, not the hint");
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
