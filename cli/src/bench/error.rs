//! The benchmark's error and result types (a leaf: every file of `bench` may use it).

/// Errors of the benchmark: anything printable.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result of the benchmark.
pub type Result<T> = std::result::Result<T, Error>;
