//! Benchmarks live in `benches/`; this library is empty. Run them with
//! `cargo bench -p tollgate-benches`.
