//! `run`: wires the fleet, the device API, `/metrics`, the summary and the signals together.
//!
//! ```text
//! chargepoint-supervisor run                 # the embedded simulator, 50 stations x 2 ports
//! chargepoint-supervisor run fleet/          # real endpoints, VOLTTRON device configs
//! ```
//!
//! Startup order: load (or simulate) the fleet, start the actors, bind both listeners, print
//! one `listening api=… metrics=…` line (tests parse it), then serve until ctrl-c / SIGTERM.
//! SIGHUP reloads the fleet file. Shutdown runs the other way: stop accepting requests (axum
//! finishes the ones in flight), stop the summary, stop the fleet (see `cp_actors::Fleet` for
//! what happens to active sheds), stop the simulator.

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use cp_actors::Metrics;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::RunConfig;
use crate::http::{metrics_router, router, AppState};
use crate::summary::{self, SummaryOutput};

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create the metric families")]
    Metrics(#[source] prometheus::Error),
    #[error("fleet {path}:\n{problems}")]
    Fleet {
        path: PathBuf,
        problems: cp_registry::Problems,
    },
    #[error("cannot bind the {what} listener to {addr}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the {signal} handler")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} server failed")]
    Serve {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Completes on ctrl-c or SIGTERM: the one shutdown trigger of `run`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        // Without a ctrl-c handler the process still stops on SIGTERM (below) or SIGINT's
        // default action, so a failure to install it is logged, not fatal.
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(cause = %error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!(cause = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Runs the supervisor until `shutdown` completes.
///
/// # Errors
/// A fleet that does not load, a listener that cannot bind, a server that fails.
pub async fn run(config: RunConfig, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let metrics = Metrics::new().map_err(RunError::Metrics)?;
    let target = Target::start(&config).await?;
    let fleet = target.start_fleet(&config, metrics.clone()).await?;

    let api = bind("device API", config.api_listen).await?;
    let prometheus = bind("metrics", config.metrics_listen).await?;
    let api_addr = local_addr("device API", &api)?;
    let metrics_addr = local_addr("metrics", &prometheus)?;
    println!(
        "listening api=http://{api_addr} metrics=http://{metrics_addr}/metrics{}",
        target.describe()
    );
    tracing::info!(%api_addr, %metrics_addr, "serving");

    // Cancelled once, on shutdown: every server and the summary stop on it.
    let stop = CancellationToken::new();
    let mut servers = JoinSet::new();
    let state = AppState {
        fleet: fleet.clone(),
        token: config.token.clone(),
    };
    servers.spawn(serve("device API", api, router(state), stop.clone()));
    servers.spawn(serve(
        "metrics",
        prometheus,
        metrics_router(metrics.clone()),
        stop.clone(),
    ));
    let output = if config.summary && std::io::stdout().is_terminal() {
        SummaryOutput::Terminal
    } else {
        SummaryOutput::Log
    };
    let summary = tokio::spawn(summary::run(fleet.clone(), output, stop.clone()));

    let mut hangups = signal(SignalKind::hangup()).map_err(|source| RunError::Signal {
        signal: "SIGHUP",
        source,
    })?;
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            _ = hangups.recv() => target.reload(&config, &fleet).await,
            Some(ended) = servers.join_next() => break server_ended(ended),
        }
    };

    tracing::info!("shutting down");
    stop.cancel();
    while let Some(ended) = servers.join_next().await {
        if let Err(error) = server_ended(ended) {
            tracing::error!(error = %crate::http::error_chain(&error), "server stopped with an error");
        }
    }
    // The summary only reads metrics; if it panicked there is nothing left to clean up.
    let _ = summary.await;
    fleet.shutdown().await;
    target.shutdown().await;
    outcome
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { what, addr, source })
}

fn local_addr(what: &'static str, listener: &TcpListener) -> Result<SocketAddr, RunError> {
    listener.local_addr().map_err(|source| RunError::Serve { what, source })
}

/// Serves `app` until `stop` is cancelled, letting requests in flight finish.
async fn serve(
    what: &'static str,
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> Result<(), RunError> {
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
        .map_err(|source| RunError::Serve { what, source })
}

/// A server task's end: before shutdown any end is a failure worth stopping for.
fn server_ended(
    ended: Result<Result<(), RunError>, tokio::task::JoinError>,
) -> Result<(), RunError> {
    match ended {
        Ok(result) => result,
        Err(join) => Err(RunError::Serve {
            what: "HTTP",
            source: std::io::Error::other(join),
        }),
    }
}

/// What `run` supervises: a fleet from disk, or the embedded simulator.
enum Target {
    Fleet { path: PathBuf },
    Simulator { sim: crate::sim::SimHandle },
}

fn load_fleet(path: &Path) -> Result<cp_registry::Fleet, RunError> {
    cp_registry::Fleet::load(path).map_err(|problems| RunError::Fleet {
        path: path.to_path_buf(),
        problems,
    })
}
