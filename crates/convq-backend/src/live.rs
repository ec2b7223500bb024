//! [`LiveStore`]: an embedded store whose records can be replaced while it serves, so live
//! lists (`/getConversations/stream`, `convq get --watch`) can be tested offline: a `--data`
//! file reloaded when it changes, or a test that swaps the records mid-stream.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use convq_core::Compiled;
use serde_json::Value;

use crate::{Backend, BackendError, BoxFuture, EmbeddedStore, RunContext, StoreError};

/// An [`EmbeddedStore`] that can be replaced as a whole. Queries running during a
/// replacement answer from the store they started with. Clones share the store.
#[derive(Debug, Clone)]
pub struct LiveStore {
    current: Arc<RwLock<Arc<EmbeddedStore>>>,
}

impl LiveStore {
    /// Serves `store` until it is replaced.
    #[must_use]
    pub fn new(store: EmbeddedStore) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(store))),
        }
    }

    /// The store queries answer from now.
    #[must_use]
    pub fn current(&self) -> Arc<EmbeddedStore> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Answers from `store` from now on.
    pub fn replace(&self, store: EmbeddedStore) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(store);
    }

    /// Loads `bytes` (any store format) and answers from them; on error the store is kept.
    ///
    /// # Errors
    /// As [`EmbeddedStore::from_bytes`].
    pub fn replace_bytes(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.replace(EmbeddedStore::from_bytes(bytes)?);
        Ok(())
    }

    /// Reloads the file at `path`; on error the store is kept.
    ///
    /// # Errors
    /// As [`EmbeddedStore::from_path`].
    pub fn reload(&self, path: &Path) -> Result<(), StoreError> {
        self.replace(EmbeddedStore::from_path(path)?);
        Ok(())
    }
}

impl Backend for LiveStore {
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<Value>, BackendError>> {
        let store = self.current();
        Box::pin(async move { store.fetch(compiled, ctx).await })
    }

    fn fetch_json<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<usize, BackendError>> {
        let store = self.current();
        Box::pin(async move { store.fetch_json(compiled, ctx, out).await })
    }

    fn warnings(&self, compiled: &Compiled) -> Vec<convq_core::Warning> {
        self.current().warnings(compiled)
    }

    fn reference_now(&self) -> Option<SystemTime> {
        self.current().reference_now()
    }

    fn describe(&self) -> String {
        format!("{} (replaceable)", self.current().describe())
    }
}

/// The conversation table kept in memory from an upstream change feed (Dataverse change
/// tracking), so live lists run each agent's query on the copy instead of asking upstream per
/// query shape: one upstream request per refresh, whatever the number of lists.
pub trait TableMirror: Send + Sync {
    /// The table as of at most `max_age` ago, refreshed first when it is older (one refresh at a
    /// time: calls during a refresh wait for it and share it). The copy has every column that
    /// `queries` read (a query reading a column the copy lacks makes it read the table again).
    /// `Ok(None)`: the feed is not available (the table does not track changes): ask the
    /// backend as usual.
    ///
    /// # Errors
    /// The refresh failed (the copy is kept; the next call tries again).
    fn mirror<'a>(
        &'a self,
        queries: &'a [Compiled],
        max_age: Duration,
    ) -> BoxFuture<'a, Result<Option<Arc<EmbeddedStore>>, BackendError>>;
}
