//! The docs stand alone: the contract the code cites is in the repository and
//! matches its source, every relative link of README.md and docs/ resolves, and
//! every configuration key is documented in docs/configuration.md.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files a newcomer reads: README.md and everything in docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The targets of the inline links `[text](target)` of a Markdown text, outside
/// code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in links(&text) {
            let target = link.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = page.parent().unwrap_or(Path::new(".")).join(target);
            if !resolved.exists() {
                broken.push(format!("{}: {link}", page.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that resolve to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_contract_in_the_repository_matches_its_source() {
    // The design folder sits beside the repository on the team's machines and
    // in CI; a clone elsewhere has only its own copy.
    let source = root().join("../shared/design/upstreams.md");
    let Ok(source) = std::fs::read_to_string(&source) else {
        eprintln!("no ../shared/design/upstreams.md here: nothing to compare");
        return;
    };
    let copy = std::fs::read_to_string(root().join("docs/upstreams.md")).unwrap();
    assert!(
        copy == source,
        "docs/upstreams.md differs from ../shared/design/upstreams.md, the source of the contract.\n\
         Copy it again with:\n\n    cp ../shared/design/upstreams.md docs/upstreams.md\n"
    );
}

#[test]
fn the_link_finder_finds_links_and_skips_code() {
    let text = "see [a](docs/a.md) and [b](https://x.org)\n```\n[c](nowhere.md)\n```\n[d](#top)";
    assert_eq!(links(text), ["docs/a.md", "https://x.org", "#top"]);
}

/// Fields whose value is a map: their keys are names chosen by the operator
/// (services), so the page documents the field by its own name only.
const MAP_FIELDS: [&str; 3] = ["upstreams.services", "upstreams.overrides", "cache.ttl"];

/// The dotted key paths of a serialised configuration: `server.listen`,
/// `upstreams.retry.max_attempts`, ... A map field (or any empty object) is one
/// key; a `None` is `null`, still a key.
fn key_paths(value: &serde_json::Value, prefix: &str, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) if !fields.is_empty() && !MAP_FIELDS.contains(&prefix) => {
            for (name, field) in fields {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                key_paths(field, &path, found);
            }
        }
        _ => found.push(prefix.to_owned()),
    }
}

/// Whether `text` holds `key` as a whole key: not as part of a longer name
/// (`limits.max_errors` inside `limits.max_errors_x`) nor of a longer path.
fn mentions(text: &str, key: &str) -> bool {
    let part_of_key = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(key).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + key.len()..].chars().next();
        !before.is_some_and(|c| part_of_key(c) || c == '.') && !after.is_some_and(part_of_key)
    })
}

#[test]
fn every_configuration_key_is_documented() {
    let config = serde_json::to_value(delivery_gateway::config::Config::default()).unwrap();
    let mut keys = Vec::new();
    key_paths(&config, "", &mut keys);
    assert!(
        keys.len() > 50 && keys.iter().any(|k| k == "upstreams.retry.max_attempts"),
        "the key walk found too little: {keys:?}"
    );
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let missing: Vec<&String> = keys.iter().filter(|key| !mentions(&page, key)).collect();
    assert!(
        missing.is_empty(),
        "configuration keys missing from docs/configuration.md (add a row with the key, \
         its default and what it does):\n{}",
        missing.iter().map(|k| format!("  {k}")).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_key_walk_finds_dotted_paths_and_stops_at_maps() {
    let value = serde_json::json!({
        "server": {"listen": "127.0.0.1:4000", "mode": null},
        "cache": {"ttl": {"menus": "30s"}, "enabled": true},
        "upstreams": {"services": {}, "retry": {"max_attempts": 3}}
    });
    let mut keys = Vec::new();
    key_paths(&value, "", &mut keys);
    keys.sort();
    assert_eq!(
        keys,
        [
            "cache.enabled",
            "cache.ttl",
            "server.listen",
            "server.mode",
            "upstreams.retry.max_attempts",
            "upstreams.services"
        ]
    );
    assert!(mentions("| `cache.ttl` | none |", "cache.ttl"));
    assert!(mentions("`cache.ttl.<service>`", "cache.ttl"));
    assert!(!mentions("`limits.max_errors_x`", "limits.max_errors"));
    assert!(!mentions("`a.server.listen`", "server.listen"));
}
