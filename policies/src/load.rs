//! Loading a policy directory: read, parse, validate strictly against the schema, and
//! check the annotations every policy must carry.
//!
//! A policy directory holds `schema.cedarschema` and `policy-set/*.cedar`. Every policy
//! carries:
//!
//! - `@id("...")`: unique in the set; the id the audit log records;
//! - `@reason_da("...")` and `@reason_en("...")`: the reason a person reads;
//! - on a `permit`, `@basis("consent")` or `@basis("statute")`, and a statutory permit
//!   also `@legal_reference("...")`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use sha2::{Digest, Sha256};

use crate::error::{PolicyError, Problem};

/// The schema's file name in a policy directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";
/// The folder of policy files in a policy directory.
pub const POLICY_DIR: &str = "policy-set";

/// What a policy permits on, when it permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasisKind {
    Consent,
    Statute,
    /// The citizen's own right of access (action `read_own`).
    OwnAccess,
}

/// What the engine knows about one policy besides its Cedar text.
#[derive(Debug, Clone)]
pub struct PolicyMeta {
    pub id: String,
    pub effect: Effect,
    pub basis: Option<BasisKind>,
    pub legal_reference: Option<String>,
    pub reason_da: String,
    pub reason_en: String,
    pub file: PathBuf,
    pub line: usize,
}

/// A loaded, validated policy set.
pub struct Loaded {
    pub schema: Schema,
    pub policies: PolicySet,
    pub meta: HashMap<PolicyId, PolicyMeta>,
    pub digest: String,
    /// The entity sets built for decisions under this set (see `entity_cache.rs`).
    pub entities: crate::entity_cache::EntityCache,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded").field("policies", &self.meta.len()).field("digest", &self.digest).finish()
    }
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.to_path_buf(), source })
}

/// The files of a policy directory: the schema, then the policy files sorted by name.
pub fn files(dir: &Path) -> Result<(PathBuf, Vec<PathBuf>), PolicyError> {
    let schema = dir.join(SCHEMA_FILE);
    let pdir = dir.join(POLICY_DIR);
    let entries = std::fs::read_dir(&pdir).map_err(|source| PolicyError::Io { path: pdir.clone(), source })?;
    let mut policies = Vec::new();
    for e in entries {
        let e = e.map_err(|source| PolicyError::Io { path: pdir.clone(), source })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "cedar") && p.is_file() {
            policies.push(p);
        }
    }
    policies.sort();
    Ok((schema, policies))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, col)
}

/// The first labelled offset in a diagnostic or its related diagnostics.
fn first_offset(d: &dyn Diagnostic) -> Option<usize> {
    if let Some(mut labels) = d.labels()
        && let Some(l) = labels.next()
    {
        return Some(l.offset());
    }
    d.related().and_then(|mut rel| rel.find_map(first_offset))
}

fn message(d: &dyn Diagnostic) -> String {
    let mut m = d.to_string();
    if let Some(rel) = d.related() {
        for r in rel {
            m.push_str("; ");
            m.push_str(&r.to_string());
        }
    }
    if let Some(h) = d.help() {
        m.push_str(" (help: ");
        m.push_str(&h.to_string());
        m.push(')');
    }
    m
}

fn problem(file: &Path, text: &str, d: &dyn Diagnostic, policy: Option<String>) -> Problem {
    let (line, column) = first_offset(d).map_or((0, 0), |o| line_col(text, o));
    Problem { file: file.to_path_buf(), line, column, policy, message: message(d) }
}

/// One file of a policy set: where it came from (for messages), and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// The text of a policy set before it is parsed: the schema and the policy files, sorted
/// by name. Read from a directory ([`Sources::read`]) or compiled in ([`Sources::builtin`]).
#[derive(Debug, Clone)]
pub struct Sources {
    /// Shown in messages about the set as a whole (the directory, or the compiled-in set).
    pub origin: PathBuf,
    pub schema: SourceFile,
    pub policies: Vec<SourceFile>,
}

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// How the compiled-in set's files are named in messages and policy locations.
pub const BUILTIN_ORIGIN: &str = "(built in)";

impl Sources {
    /// Reads a policy directory's files.
    pub fn read(dir: &Path) -> Result<Self, PolicyError> {
        let (schema_path, policy_paths) = files(dir)?;
        let file = |path: PathBuf| Ok(SourceFile { text: read(&path)?, path });
        Ok(Sources {
            origin: dir.to_path_buf(),
            schema: file(schema_path)?,
            policies: policy_paths.into_iter().map(file).collect::<Result<_, PolicyError>>()?,
        })
    }

    /// The repository's policy set as it was when this binary was built.
    pub fn builtin() -> Self {
        let origin = PathBuf::from(BUILTIN_ORIGIN);
        Sources {
            schema: SourceFile { path: origin.join(SCHEMA_FILE), text: builtin::SCHEMA.into() },
            policies: builtin::POLICIES
                .iter()
                .map(|(name, text)| SourceFile { path: origin.join(POLICY_DIR).join(name), text: (*text).into() })
                .collect(),
            origin,
        }
    }
}

/// Reads and validates a policy directory. Every problem found is reported, each with its
/// file and line.
pub fn load(dir: &Path) -> Result<Loaded, PolicyError> {
    load_sources(&Sources::read(dir)?)
}

/// Validates a policy set's text. The digest covers the files' names (`schema.cedarschema`,
/// `policy-set/<name>`) and texts, so the compiled-in set and the same files in a directory
/// have the same digest.
pub fn load_sources(sources: &Sources) -> Result<Loaded, PolicyError> {
    let mut hasher = Sha256::new();
    let mut problems = Vec::new();

    let (schema_path, schema_text) = (&sources.schema.path, &sources.schema.text);
    digest_file(&mut hasher, SCHEMA_FILE, schema_text);
    let schema = match Schema::from_cedarschema_str(schema_text) {
        Ok((s, _warnings)) => Some(s),
        Err(e) => {
            problems.push(problem(schema_path, schema_text, &e, None));
            None
        }
    };
    if sources.policies.is_empty() {
        problems.push(Problem {
            file: sources.origin.join(POLICY_DIR),
            line: 0,
            column: 0,
            policy: None,
            message: "no policy files (*.cedar); with no policies every request would be denied".into(),
        });
    }
    let validator = schema.clone().map(Validator::new);

    let mut all = PolicySet::new();
    let mut meta: HashMap<PolicyId, PolicyMeta> = HashMap::new();
    for SourceFile { path, text } in &sources.policies {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        digest_file(&mut hasher, &format!("{POLICY_DIR}/{name}"), text);
        let pset = match text.parse::<PolicySet>() {
            Ok(p) => p,
            Err(errs) => {
                for e in errs.iter() {
                    problems.push(problem(path, text, e, None));
                }
                continue;
            }
        };
        // Where each policy starts, for problems Cedar does not locate.
        let mut starts: HashMap<PolicyId, usize> = HashMap::new();
        let mut from = 0;
        let mut ordered: Vec<_> = pset.policies().collect();
        ordered.sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(0));
        for p in &ordered {
            if let Some(src) = p.to_cedar()
                && let Some(i) = text[from..].find(&src)
            {
                starts.insert(p.id().clone(), from + i);
                from += i + src.len();
            }
        }
        let line_of = |p: &cedar_policy::Policy| starts.get(p.id()).map_or(0, |&o| line_col(text, o).0);
        let user_id = |p: &cedar_policy::Policy| p.annotation("id").map(str::to_string);

        if let Some(v) = &validator {
            let result = v.validate(&pset, ValidationMode::Strict);
            for e in result.validation_errors() {
                let policy = pset.policy(e.policy_id()).and_then(user_id);
                let mut p = problem(path, text, e, policy);
                // Cedar names the policy by its position ("policy0"); ours names it by @id.
                p.message = p.message.replace(&format!("for policy `{}`, ", e.policy_id()), "");
                problems.push(p);
            }
        }

        for p in ordered {
            let line = line_of(p);
            let mut bad = |policy: Option<String>, message: String| {
                problems.push(Problem { file: path.clone(), line, column: 0, policy, message });
            };
            let Some(id) = user_id(p) else {
                bad(None, "a policy needs an @id(\"...\") annotation".into());
                continue;
            };
            if id.trim().is_empty() {
                bad(None, "the @id annotation must not be empty".into());
                continue;
            }
            let pid = PolicyId::new(&id);
            if let Some(prev) = meta.get(&pid) {
                bad(Some(id.clone()), format!("the id is used twice; first at {}:{}", prev.file.display(), prev.line));
                continue;
            }
            let ann = |k: &str| p.annotation(k).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
            let (reason_da, reason_en) = match (ann("reason_da"), ann("reason_en")) {
                (Some(da), Some(en)) => (da, en),
                _ => {
                    bad(Some(id), "a policy needs @reason_da(\"...\") and @reason_en(\"...\")".into());
                    continue;
                }
            };
            let legal_reference = ann("legal_reference");
            let basis = match (p.effect(), p.annotation("basis")) {
                (Effect::Permit, Some("consent")) => Some(BasisKind::Consent),
                (Effect::Permit, Some("statute")) if legal_reference.is_some() => Some(BasisKind::Statute),
                (Effect::Permit, Some("statute")) => {
                    bad(Some(id), "a statutory permit needs @legal_reference(\"...\")".into());
                    continue;
                }
                (Effect::Permit, Some("own-access")) if legal_reference.is_some() => Some(BasisKind::OwnAccess),
                (Effect::Permit, Some("own-access")) => {
                    bad(Some(id), "an own-access permit needs @legal_reference(\"...\")".into());
                    continue;
                }
                (Effect::Permit, _) => {
                    bad(
                        Some(id),
                        "a permit needs @basis(\"consent\"), @basis(\"statute\") or @basis(\"own-access\")".into(),
                    );
                    continue;
                }
                (Effect::Forbid, None) => None,
                (Effect::Forbid, Some(_)) => {
                    bad(Some(id), "@basis belongs on permits only".into());
                    continue;
                }
            };
            let policy = p.new_id(pid.clone());
            if let Err(e) = all.add(policy) {
                bad(Some(id), e.to_string());
                continue;
            }
            meta.insert(
                pid,
                PolicyMeta {
                    id,
                    effect: p.effect(),
                    basis,
                    legal_reference,
                    reason_da,
                    reason_en,
                    file: path.clone(),
                    line,
                },
            );
        }
    }

    match (problems.is_empty(), schema) {
        (true, Some(schema)) => Ok(Loaded {
            schema,
            policies: all,
            meta,
            digest: hex::encode(hasher.finalize()),
            entities: Default::default(),
        }),
        _ => Err(PolicyError::Invalid { problems }),
    }
}

fn digest_file(h: &mut Sha256, name: &str, text: &str) {
    h.update((name.len() as u64).to_be_bytes());
    h.update(name.as_bytes());
    h.update((text.len() as u64).to_be_bytes());
    h.update(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let t = "ab\ncd\nef";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 2));
        assert_eq!(line_col(t, 6), (3, 1));
    }
}
