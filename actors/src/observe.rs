//! Hook points for call metrics: the gateway reports every attempt and its queue depth here.
//!
//! The metrics module implements [`CallObserver`] with Prometheus families; tests and tools that
//! need no metrics use [`NoObserver`]. Keeping the hook a trait keeps `gateway.rs` free of any
//! metrics library.

use std::time::Duration;

use cp_registry::{AccountId, ApiMethod};

use crate::error::ErrorKind;

/// What the gateway tells whoever counts its calls. Called from the gateway's call tasks and
/// handler, so implementations must be quick and must not block.
pub trait CallObserver: Send + Sync + 'static {
    /// One attempt at one ChargePoint call finished (a retried call reports each attempt).
    fn call_finished(
        &self,
        account: &AccountId,
        op: ApiMethod,
        elapsed: Duration,
        outcome: Result<(), ErrorKind>,
    );

    /// The number of requests waiting in the account's queue (batching window and lanes).
    fn queue_depth(&self, account: &AccountId, depth: usize);

    /// A request was refused because the account's queue was full.
    fn overloaded(&self, account: &AccountId);
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl CallObserver for NoObserver {
    fn call_finished(&self, _: &AccountId, _: ApiMethod, _: Duration, _: Result<(), ErrorKind>) {}
    fn queue_depth(&self, _: &AccountId, _: usize) {}
    fn overloaded(&self, _: &AccountId) {}
}
