//! The registry: the configured connectors, and which one serves which category.

use std::collections::BTreeMap;
use std::sync::Arc;

use consent::Category;

use crate::http::HttpSource;
use crate::{ConfigError, Connector, ConnectorsConfig, SourceConfig};

/// Builds a connector of one kind: `(id, its configuration, its HTTP client)`.
pub type Factory =
    Arc<dyn Fn(&str, &SourceConfig, HttpSource) -> Result<Arc<dyn Connector>, ConfigError> + Send + Sync>;

/// The connector implementations known by `kind` name.
#[derive(Clone)]
pub struct Kinds(BTreeMap<String, Factory>);

impl Kinds {
    /// The built-in kinds: `mediconnect`, `jobcenter`, `social`, `jobnet_cv`, `plan`.
    pub fn builtin() -> Self {
        let mut kinds = Kinds(BTreeMap::new());
        kinds.register("mediconnect", |id, cfg, http| {
            Ok(Arc::new(crate::mediconnect::Mediconnect::new(id, cfg, http)?) as Arc<dyn Connector>)
        });
        kinds.register("jobcenter", |id, _cfg, http| {
            Ok(Arc::new(crate::jobcenter::Jobcenter::new(id, http)) as Arc<dyn Connector>)
        });
        kinds.register("social", |id, _cfg, http| {
            Ok(Arc::new(crate::social::Social::new(id, http)) as Arc<dyn Connector>)
        });
        kinds.register("jobnet_cv", |id, _cfg, http| {
            Ok(Arc::new(crate::jobnet_cv::JobnetCv::new(id, http)) as Arc<dyn Connector>)
        });
        kinds.register("plan", |id, _cfg, http| {
            Ok(Arc::new(crate::plan::PlanService::new(id, http)) as Arc<dyn Connector>)
        });
        kinds
    }

    /// Adds (or replaces) a kind: how a new source system is plugged in.
    pub fn register(
        &mut self,
        kind: &str,
        factory: impl Fn(&str, &SourceConfig, HttpSource) -> Result<Arc<dyn Connector>, ConfigError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.0.insert(kind.to_string(), Arc::new(factory));
        self
    }

    /// The same kinds, each connector they build passed through `wrap` (e.g. to measure
    /// every fetch).
    pub fn wrap(&self, wrap: impl Fn(Arc<dyn Connector>) -> Arc<dyn Connector> + Send + Sync + 'static) -> Kinds {
        let wrap = Arc::new(wrap);
        let mut out = Kinds(BTreeMap::new());
        for (kind, factory) in &self.0 {
            let (factory, wrap) = (factory.clone(), wrap.clone());
            out.register(kind, move |id, cfg, http| factory(id, cfg, http).map(|c| wrap(c)));
        }
        out
    }

    fn names(&self) -> String {
        self.0.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Kinds").field(&self.names()).finish()
    }
}

/// The connectors in use and the category routing.
#[derive(Clone, Default)]
pub struct Registry {
    connectors: BTreeMap<String, Arc<dyn Connector>>,
    by_category: BTreeMap<Category, Arc<dyn Connector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: BTreeMap<&str, &str> = self.by_category.iter().map(|(c, k)| (c.as_str(), k.id())).collect();
        f.debug_struct("Registry").field("routes", &routes).finish()
    }
}

impl Registry {
    /// Builds the registry from configuration with the built-in kinds.
    pub fn from_config(cfg: &ConnectorsConfig) -> Result<Self, ConfigError> {
        Self::from_config_with(cfg, &Kinds::builtin())
    }

    /// Builds the registry from configuration with the given kinds.
    pub fn from_config_with(cfg: &ConnectorsConfig, kinds: &Kinds) -> Result<Self, ConfigError> {
        let mut registry = Registry::default();
        for (id, source) in &cfg.sources {
            let kind = source.kind.clone().unwrap_or_else(|| id.clone());
            let factory = kinds.0.get(&kind).ok_or_else(|| ConfigError::UnknownKind {
                id: id.clone(),
                kind: kind.clone(),
                known: kinds.names(),
            })?;
            let http = HttpSource::from_config(id, source)?;
            let connector = factory(id, source, http)?;
            let categories = if source.categories.is_empty() {
                connector.categories().to_vec()
            } else {
                for c in &source.categories {
                    if !connector.categories().contains(c) {
                        return Err(ConfigError::CategoryNotServed {
                            id: id.clone(),
                            kind: kind.clone(),
                            category: c.to_string(),
                        });
                    }
                }
                source.categories.clone()
            };
            registry.insert(connector, &categories)?;
        }
        Ok(registry)
    }

    /// Builds a registry from ready connectors, each serving all its categories (for
    /// tests and embedding).
    pub fn from_connectors(connectors: impl IntoIterator<Item = Arc<dyn Connector>>) -> Result<Self, ConfigError> {
        let mut registry = Registry::default();
        for connector in connectors {
            let categories = connector.categories().to_vec();
            registry.insert(connector, &categories)?;
        }
        Ok(registry)
    }

    fn insert(&mut self, connector: Arc<dyn Connector>, categories: &[Category]) -> Result<(), ConfigError> {
        let id = connector.id().to_string();
        if self.connectors.contains_key(&id) {
            return Err(ConfigError::Invalid { id, reason: "configured twice".into() });
        }
        for c in categories {
            if let Some(first) = self.by_category.get(c) {
                return Err(ConfigError::DuplicateCategory {
                    category: c.to_string(),
                    first: first.id().to_string(),
                    second: id,
                });
            }
            self.by_category.insert(c.clone(), connector.clone());
        }
        self.connectors.insert(id, connector);
        Ok(())
    }

    /// The connector that serves a category, if any does.
    pub fn for_category(&self, category: &Category) -> Option<Arc<dyn Connector>> {
        self.by_category.get(category).cloned()
    }

    /// A connector by id.
    pub fn get(&self, id: &str) -> Option<Arc<dyn Connector>> {
        self.connectors.get(id).cloned()
    }

    /// All connectors, by id.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.connectors.values()
    }

    /// The categories some connector serves.
    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.by_category.keys()
    }
}
