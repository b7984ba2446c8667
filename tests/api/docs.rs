//! The docs stand alone: the contract the code cites is in the repository and
//! matches its source, and every relative link of README.md and docs/ resolves.

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
