//! One shutdown signal for a whole service: SIGTERM or Ctrl-C flips it, and
//! every loop that holds work (the HTTP server, each consumer, every wait
//! between retries) watches it; [`drain_within`] bounds how long the
//! in-flight work may take once it has flipped.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The sending side, for tests and for triggering from code.
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn new() -> (Trigger, Self) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Self(rx))
    }

    /// A shutdown fired by SIGTERM or SIGINT.
    pub fn on_signals() -> Self {
        let (trigger, shutdown) = Self::new();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received");
            trigger.fire();
        });
        shutdown
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `delay`, or until shutdown if that comes first: the wait
    /// between two tries, which a stopping service should not sit out.
    pub async fn sleep(&self, delay: std::time::Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {},
            () = self.clone().wait() => {},
        }
    }
}

/// Runs a service's main future; once shutdown is triggered it has
/// `timeout` to finish its in-flight work before the process gives up.
pub async fn drain_within<F>(
    service: F,
    shutdown: Shutdown,
    timeout: std::time::Duration,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let deadline = async move {
        shutdown.wait().await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        result = service => result,
        () = deadline => anyhow::bail!("in-flight work did not finish within SHUTDOWN_TIMEOUT ({timeout:?})"),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
