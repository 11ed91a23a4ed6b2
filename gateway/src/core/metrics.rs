//! Measured connectors: every fetch and health probe of a source is counted and timed
//! through the `metrics` facade (the recorder and `/metrics` belong to the admin listener).
//!
//! No label ever holds a CPR number: `source` is a connector id from configuration and
//! `outcome` a fixed vocabulary.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use connectors::{Connector, Document, FetchError, FetchRequest, Kinds};
use consent::Category;

/// The built-in connector kinds, each connector measured.
pub fn measured_kinds() -> Kinds {
    Kinds::builtin().wrap(|inner| Arc::new(Measured { inner }) as Arc<dyn Connector>)
}

/// A connector whose fetches and probes are counted and timed.
pub struct Measured {
    inner: Arc<dyn Connector>,
}

/// Records a fetch that was dropped before it finished (the case file's deadline).
struct InFlight {
    source: String,
    started: Instant,
    done: bool,
}

impl InFlight {
    fn finish(&mut self, outcome: &'static str) {
        self.done = true;
        let source = self.source.clone();
        metrics::histogram!("sammen_connector_fetch_seconds", "source" => source.clone())
            .record(self.started.elapsed().as_secs_f64());
        metrics::counter!("sammen_connector_fetches_total", "source" => source, "outcome" => outcome).increment(1);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.finish("cancelled");
        }
    }
}

#[async_trait]
impl Connector for Measured {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn categories(&self) -> &[Category] {
        self.inner.categories()
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
        let mut flight = InFlight { source: self.inner.id().to_string(), started: Instant::now(), done: false };
        let r = self.inner.fetch(req).await;
        flight.finish(match &r {
            Ok(d) if d.is_empty() => "no_data",
            Ok(_) => "included",
            Err(e) => e.status(),
        });
        r
    }

    async fn write(&self, req: &connectors::WriteRequest) -> Result<connectors::Written, connectors::WriteError> {
        self.inner.write(req).await
    }

    async fn health(&self) -> Result<(), FetchError> {
        let r = self.inner.health().await;
        let outcome = if r.is_ok() { "up" } else { "down" };
        metrics::counter!("sammen_connector_probes_total", "source" => self.inner.id().to_string(), "outcome" => outcome)
            .increment(1);
        r
    }
}
