//! # Concurrency guarantees of [`Index`](crate::Index)
//!
//! ## Readers
//! A read (`search`, `batch_search`, `get`, `metadata`, `contains`, `len`, `ids`,
//! `stats`) loads the current snapshot once, with one atomic operation
//! (`ArcSwap::load`), and answers the whole call from it: it takes no lock, never
//! waits for a writer or the builder, and a `batch_search` serves every query of
//! the batch from the same version. Every search reports the version it read.
//! [`Index::snapshot`](crate::Index::snapshot) pins one version for several calls;
//! holding it keeps that version's graph alive (memory), nothing else.
//!
//! A snapshot names the live graph, a **slot bound** and the id map. Every stored
//! row is a slot, numbered in the order writes reserve them and never reused; a
//! slot below the bound is visible to readers of that version unless a tombstone
//! ("removed at version v", per slot) at or before the version removed it. A search
//! walks the graph's neighbour lists, which are atomic slots read with acquire
//! loads, and passes the bound, the tombstones and the filter as the rule for which
//! slots it may *return*; refused slots (newer than its version, removed, filtered
//! out) are walked through, never returned.
//!
//! ## Writers
//! A write (`add_batch`, `remove`, a transaction's `commit`) validates its whole
//! input before anything changes, then:
//! 1. takes the writer lock briefly to assign auto-ids, reserve slots and draw a
//!    ticket (slots and tickets come in the same order);
//! 2. with no lock held, writes its rows into its slots and inserts them into the
//!    graph (several writers insert at once; a batch of 64 rows or more is inserted
//!    by every worker of the builder's pool);
//! 3. commits in ticket order: a durable index appends the write to its log first,
//!    then upserts and removes are applied to the id map and tombstones and the
//!    next snapshot is published, its bound past the write's slots. Publishing is
//!    the only step that bumps the version (`write::Turn::publish_next`).
//!
//! So:
//! - a batch or a transaction becomes visible all at once, at the version the
//!   call returns, or not at all (no reader ever sees part of it);
//! - writes take effect in one order (their reservation order), whatever order
//!   their inserts finish in; a writer whose insert finishes first waits only for
//!   the commit of the writes reserved before it;
//! - a search that starts after a write returned sees it (read-your-writes), and
//!   a search that loaded an older snapshot does not: it reads a consistent past;
//! - a removed id is never returned by a search that starts after `remove`
//!   returned; an upserted id is returned with its new vector only;
//! - versions never go backwards: every publish is `previous + 1`.
//!
//! This departs from the segment design's "writers are serialised by one writer
//! lock": the lock now covers only the reservation; inserts run in parallel and
//! commits are ordered by ticket.
//!
//! ## The graph while writers insert
//! The insertion's publish order (`graph::insert`): a node's vector, walk copy and
//! level are written first; then its neighbours are chosen; then its own lists are
//! stored on every level; only then are links *to* it added (reverse links, and
//! the entry point, one atomic word holding node and level). Every store of a link
//! is a release store and every read an acquire load, so a walker that reads a link
//! to a node also sees that node's vector and complete lists. A link to a slot in a
//! chunk newer than the walker's directory is not followed. Lists change in place
//! while readers walk them (a new link appended, a full list pruned and
//! rewritten): a walker may read a list mid-update, old and new entries mixed, every
//! one a fully inserted node.
//!
//! **The relaxation this brings**: two searches of the *same* version may route
//! differently, and so differ in recall, when writers changed links between them.
//! They never differ in which rows they may return. A pinned
//! [`Snapshot`](crate::Snapshot) is a consistent set of rows, not a frozen graph.
//!
//! **Reachability**: a node is linked before its write is acknowledged, so every
//! acknowledged row is reachable from the entry point when its call returns.
//! Pruning never drops a node's last level-0 in-link (an atomic in-link count),
//! which keeps almost every node reachable as the graph changes, but not a path:
//! rarely a node's only in-links come from nodes no walk reaches. The builder finds
//! such nodes (a breadth-first walk of level 0 after the graph grew by a tenth, and
//! on [`Index::wait_for_builds`](crate::Index::wait_for_builds) after writes) and
//! links them again, counted in `stats().repairs`; so once writes settle and the
//! builder is idle, every live row is reachable. A row is always found by exact
//! search, whatever its links.
//!
//! ## Memory
//! Nothing a reader can reach is freed on a reader's thread or while it can reach
//! it. A row's storage never moves (chunks); the table of chunks is replaced whole
//! when a chunk is added and the old table is kept by the graph until no reader
//! holds it, then dropped by a writer. A graph replaced by a compaction is kept by
//! the builder until no snapshot holds it, then dropped there. Neighbour lists are
//! fixed-size atomic slots, rewritten in place, never retired.
//!
//! ## The builder
//! One background thread per index compacts, repairs and checkpoints:
//! - **compaction** (removed rows past `max_deleted_fraction` of the slots, more than
//!   1% of rows with a clipped f16 copy, or [`Index::compact`](crate::Index::compact)):
//!   a new graph is built from the live rows on the builder's pool, catches up with
//!   the writes made meanwhile in shortening passes, and is swapped in with the
//!   writer lock held and no write in flight (writers wait for the last, short
//!   pass; readers never wait, and keep the old graph until they load a newer
//!   snapshot). The swap publishes a version of its own (same rows, new slots), so
//!   `version()` can move past the last write's version with no write in between;
//! - **reachability repair**, as above;
//! - **checkpoints** of a durable index: a consistent cut (the writer lock held and
//!   no write in flight, for the moment it takes to start a new log generation and
//!   copy the lists: a memory-speed pass, about 130 bytes per row), then the
//!   graph's new rows, the links and a manifest are written with no lock held while
//!   writes go on. `Index::save` takes the same cut.
//!
//! A compaction that panics or fails is caught: the index keeps its graph,
//! `stats()` counts the error and keeps its message, and it is not retried until
//! `compact()`. Dropping the index stops the builder and joins it (a compaction in
//! progress gives up and is not published).
//!
//! ## What is not guaranteed
//! - Graph search is approximate: a live row may be missed by a graph search at
//!   low `ef` (use `exact: true` for a scan of every committed slot).
//! - A search running concurrently with a write may or may not see it, depending
//!   on which snapshot it loaded.
//! - A write whose insertion panics (a bug) leaves its slots dead and publishes
//!   nothing; a durable index has not logged it.
