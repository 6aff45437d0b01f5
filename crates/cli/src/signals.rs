//! The stop signals `serve` and `simulate` wait on.
//!
//! They are registered up front, before the server binds or prints anything, so a SIGTERM
//! that arrives while it starts (from systemd, a container runtime or a test that waited for
//! the ready line) runs the ordered stop instead of killing the process with the default
//! disposition.

/// SIGTERM and SIGINT (Ctrl-C), registered when made.
pub(super) struct StopSignals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    /// Registers the handlers now; from here on the signals are queued for [`Self::recv`].
    pub(super) fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .map_err(|e| tracing::warn!("SIGTERM handler not installed ({e}); Ctrl-C only"))
                .ok();
            Self { unix }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves on the first SIGTERM or SIGINT received since [`Self::install`].
    pub(super) async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.unix {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
