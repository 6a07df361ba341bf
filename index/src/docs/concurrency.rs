//! # Concurrency guarantees of [`Index`](crate::Index)
//!
//! ## Readers
//! A read (`search`, `batch_search`, `get`, `contains`, `len`, `ids`, `stats`)
//! loads the current snapshot once, with one atomic operation (`ArcSwap::load`),
//! and answers the whole call from it: it takes no lock, never waits for a
//! writer or the builder, and a `batch_search` serves every query of the batch
//! from the same version. Every search reports the version it read.
//! [`Index::snapshot`](crate::Index::snapshot) pins one version for several
//! calls; holding it keeps that version's segments alive (memory), nothing else.
//!
//! ## Writers
//! `add`, `add_batch`, `remove` and `seal` are serialised by one writer lock
//! (readers never take it). A write validates its whole input *before* taking
//! the lock and changes nothing if anything is wrong. It then appends rows to
//! the growing segment (rows no published snapshot counts yet), marks replaced
//! or removed rows with the new version, and publishes a new snapshot. So:
//! - a batch becomes visible all at once, at the version the call returns, or
//!   not at all (no reader ever sees part of a batch);
//! - a search that starts after a write returned sees it (and a search that
//!   loaded an older snapshot does not: it reads a consistent past);
//! - a removed id is never returned by a search that starts after `remove`
//!   returned; an upserted id is returned with its new vector only;
//! - versions never go backwards: every publish is `previous + 1`, made under
//!   the writer lock.
//!
//! Tombstones are per row: "removed at version v". A reader of snapshot `s`
//! treats a row as live iff it was removed at a version `> s`, which is why old
//! snapshots stay consistent while removals go on.
//!
//! ## The builder
//! One background thread per index builds graphs for sealed segments and
//! merges small or holed ones. It reads a snapshot, builds on the index's pool
//! with no lock held, then takes the writer lock only to swap the result in
//! (one publish; a merge also carries over the removals and upserts made while
//! it built). Readers keep using the old segments until the swap; the old ones
//! are freed when the last snapshot holding them is dropped.
//!
//! A build that panics or fails is caught: the index keeps its old segments
//! (flat segments stay searchable by exact scan), `stats()` counts the error
//! and keeps its message, and the segment is not retried until `compact()`.
//! Dropping the index stops the builder and joins it (a build in progress
//! finishes first and is not published).
//!
//! ## What is not guaranteed
//! - Graph search is approximate: a live row may be missed by a graph search
//!   at low `ef` (use `exact: true` for a scan). A row in the growing segment
//!   or a flat segment is always found, because those are scanned.
//! - A search running concurrently with a write may or may not see it,
//!   depending on which snapshot it loaded.
//! - Merges hold the writer lock while they rewrite the id map entries of the
//!   merged rows (O(rows)); writers wait that long, readers do not.
