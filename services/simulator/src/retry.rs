//! Waiting out an unavailable API: exponential backoff with a cap.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::ApiError;

/// Exponential backoff: 250 ms, 500 ms, 1 s … up to 15 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    failures: u32,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(250);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(15);

    /// A fresh backoff.
    pub fn new() -> Self {
        Self {
            next: Self::FIRST,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        self.failures += 1;
        delay
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether this failure is worth a warning: the 1st, 2nd, 4th, 8th …
    /// (so a long outage does not flood the log).
    pub fn should_warn(&self) -> bool {
        self.failures.is_power_of_two()
    }

    /// After a success.
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `op` until it succeeds or fails with anything but a retryable error
/// ([`ApiError::Unavailable`], [`ApiError::Unauthorized`]), waiting with [`Backoff`] in between. Gives up
/// (returning the last retryable error) when `cancel` fires or, if given,
/// once `give_up_after` has passed since the first failure.
pub async fn with_retry<T, F, Fut>(
    what: &str,
    cancel: &CancellationToken,
    give_up_after: Option<Duration>,
    mut op: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut backoff = Backoff::new();
    let mut first_failure: Option<Instant> = None;
    loop {
        let error = match op().await {
            Err(error) if error.is_retryable() => error,
            other => return other,
        };
        let since = *first_failure.get_or_insert_with(Instant::now);
        if cancel.is_cancelled() || give_up_after.is_some_and(|limit| since.elapsed() >= limit) {
            return Err(error);
        }
        let delay = backoff.next_delay();
        if backoff.should_warn() {
            tracing::warn!(%error, ?delay, failures = backoff.failures(), "{what}: retrying");
        } else {
            tracing::debug!(%error, ?delay, "{what}: retrying");
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(error),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(delays[7], Backoff::MAX);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        b.reset();
        assert_eq!(b.next_delay(), Backoff::FIRST);
        assert!(b.should_warn());
    }

    #[tokio::test]
    async fn retries_only_unavailability() {
        let cancel = CancellationToken::new();
        let mut calls = 0;
        let result: Result<u32, ApiError> = with_retry("test", &cancel, None, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(ApiError::Unavailable("down".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(3));

        let mut calls = 0;
        let result: Result<(), ApiError> = with_retry("test", &cancel, None, || {
            calls += 1;
            async { Err(ApiError::Conflict("stale".into())) }
        })
        .await;
        assert!(matches!(result, Err(ApiError::Conflict(_))));
        assert_eq!(calls, 1);

        let result: Result<(), ApiError> =
            with_retry("test", &cancel, Some(Duration::ZERO), || async {
                Err(ApiError::Unavailable("down".into()))
            })
            .await;
        assert!(result.is_err_and(|e| e.is_unavailable()));
    }
}
