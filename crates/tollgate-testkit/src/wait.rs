//! Waiting in a test for something another thread or task does.

use std::time::Duration;

/// Whether `what` holds within 5 s, asked every 10 ms (at once first).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let start = std::time::Instant::now();
/// assert!(tollgate_testkit::eventually(|| start.elapsed().as_millis() >= 20).await);
/// # }
/// ```
pub async fn eventually(mut what: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    what()
}
