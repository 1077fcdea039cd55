//! `harness init`: a commented `acceptance.toml` drafted from a resolved compose file.
//!
//! The draft states what the compose file does today (who publishes, who shares a network,
//! which named volumes hold data), with every setting at the harness's default and its
//! meaning beside it, so a team starts from a policy that loads and edits what it means.
//! `harness lint` accepts a draft as written.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::engine::compose::ComposeModel;

/// What the draft knows about one service beyond the compose model: the container ports it
/// listens on (compose `ports:` targets and `expose:`, the image's `EXPOSE` when the engine
/// has the image).
pub type Ports = BTreeMap<String, Vec<u16>>;

/// The container ports compose itself names for a service: `ports:` targets and `expose:`.
pub fn compose_ports(svc: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = svc["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["target"].as_u64().and_then(|t| u16::try_from(t).ok()))
        .collect();
    for e in svc["expose"].as_array().into_iter().flatten() {
        let text = e.as_str().map(str::to_owned).unwrap_or_else(|| e.to_string());
        if let Ok(p) = text.split('/').next().unwrap_or_default().parse() {
            out.push(p);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The kind of data a service keeps, from its image name: PostgreSQL and Redis are read
/// back through their own clients; anything else with a named volume as files.
fn data_kind(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image).split([':', '@']).next().unwrap_or_default();
    if name.contains("postgres") {
        "postgres"
    } else if name.contains("redis") {
        "redis"
    } else {
        "file"
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The draft for `model` (resolved with every profile active); `stack` names it in the header.
pub fn draft(model: &ComposeModel, ports: &Ports, stack: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Acceptance policy for {stack}, drafted by `harness init` from its compose file.");
    out.push_str(
        "# It states what the compose file does today, not what it should do: review every line.\n\
         # Reference: docs/policy.md; every key below [defaults] is at the harness's default.\n\
         schema = 1\n\n[defaults]\n",
    );
    let schema = super::reference::schema();
    let settings = schema.pointer("/$defs/SettingsFile/properties").and_then(Value::as_object);
    for (key, property) in settings.into_iter().flatten() {
        let description = property["description"].as_str().unwrap_or_default().split_whitespace().collect::<Vec<_>>();
        let _ = writeln!(out, "# {}", description.join(" "));
        match property.get("default") {
            Some(value) => {
                let _ = writeln!(out, "{key} = {}", value.to_string().replace(",", ", "));
            }
            None => {
                let _ = writeln!(out, "# {key} = (unset)");
            }
        }
    }

    // Who publishes, and on which interfaces.
    let raw = |s: &str| model.raw_service(s);
    let publishers: Vec<&String> =
        model.services.keys().filter(|s| !raw(s)["ports"].as_array().is_none_or(Vec::is_empty)).collect();
    for s in &publishers {
        let any = raw(s)["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| matches!(p["host_ip"].as_str().unwrap_or(""), "" | "0.0.0.0" | "::"));
        let _ = writeln!(
            out,
            "\n[services.{}]\n# It publishes host ports in the compose file.\npublish = true",
            quote_key(s)
        );
        if any {
            out.push_str(
                "# Its ports bind every host interface: right for a public entry point only; otherwise\n\
                 # bind them to 127.0.0.1 in compose and delete this line.\nbind = \"any\"\n",
            );
        }
        let fixed = model.fixed_host_ports(s);
        if !fixed.is_empty() {
            let _ = writeln!(
                out,
                "# It fixes host ports ({}): a second run on one engine or `--scale` collides on them. Right\n\
                 # for a public entry point whose port is its contract; otherwise publish on a port the host\n\
                 # picks (\"127.0.0.1::PORT\") and delete this line.\nfixed_ports = true",
                fixed.join(", ")
            );
        }
    }

    // The gateway: the one service that publishes, when there is exactly one.
    match publishers.as_slice() {
        [one] => {
            let port = ports.get(one.as_str()).and_then(|p| p.first()).copied();
            let _ = writeln!(
                out,
                "\n# The only service that publishes: the stack's entry point.\n[gateway]\nservice = {}",
                quote(one)
            );
            match port {
                Some(p) => {
                    let _ = writeln!(out, "port = {p}");
                }
                None => out.push_str("# port = the container port it serves on (none found in compose or the image)\n"),
            }
        }
        [] => out.push_str("\n# No service publishes a host port, so no [gateway] is drafted.\n"),
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(
                out,
                "\n# Several services publish ({}): choose the entry point.\n# [gateway]\n# service = \"...\"\n# port = 8080",
                names.join(", ")
            );
        }
    }

    // Reach: from a probe on each network, every known port of every member.
    for (key, network) in &model.networks {
        let members: Vec<&String> =
            model.services.iter().filter(|(_, s)| s.networks.contains_key(key)).map(|(n, _)| n).collect();
        let mut targets = Vec::new();
        let mut unknown = Vec::new();
        for m in &members {
            match ports.get(m.as_str()).filter(|p| !p.is_empty()) {
                Some(list) => targets.extend(list.iter().map(|p| quote(&format!("{m}:{p}")))),
                None => unknown.push(m.as_str()),
            }
        }
        let members: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(
            out,
            "\n# Members: {}{}.",
            if members.is_empty() { "none".to_owned() } else { members.join(", ") },
            if network.internal { " (internal: no way out)" } else { "" }
        );
        if !unknown.is_empty() {
            let _ = writeln!(
                out,
                "# No listening port known for {}: add theirs if others must reach them.",
                unknown.join(", ")
            );
        }
        let _ = writeln!(out, "[networks.{}]\nreach = [{}]", quote_key(key), targets.join(", "));
    }

    // Data: each named volume a service mounts.
    for (service, svc) in &model.services {
        let image = svc.image.clone().unwrap_or_default();
        for m in raw(service)["volumes"].as_array().into_iter().flatten() {
            let (Some("volume"), Some(volume), Some(path)) =
                (m["type"].as_str(), m["source"].as_str(), m["target"].as_str())
            else {
                continue;
            };
            if !model.volumes.contains_key(volume) {
                continue;
            }
            let kind = data_kind(&image);
            let path_line = if kind == "file" { format!("path = {}\n", quote(path)) } else { String::new() };
            let methods = if kind == "postgres" { "[\"tar\", \"pg_dump\"]" } else { "[\"tar\"]" };
            let _ = writeln!(
                out,
                "\n# {service} keeps data in volume {volume} at {path}: it must survive a restart and down/up.\n\
                 [[persistence]]\nservice = {}\nkind = \"{kind}\"\nvolume = {}\n{path_line}\
                 \n# ...and a backup of it must restore.\n[[backup]]\nservice = {}\nkind = \"{kind}\"\nvolume = {}\nmethods = {methods}",
                quote(service),
                quote(volume),
                quote(service),
                quote(volume),
            );
        }
    }
    out
}

/// Drafts the policy for a stack directory: compose resolves it with every profile active,
/// and the engine (when it answers) adds the ports the images `EXPOSE`. Returns where the
/// policy goes (the stack's policy path) and the draft.
pub async fn draft_for(stack: &std::path::Path) -> crate::Result<(std::path::PathBuf, String)> {
    let layout = crate::engine::compose::layout(stack)?;
    for f in &layout.files {
        crate::engine::compose::validate_yaml(f)?;
    }
    let model = crate::engine::compose::ComposeProject::new("harness-init", layout.files.clone()).model().await?;
    if model.services.is_empty() {
        return Err(crate::Error::NoServices { stack: layout.dir.clone(), profiles: String::new() });
    }
    let docker = crate::engine::connect().await.ok();
    let mut ports = Ports::new();
    for (name, svc) in &model.services {
        let mut list = compose_ports(model.raw_service(name));
        if let (Some(docker), Some(image)) = (&docker, &svc.image) {
            if let Ok(img) = docker.inspect_image(image).await {
                let exposed = img.config.and_then(|c| c.exposed_ports).unwrap_or_default();
                list.extend(exposed.iter().filter_map(|p| p.split('/').next()?.parse::<u16>().ok()));
            }
        }
        list.sort_unstable();
        list.dedup();
        ports.insert(name.clone(), list);
    }
    Ok((layout.policy.clone(), draft(&model, &ports, &crate::workspace::display_path(&layout.dir))))
}

/// A table key: bare when TOML allows it, quoted otherwise.
fn quote_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_owned()
    } else {
        quote(key)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn model(json: Value) -> ComposeModel {
        let mut m: ComposeModel = serde_json::from_value(json.clone()).expect("model");
        m.raw = json;
        m
    }

    #[test]
    fn the_draft_loads_as_a_policy_and_states_what_compose_does() {
        let m = model(serde_json::json!({
            "services": {
                "gateway": {"image": "harness/nginx:1.22-bookworm", "networks": {"front": null, "back": null},
                            "ports": [{"target": 8080, "published": "80", "host_ip": ""}]},
                "api": {"image": "harness/app:0.1.0", "networks": {"back": null}, "expose": ["8080"]},
                "db": {"image": "harness/postgres:15-bookworm", "networks": {"back": null},
                       "volumes": [{"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data"}]},
                "files": {"image": "acme/files:1", "networks": {"back": null},
                          "volumes": [{"type": "volume", "source": "uploads", "target": "/uploads"}]}
            },
            "networks": {"front": {}, "back": {"internal": true}},
            "volumes": {"pgdata": {}, "uploads": {}}
        }));
        let ports = Ports::from([
            ("gateway".to_owned(), vec![8080]),
            ("api".to_owned(), vec![8080]),
            ("db".to_owned(), vec![5432]),
        ]);
        let text = draft(&m, &ports, "demo");
        let policy = crate::policy::parse(&text, Path::new("acceptance.toml"), &["gateway", "api", "db", "files"])
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(policy.gateway.as_ref().map(|g| (g.service.as_str(), g.port)), Some(("gateway", 8080)));
        assert!(policy.settings("gateway").publish);
        assert_eq!(policy.settings("gateway").bind, crate::policy::Bind::Any);
        assert!(policy.settings("gateway").fixed_ports, "{text}");
        assert!(text.contains("It fixes host ports (80:8080)"), "{text}");
        assert!(!policy.settings("api").publish);
        assert!(!policy.settings("api").fixed_ports);
        let back: Vec<String> = policy.networks["back"].reach.iter().map(|t| t.to_string()).collect();
        assert_eq!(back, ["api:8080", "db:5432", "gateway:8080"]);
        assert!(text.contains("No listening port known for files"), "{text}");
        let kinds: Vec<(String, String)> =
            policy.persistence.iter().map(|p| (p.service.clone(), format!("{:?}", p.kind))).collect();
        assert_eq!(kinds, [("db".to_owned(), "Postgres".to_owned()), ("files".to_owned(), "File".to_owned())]);
        assert_eq!(policy.backups.len(), 2);
        assert!(text.contains("# Budget from `up` to healthy.\nstartup = \"30s\""), "{text}");
    }
}
