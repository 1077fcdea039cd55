//! Reading a policy: TOML syntax, then the serde model, then the checks that need the
//! compose file or more than one key; and the one error renderer all three share.
//!
//! serde reports what went wrong (unknown field, wrong type, a leaf's own complaint) and
//! where (a byte span), but not in which table or under which key. `locate` finds the
//! key or value at that span in the parsed document, so every message can start with
//! its subject (`` `startup = "30 parsecs"` in [defaults] ``, `[[routes]]`,
//! `` `reach` entry `db:5432` in [networks.n] ``) whichever step found the problem.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::model::{
    At, AvailabilityFile, BackupFile, DEFAULT_BALANCE, DEFAULT_RATE, DEFAULT_REPLICAS, DEFAULT_SCALE_TO,
    DEFAULT_STATUS, DEFAULT_SUCCESS, DURATION_HINT, ObservabilityFile, PersistenceFile, PolicyFile, SIZE_HINT, Service,
    Table, TargetSpec, WaiverFile,
};
use super::{
    Availability, Backup, BackupMethod, DEFAULT_DEPLOY_ROLLBACK, DEFAULT_DEPLOY_TIME, DataKind, Gateway, NetworkPolicy,
    Observability, Persistence, Policy, Route, Settings, Target, Waiver,
};

/// A policy file that cannot be read, parsed or resolved. One line, starting with
/// `FILE:LINE:` so editors and terminals can jump to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file cannot be read (it is missing, or not readable).
    #[error("cannot read {}", path.display())]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The I/O error from reading it.
        #[source]
        source: std::io::Error,
    },

    /// The policy file is not valid TOML.
    #[error("{}:{line}: not valid TOML: {reason}", path.display())]
    Syntax {
        /// The policy file.
        path: PathBuf,
        /// The 1-based line of the syntax error.
        line: usize,
        /// The TOML parser's reason, on one line.
        reason: String,
    },

    /// Valid TOML that breaks the schema: unknown key, wrong type, bad unit, unknown service...
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// The 1-based line of the offending key or value.
        line: usize,
        /// What is wrong, with the nearest valid key where one is close.
        message: String,
    },
}

impl PolicyError {
    /// The policy file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PolicyError::Read { path, .. } | PolicyError::Syntax { path, .. } | PolicyError::Invalid { path, .. } => {
                path
            }
        }
    }

    /// The 1-based line the error points at, when it is about the contents.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Read { .. } => None,
            PolicyError::Syntax { line, .. } | PolicyError::Invalid { line, .. } => Some(*line),
        }
    }
}

type PResult<T> = Result<T, PolicyError>;

/// Reads, parses and validates a policy. `services` are the service names of the compose
/// file the policy belongs to (for the "names a service that does not exist" error).
/// A missing file is an error; whether that means "all defaults" is the caller's call.
pub fn load(path: &Path, services: &[&str]) -> Result<Policy, PolicyError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| PolicyError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path, services)
}

/// Parses and validates policy text; `path` is only used in errors and [`Policy::path`].
pub fn parse(text: &str, path: &Path, services: &[&str]) -> Result<Policy, PolicyError> {
    let doc = Doc { text, path, services };
    let root = DeTable::parse(text).map_err(|err| PolicyError::Syntax {
        path: path.to_path_buf(),
        line: doc.line(err.span().map_or(0, |span| span.start)),
        // The parser's reasons are one line today; keep ours one line even if that changes.
        reason: one_line(err.message()),
    })?;
    let file = PolicyFile::deserialize(toml::de::Deserializer::from(root))
        .map_err(|err| doc.invalid(err.span().unwrap_or(0..0), Say::Serde(err.message())))?;
    doc.resolve(file)
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

/// The text being parsed and what its errors need to say.
struct Doc<'a> {
    text: &'a str,
    path: &'a Path,
    services: &'a [&'a str],
}

/// What is wrong at a span, before it is put into words with its subject.
enum Say<'m> {
    /// A serde error message: unknown field, missing field, invalid type, unknown
    /// variant, or a leaf's predicate ("is not a duration: ...").
    Serde(&'m str),
    /// A predicate from the checks after parsing ("names a service that ...").
    Is(String),
}

impl Doc<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn invalid(&self, span: Range<usize>, say: Say<'_>) -> PolicyError {
        // The text parsed once already; parsing it again here keeps the happy path free of
        // a second copy of the document.
        let message = DeTable::parse(self.text)
            .ok()
            .and_then(|root| render(self.text, root.get_ref(), &span, &say))
            .unwrap_or_else(|| match say {
                Say::Serde(message) => one_line(message),
                Say::Is(predicate) => predicate,
            });
        PolicyError::Invalid { path: self.path.to_path_buf(), line: self.line(span.start), message }
    }

    fn at(&self, span: Range<usize>, predicate: impl Into<String>) -> PolicyError {
        self.invalid(span, Say::Is(predicate.into()))
    }

    fn resolve(&self, file: PolicyFile) -> PResult<Policy> {
        let defaults = match &file.defaults {
            Some(table) => table.0.apply(Settings::default()),
            None => Settings::default(),
        };
        let mut overrides = BTreeMap::new();
        for (name, table) in &file.services {
            let name = self.check_service(name.get(), name.span())?;
            overrides.insert(name, table.0.apply(defaults.clone()));
        }
        // Every compose service gets its effective settings, so callers never have to know
        // which ones happened to have a table.
        let services = self
            .services
            .iter()
            .map(|name| ((*name).to_owned(), overrides.get(*name).cloned().unwrap_or_else(|| defaults.clone())))
            .collect();

        let mut networks = BTreeMap::new();
        for (name, network) in file.networks {
            let reach = network.0.reach.iter().map(|t| self.target(t)).collect::<PResult<_>>()?;
            networks.insert(name, NetworkPolicy { reach, egress: network.0.egress });
        }

        let gateway = match &file.gateway {
            Some(gateway) => {
                let gateway = &gateway.get().0;
                Some(Gateway { service: self.service(&gateway.service)?, port: gateway.port.0 })
            }
            None => None,
        };

        let mut routes = Vec::new();
        for route in &file.routes {
            if gateway.is_none() {
                return Err(self.at(
                    route.span(),
                    "needs a [gateway] to send requests through (hint: add [gateway] with `service` and `port`)",
                ));
            }
            let route = &route.get().0;
            routes.push(Route {
                path: route.path.0.clone(),
                upstream: self.service(&route.upstream)?,
                status: route.status.map_or(DEFAULT_STATUS, |s| s.0),
            });
        }

        let availability = match &file.availability {
            Some(at) => Some(self.availability(at, gateway.is_some(), &routes)?),
            None => None,
        };

        Ok(Policy {
            path: self.path.to_path_buf(),
            defaults,
            services,
            networks,
            persistence: file.persistence.iter().map(|p| self.persistence(p)).collect::<PResult<_>>()?,
            backups: file.backup.iter().map(|b| self.backup(&b.0)).collect::<PResult<_>>()?,
            gateway,
            routes,
            observability: match &file.observability {
                Some(table) => self.observability(&table.0)?,
                None => Observability::default(),
            },
            availability,
            deploy_time: file.deploy.as_ref().and_then(|d| d.0.time.as_ref()).map_or(DEFAULT_DEPLOY_TIME, |d| d.0),
            deploy_rollback: file
                .deploy
                .as_ref()
                .and_then(|d| d.0.rollback.as_ref())
                .map_or(DEFAULT_DEPLOY_ROLLBACK, |d| d.0),
            waivers: file.waive.iter().map(|w| self.waiver(&w.0)).collect::<PResult<_>>()?,
        })
    }

    fn availability(&self, at: &At<Table<AvailabilityFile>>, gateway: bool, routes: &[Route]) -> PResult<Availability> {
        let a = &at.get().0;
        if !gateway {
            return Err(self.at(
                at.span(),
                "needs a [gateway] to send the load through (hint: add [gateway] with `service` and `port`)",
            ));
        }
        let path = match (&a.path, routes.first()) {
            (Some(p), _) => p.0.clone(),
            (None, Some(r)) => r.path.clone(),
            (None, None) => {
                return Err(self.at(
                    at.span(),
                    "has no `path` and there is no [[routes]] entry to take one from (hint: add path = \"/health\" or the route to load)",
                ));
            }
        };
        let rate = a.rate.unwrap_or(DEFAULT_RATE);
        if !(1..=2000).contains(&rate) {
            return Err(self.at(at.span(), format!("has rate = {rate} (hint: 1 to 2000 requests per second)")));
        }
        let duration = a.duration.map_or(std::time::Duration::from_secs(10), |d| d.0);
        if duration.is_zero() || duration > std::time::Duration::from_secs(600) {
            return Err(self.at(
                at.span(),
                format!("has duration = {} (hint: more than 0 and at most 10m)", crate::units::secs(duration)),
            ));
        }
        let success = a.success.unwrap_or(DEFAULT_SUCCESS);
        if !(0.0..=100.0).contains(&success) {
            return Err(self.at(at.span(), format!("has success = {success} (hint: a percentage, e.g. 99.9)")));
        }
        let p99 = a.p99.map_or(std::time::Duration::from_millis(500), |d| d.0);
        let upstream = match &a.upstream {
            Some(u) => Some(self.service(u)?),
            None => routes.iter().find(|r| r.path == path).or(routes.first()).map(|r| r.upstream.clone()),
        };
        let replicas = a.replicas.unwrap_or(DEFAULT_REPLICAS);
        if !(1..=100).contains(&replicas) {
            return Err(self.at(at.span(), format!("has replicas = {replicas} (hint: 1 to 100)")));
        }
        let balance = a.balance.unwrap_or(DEFAULT_BALANCE);
        if !(0.0..=100.0).contains(&balance) {
            return Err(
                self.at(at.span(), format!("has balance = {balance} (hint: a percentage of an even share, e.g. 25)"))
            );
        }
        let scale_to = a.scale_to.unwrap_or(DEFAULT_SCALE_TO);
        if !(2..=10).contains(&scale_to) {
            return Err(self.at(at.span(), format!("has scale_to = {scale_to} (hint: 2 to 10 replicas)")));
        }
        let dependencies = match &a.dependencies {
            Some(list) => Some(list.iter().map(|d| self.service(d)).collect::<PResult<Vec<_>>>()?),
            None => None,
        };
        let status = routes.iter().find(|r| r.path == path).map(|r| r.status);
        Ok(Availability {
            path,
            status,
            rate,
            duration,
            success,
            p99,
            upstream,
            replicas,
            balance,
            burst: a.burst.map_or(std::time::Duration::from_secs(1), |d| d.0),
            dependencies,
            reconnect: a.reconnect.map_or(std::time::Duration::from_secs(5), |d| d.0),
            scale_to,
        })
    }

    fn persistence(&self, at: &At<Table<PersistenceFile>>) -> PResult<Persistence> {
        let p = &at.get().0;
        let service = self.service(&p.service)?;
        let path = match (p.kind, &p.path) {
            (DataKind::File, Some(path)) => Some(path.get().0.clone()),
            (DataKind::File, None) => {
                return Err(self.at(
                    at.span(),
                    format!(
                        "for `{service}` has kind = \"file\" but no `path` (hint: add path = the volume's mount path inside the service, e.g. \"/data\")"
                    ),
                ));
            }
            (kind, Some(path)) => {
                return Err(self.at(
                    path.span(),
                    format!(
                        "only applies to kind = \"file\" (hint: remove it; {kind} data is read back through the service itself)"
                    ),
                ));
            }
            (_, None) => None,
        };
        Ok(Persistence { service, kind: p.kind, volume: p.volume.clone(), path })
    }

    fn backup(&self, b: &BackupFile) -> PResult<Backup> {
        let service = self.service(&b.service)?;
        if b.methods.get().is_empty() {
            return Err(self.at(b.methods.span(), "is empty (hint: use [\"tar\"], which works for every kind)"));
        }
        let mut methods = Vec::new();
        for method in b.methods.get() {
            if *method.get() == BackupMethod::PgDump && b.kind != DataKind::Postgres {
                let kind = b.kind;
                return Err(self.at(
                    method.span(),
                    format!(
                        "needs kind = \"postgres\", not \"{kind}\" (hint: use methods = [\"tar\"] for {kind} volumes)"
                    ),
                ));
            }
            methods.push(*method.get());
        }
        Ok(Backup { service, volume: b.volume.clone(), kind: b.kind, methods })
    }

    fn observability(&self, o: &ObservabilityFile) -> PResult<Observability> {
        let prometheus = o.prometheus.as_ref().map(|p| self.service(p)).transpose()?;
        let mut targets = Vec::new();
        if let Some(list) = &o.targets {
            targets = list.get().iter().map(|t| self.service(t)).collect::<PResult<_>>()?;
            if prometheus.is_none() && !targets.is_empty() {
                return Err(self
                    .at(list.span(), "needs `prometheus`, the service to ask (hint: add prometheus = \"<service>\")"));
            }
        }
        let metrics = o.metrics.as_ref().map(|m| self.target(m)).transpose()?;
        let mut families = Vec::new();
        if let Some(list) = &o.families {
            families = list.get().iter().map(|f| f.0.clone()).collect();
            if metrics.is_none() && !families.is_empty() {
                return Err(self.at(
                    list.span(),
                    "needs `metrics`, the endpoint to read them from (hint: add metrics = \"<service>:<port>\")",
                ));
            }
        }
        let metrics_path = o.metrics_path.as_ref().map_or(super::model::DEFAULT_METRICS_PATH, |p| &p.0).to_owned();
        Ok(Observability { prometheus, targets, metrics, metrics_path, families })
    }

    fn waiver(&self, w: &WaiverFile) -> PResult<Waiver> {
        let id = w.criterion.get();
        let families = crate::judge::criteria::families();
        if crate::judge::criteria::find(id).is_none() && !families.contains(&id.as_str()) {
            return Err(self.at(w.criterion.span(), format!("is not a criterion id or family{}", known(id, &families))));
        }
        Ok(Waiver {
            criterion: id.clone(),
            service: w.service.as_ref().map(|s| self.service(s)).transpose()?,
            reason: w.reason.get().0.clone(),
            path: self.path.to_path_buf(),
            line: self.line(w.criterion.span().start),
        })
    }

    fn service(&self, name: &At<Service>) -> PResult<String> {
        self.check_service(&name.get().0, name.span())
    }

    /// A `service:port` whose service exists (the port was checked when it was read).
    fn target(&self, spec: &At<TargetSpec>) -> PResult<Target> {
        let TargetSpec { service, port } = spec.get();
        Ok(Target { service: self.check_service(service, spec.span())?, port: *port })
    }

    fn check_service(&self, name: &str, span: Range<usize>) -> PResult<String> {
        if self.services.contains(&name) {
            return Ok(name.to_owned());
        }
        let mut names = self.services.to_vec();
        names.sort_unstable();
        let listed = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        let hint = nearest(name, &names).map(|near| format!(" (hint: did you mean `{near}`?)")).unwrap_or_default();
        Err(self.at(span, format!("names a service that is not in the compose file (services there: {listed}){hint}")))
    }
}

/// One step of the way from the document root to a key or value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seg<'t> {
    Key(&'t str),
    /// An entry of an array, 0-based.
    Item(usize),
}

/// The key or value an error span points at, and the way to it.
struct Spot<'t, 'i> {
    path: Vec<Seg<'t>>,
    /// `None`: the span is the last key itself (an unknown key, a service-name key).
    value: Option<&'t DeValue<'i>>,
    span: Range<usize>,
}

impl Spot<'_, '_> {
    fn is_item(&self) -> bool {
        matches!(self.path.last(), Some(Seg::Item(_)))
    }

    /// The key the value sits under (for an array entry, the array's key).
    fn key(&self) -> &str {
        self.path.iter().rev().find_map(|seg| if let Seg::Key(key) = seg { Some(*key) } else { None }).unwrap_or("")
    }

    /// "in [defaults]", "in [[routes]]", "at the top level": the table holding the key.
    fn place(&self) -> String {
        let up = if self.is_item() { 2 } else { 1 };
        let parent = &self.path[..self.path.len().saturating_sub(up)];
        if parent.is_empty() { "at the top level".to_owned() } else { format!("in {}", bracket(parent)) }
    }

    /// What a message says a problem is about, in the words a policy author wrote.
    fn subject(&self, text: &str) -> String {
        let (key, place) = (self.key(), self.place());
        let raw = &text[self.span.clone()];
        match (self.value, self.is_item()) {
            (None | Some(DeValue::Table(_)), _) => bracket(&self.path),
            (Some(DeValue::String(s)), true) if s.trim().is_empty() => {
                format!("`{key}` entry {} {place}", self.index())
            }
            (Some(DeValue::String(s)), true) => format!("`{key}` entry `{s}` {place}"),
            (Some(_), true) => format!("`{key}` entry `{raw}` {place}"),
            (Some(DeValue::Array(_)), false) => format!("`{key}` {place}"),
            // A multi-line string would break the one-line rule: name the key only.
            (Some(_), false) if raw.contains('\n') => format!("`{key}` {place}"),
            (Some(_), false) => format!("`{key} = {raw}` {place}"),
        }
    }

    /// The 1-based position of an array entry.
    fn index(&self) -> usize {
        match self.path.last() {
            Some(Seg::Item(i)) => i + 1,
            _ => 0,
        }
    }
}

/// `[services.api]`, or `[[routes]]` for an entry of an array of tables.
fn bracket(path: &[Seg<'_>]) -> String {
    let keys: Vec<&str> = path.iter().filter_map(|seg| if let Seg::Key(k) = seg { Some(*k) } else { None }).collect();
    match path.last() {
        Some(Seg::Item(_)) => format!("[[{}]]", keys.join(".")),
        _ => format!("[{}]", keys.join(".")),
    }
}

/// The innermost key or value at `span` that `fits`: a key whose span is exactly `span`
/// beats any value; among values the narrowest wins, and on a tie the deeper one (an
/// array of tables and its only entry can share a span).
fn locate<'t, 'i>(
    root: &'t DeTable<'i>,
    span: &Range<usize>,
    fits: &dyn Fn(&Spot<'_, '_>) -> bool,
) -> Option<Spot<'t, 'i>> {
    fn offer<'t, 'i>(
        best: &mut Option<(usize, Spot<'t, 'i>)>,
        width: usize,
        spot: Spot<'t, 'i>,
        fits: &dyn Fn(&Spot<'_, '_>) -> bool,
    ) {
        if fits(&spot) && best.as_ref().is_none_or(|(w, _)| width <= *w) {
            *best = Some((width, spot));
        }
    }
    fn table<'t, 'i>(
        map: &'t DeTable<'i>,
        path: &mut Vec<Seg<'t>>,
        span: &Range<usize>,
        fits: &dyn Fn(&Spot<'_, '_>) -> bool,
        best: &mut Option<(usize, Spot<'t, 'i>)>,
    ) {
        for (key, value) in map {
            path.push(Seg::Key(key.get_ref()));
            if key.span() == *span {
                offer(best, 0, Spot { path: path.clone(), value: None, span: key.span() }, fits);
            }
            entry(value, path, span, fits, best);
            path.pop();
        }
    }
    fn entry<'t, 'i>(
        value: &'t toml::Spanned<DeValue<'i>>,
        path: &mut Vec<Seg<'t>>,
        span: &Range<usize>,
        fits: &dyn Fn(&Spot<'_, '_>) -> bool,
        best: &mut Option<(usize, Spot<'t, 'i>)>,
    ) {
        let own = value.span();
        if own.start <= span.start && span.end <= own.end {
            // +1: a key of the same width still wins.
            offer(best, own.len() + 1, Spot { path: path.clone(), value: Some(value.get_ref()), span: own }, fits);
        }
        // Always descend: the implicit table `services` of `[services.api]` does not span its children.
        match value.get_ref() {
            DeValue::Table(map) => table(map, path, span, fits, best),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Item(i));
                    entry(item, path, span, fits, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    table(root, &mut Vec::new(), span, fits, &mut best);
    best.map(|(_, spot)| spot)
}

/// The words for `say` at `span`, or `None` when the span points at nothing (then the
/// caller falls back to the bare message).
fn render(text: &str, root: &DeTable<'_>, span: &Range<usize>, say: &Say<'_>) -> Option<String> {
    let message = match say {
        Say::Is(predicate) => {
            let spot = locate(root, span, &|_| true)?;
            return Some(format!("{} {predicate}", spot.subject(text)));
        }
        Say::Serde(message) => one_line(message),
    };
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if message.starts_with("unknown field `") {
        let spot = locate(root, span, &|s| s.value.is_none())?;
        let key = ticked.first()?;
        return Some(format!("unknown key `{key}` {}{}", spot.place(), known(key, &ticked[1..])));
    }
    if message.starts_with("missing field `") {
        let spot = locate(root, span, &|s| matches!(s.value, Some(DeValue::Table(_))))?;
        let key = ticked.first()?;
        return Some(format!("{} needs `{key}` (hint: add {})", bracket(&spot.path), example(key)));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = expected_words(rest.rsplit_once(", expected ")?.1);
        let wants_table = expected == "a table";
        let spot = locate(root, span, &|s| s.value.is_some_and(|v| !wants_table || !matches!(v, DeValue::Table(_))))?;
        return Some(wrong_type(text, &spot, expected));
    }
    let spot = locate(root, span, &|_| true)?;
    if message.starts_with("unknown variant `") {
        let word = ticked.first()?;
        return Some(format!("{} is not one the harness knows{}", spot.subject(text), known(word, &ticked[1..])));
    }
    Some(format!("{} {message}", spot.subject(text)))
}

/// serde's name for what it expected, in the words of a TOML author.
fn expected_words(serde_name: &str) -> &str {
    match serde_name {
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "a table",
        name if name.starts_with("struct ") => "a table",
        name if name.starts_with(['i', 'u']) && name[1..].chars().all(|c| c.is_ascii_digit()) => "an integer",
        name => name,
    }
}

fn wrong_type(text: &str, spot: &Spot<'_, '_>, expected: &str) -> String {
    let value = spot.value.expect("located a value");
    let actual = article(value.type_str());
    if expected == "a table" {
        let hint = if matches!(value, DeValue::Array(_)) && !spot.is_item() {
            format!(" (hint: write {}, with one pair of brackets)", bracket(&spot.path))
        } else {
            String::new()
        };
        return format!("{} must be a table, not {actual}{hint}", bracket(&spot.path));
    }
    let (key, place) = (spot.key(), spot.place());
    if spot.is_item() {
        return format!("`{key}` entry {} {place} must be {expected}, not {actual}", spot.index());
    }
    let raw = &text[spot.span.clone()];
    let (expected, hint) = match (expected, value) {
        ("true or false", DeValue::String(s)) if matches!(s.as_ref(), "true" | "false") => {
            (expected, format!(" (hint: write {key} = {s}, without quotes)"))
        }
        ("a duration string", DeValue::Integer(_)) => {
            (expected, format!(" (hint: write {key} = \"{raw}s\"; {DURATION_HINT})"))
        }
        ("a duration string", _) => (expected, format!(" (hint: {DURATION_HINT})")),
        // A bare number is ambiguous (bytes? megabytes?): make the unit explicit.
        ("a size string", DeValue::Integer(_)) => {
            (expected, format!(" (hint: write {key} = \"{raw}MB\" or whatever unit you meant; {SIZE_HINT})"))
        }
        ("a size string", _) => (expected, format!(" (hint: {SIZE_HINT})")),
        ("a list", DeValue::Table(_)) => {
            ("an array of tables", format!(" (hint: write [[{key}]], with two pairs of brackets)"))
        }
        ("a list", DeValue::String(_)) => (expected, format!(" (hint: write {key} = [\"...\"])")),
        _ => (expected, String::new()),
    };
    format!("`{key}` {place} must be {expected}, not {actual}{hint}")
}

/// What to add for a missing key, in the hint of a "needs `key`" message.
fn example(key: &str) -> String {
    match key {
        "port" => "the container port, e.g. port = 8080".to_owned(),
        "service" | "upstream" => format!("{key} = \"<service>\""),
        "reach" | "methods" => format!("{key} = [\"...\"]"),
        _ => format!("{key} = \"...\""),
    }
}

/// "an integer", "a string": how messages name a TOML value's type.
pub(super) fn article(type_name: &str) -> String {
    let an = type_name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {type_name}", if an { "an" } else { "a" })
}

/// The end of an "unknown X" message: the nearest valid word when there is a plausible
/// one, else the whole list, so the reader never has to open the docs to fix a typo.
pub(super) fn known(word: &str, valid: &[&str]) -> String {
    match nearest(word, valid) {
        Some(near) => format!(" (hint: did you mean `{near}`?)"),
        None if valid.is_empty() => String::new(),
        None => format!(" (known: {})", valid.join(", ")),
    }
}

/// The valid word closest to `word`, if it is close enough to be a typo of it: at most a
/// third of the word's length in edits (at least 1, at most 3), so `prt` suggests `port`
/// but `x` suggests nothing.
pub(crate) fn nearest<'v>(word: &str, valid: &[&'v str]) -> Option<&'v str> {
    let word = word.to_ascii_lowercase();
    let budget = (word.chars().count() / 3).clamp(1, 3);
    valid
        .iter()
        .map(|candidate| (strsim::levenshtein(&word, &candidate.to_ascii_lowercase()), *candidate))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}
