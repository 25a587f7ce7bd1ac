//! Architecture rules, checked as unit tests by scanning the source tree:
//! - the domain and the service layer are transport-free: no `use` or path token names
//!   tokio, rdkafka, apache_avro, schema_registry_converter, axum, hyper, reqwest or tower;
//! - dependencies point inward: the domain names no outer layer (service layer, bootstrap,
//!   runtime, adapters, entrypoints) and the service layer's production code names none of
//!   the layers outside it (its tests may use the composition root).
//!
//! The matcher ignores comments, string and character literals, so prose may mention these
//! crates; it is itself tested on samples, so a broken matcher cannot pass silently.

use std::fs;
use std::path::{Path, PathBuf};

const TRANSPORT_CRATES: &[&str] = &[
    "tokio",
    "rdkafka",
    "apache_avro",
    "schema_registry_converter",
    "axum",
    "hyper",
    "reqwest",
    "tower",
];

const OUTSIDE_DOMAIN: &[&str] = &[
    "service_layer",
    "bootstrap",
    "runtime",
    "adapters",
    "entrypoints",
];

const OUTSIDE_SERVICE_LAYER: &[&str] = &["bootstrap", "runtime", "adapters", "entrypoints"];

/// Replaces comments and string/char literals with spaces (newlines kept).
fn strip_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_is_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && !prev_is_ident && matches!(next, Some('"') | Some('#')) {
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let mut end = j + 1;
            while end < chars.len() {
                if chars[end] == '"' && (0..hashes).all(|k| chars.get(end + 1 + k) == Some(&'#')) {
                    end += 1 + hashes;
                    break;
                }
                end += 1;
            }
            for &skipped in &chars[i..end.min(chars.len())] {
                out.push(blank(skipped));
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for &skipped in chars.iter().skip(i).take(step) {
                    out.push(blank(skipped));
                }
                i += step;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // Escaped char literal such as '\n' or '\u{1F600}'.
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `(line, name)` of every path or `use` token naming one of `names`.
fn references(source: &str, names: &[&'static str]) -> Vec<(usize, &'static str)> {
    let code = strip_comments_and_literals(source);
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut in_use = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b';' {
            in_use = false;
        }
        if !(b.is_ascii_alphabetic() || b == b'_') || (i > 0 && is_ident(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let ident = &code[start..i];
        if ident == "use" {
            in_use = true;
            continue;
        }
        let Some(name) = names.iter().find(|n| **n == ident) else {
            continue;
        };
        let after = code[i..].trim_start();
        let before = code[..start].trim_end();
        let is_path = after.starts_with("::") || before.ends_with("::");
        let is_crate = before.ends_with("extern crate");
        if is_path || is_crate || in_use {
            let line = code[..start].matches('\n').count() + 1;
            found.push((line, *name));
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

fn layer_files(layer: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the {layer} sources, found {files:?}"
    );
    files
}

fn violations(files: &[PathBuf], names: &[&'static str]) -> Vec<String> {
    files
        .iter()
        .flat_map(|path| {
            let source = fs::read_to_string(path).expect("readable source");
            references(&source, names)
                .into_iter()
                .map(move |(line, name)| format!("{}:{line} names {name}", path.display()))
        })
        .collect()
}

fn is_test_file(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests")
}

#[test]
fn domain_and_service_layer_are_transport_free() {
    let mut files = layer_files("domain");
    files.extend(layer_files("service_layer"));
    let found = violations(&files, TRANSPORT_CRATES);
    assert!(found.is_empty(), "transport crates in the core: {found:#?}");
}

#[test]
fn the_domain_depends_on_no_outer_layer() {
    let found = violations(&layer_files("domain"), OUTSIDE_DOMAIN);
    assert!(found.is_empty(), "the domain reaches outward: {found:#?}");
}

#[test]
fn the_service_layer_depends_on_no_outer_layer() {
    let files: Vec<_> = layer_files("service_layer")
        .into_iter()
        .filter(|p| !is_test_file(p))
        .collect();
    let found = violations(&files, OUTSIDE_SERVICE_LAYER);
    assert!(
        found.is_empty(),
        "the service layer reaches outward: {found:#?}"
    );
}

#[test]
fn the_matcher_finds_use_and_path_tokens() {
    let cases = [
        ("use tokio::sync::mpsc;", "tokio"),
        ("use rdkafka;", "rdkafka"),
        ("fn f() { apache_avro::to_value(1); }", "apache_avro"),
        ("#[tokio::main]\nasync fn main() {}", "tokio"),
        ("use {serde::Serialize, hyper};", "hyper"),
        ("extern crate reqwest;", "reqwest"),
        ("let s = ::tower::ServiceBuilder::new();", "tower"),
        (
            "type C = schema_registry_converter :: Foo;",
            "schema_registry_converter",
        ),
        ("use axum\n    ::Router;", "axum"),
    ];
    for (source, name) in cases {
        let found: Vec<_> = references(source, TRANSPORT_CRATES)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(found, [name], "in {source:?}");
    }
    assert_eq!(
        references("fn a() {}\nuse crate::service_layer::bus;", OUTSIDE_DOMAIN),
        [(2, "service_layer")]
    );
}

#[test]
fn the_matcher_ignores_prose_literals_and_lookalikes() {
    let sources = [
        "// the runtime uses tokio::spawn",
        "//! no rdkafka types here",
        "/* nested /* tokio::x */ hyper::y */",
        r#"let s = "tokio::spawn";"#,
        r##"let s = r#"use tokio;"#;"##,
        "let c = '\"'; let d = tokio_like::x;",
        "let towers = 3; struct Hyperion; let axum_like = 1;",
        "fn f<'a>(x: &'a str) -> &'a str { x }",
        "let tokio = 1; let y = tokio + 1;",
    ];
    for source in sources {
        assert_eq!(references(source, TRANSPORT_CRATES), [], "in {source:?}");
    }
}
