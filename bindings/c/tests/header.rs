//! The checked-in header is what cbindgen makes of the crate now: this test fails
//! when `include/sagevec.h` is stale. `SAGEVEC_BLESS=1` rewrites it instead.
//!
//! cbindgen runs as a library here (a dev-dependency), so neither a developer nor
//! CI needs `cargo install cbindgen`, and the header's generator is pinned in
//! Cargo.lock like every other dependency.

use std::path::Path;

fn generated() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not parse the crate")
        .write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn checked_in_header_is_current() {
    let generated = generated();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/sagevec.h");
    if std::env::var_os("SAGEVEC_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is stale: run `SAGEVEC_BLESS=1 cargo test -p sagevec-capi --test header` and commit it",
        path.display()
    );
}

/// The name a declaration line declares: a macro, a typedef (the last identifier,
/// or the one in `(*name)`), or a function (the identifier before `(`).
fn declared(line: &str) -> Option<&str> {
    let ident =
        |s: &str| -> bool { !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_') };
    if let Some(rest) = line.strip_prefix("#define ") {
        return rest.split_whitespace().next();
    }
    if line.starts_with("typedef ") && line.contains("(*") {
        return line.split("(*").nth(1)?.split(')').next();
    }
    if line.starts_with("typedef ") || line.starts_with("} ") {
        return line
            .trim_end_matches(';')
            .split_whitespace()
            .last()
            .filter(|w| ident(w));
    }
    let is_code = !line.starts_with([' ', '#', '/', '*', '}', '{']) && !line.starts_with("extern");
    if is_code && line.contains('(') {
        let head = line.split('(').next()?;
        return head.split([' ', '*']).rfind(|w| !w.is_empty());
    }
    None
}

#[test]
fn header_declares_only_prefixed_names() {
    let header = generated();
    let mut functions = 0;
    for line in header.lines() {
        if let Some(name) = declared(line) {
            assert!(
                name.starts_with("sagevec_") || name.starts_with("SAGEVEC_"),
                "unprefixed name {name:?} in: {line}"
            );
            functions += usize::from(
                name.starts_with("sagevec_") && line.contains('(') && !line.starts_with("typedef"),
            );
        }
    }
    assert!(
        functions >= 30,
        "only {functions} functions found: the scan is broken"
    );
}
