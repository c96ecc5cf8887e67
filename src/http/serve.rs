//! The accept loop of the device API and `/metrics` listeners: our own over hyper rather than
//! `axum::serve`, because `axum::serve` neither caps connections nor times out a client that
//! opens a connection and never finishes its request head (500 such connections were all still
//! held after 22 s, and near the process's file-handle limit the API stopped accepting).
//!
//! Each connection gets [`ServeLimits::header_timeout`] to send each request head, at most
//! [`ServeLimits::max_connections`] are open at once (the next one waits in the kernel's
//! backlog), and each one knows its peer address ([`ConnectInfo`]) for the loopback check of
//! writes. On `stop`, accepting ends and open connections get [`SHUTDOWN_GRACE`] to finish.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Most connections one listener serves at once. Each costs a file handle; 1024 leaves most of a
/// raised limit (see [`raise_file_limit`]) to the SOAP clients, and is far more than the local
/// tools and one Prometheus that use the API.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a client may take to send a request head, on a new or a kept-alive connection.
/// Every real client sends its head in one write; 10 s covers a slow link many times over.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request head hyper reads. The API's own check ([`super::MAX_HEADER_BYTES`])
/// is smaller, so an over-large head is normally answered in JSON; only heads beyond this get
/// hyper's bare 431.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// How long open connections (a request in flight, an SSE stream) get to finish on shutdown
/// before they are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What a listener allows each client.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_timeout: HEADER_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` until `stop` is cancelled; see the module doc.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set stays as small as the open ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning; the connections
                    // already open finish and free their handles.
                    tracing::warn!(cause = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service =
                tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    let app = app.clone();
                    async move {
                        let response: Response = match app.oneshot(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_HEAD_BUFFER);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, cause = %error, "connection ended");
                    }
                }
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
                }
            }
        });
    }
    connections.shutdown().await;
}

/// Raises the soft limit on open files to the hard limit, so the connection caps above, the
/// SOAP clients' connections and the log files all fit. Returns the soft limit in force
/// afterwards; `None` when it cannot be read.
pub fn raise_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass by valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the open-file limit"
            );
        }
    }
    Some(limit.rlim_cur)
}
