//! Documentation-only pages (no code): read them on docs.rs or with `cargo doc`.

pub mod concurrency;
