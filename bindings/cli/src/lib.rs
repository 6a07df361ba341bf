//! The library side of the `sagevec` command-line tool: pieces the CLI commands
//! use that are worth testing and reusing on their own, starting with the data
//! file readers and writers ([`formats`]).

pub mod formats;
