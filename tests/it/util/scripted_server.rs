//! A scripted HTTP server on 127.0.0.1:0 for client tests: every POST is recorded and answered
//! by a closure, optionally after a delay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub soap_action: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: Vec<u8>) -> Self {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: vec![("content-type", "text/xml; charset=utf-8".into())],
            body,
            delay: Duration::ZERO,
        }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    seen: Mutex<Vec<Seen>>,
}

/// A running server; it stops when dropped.
pub struct TestServer {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a server that answers every request with `handler`.
pub async fn serve(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
    let shared = Arc::new(Shared {
        handler: Box::new(handler),
        seen: Mutex::new(Vec::new()),
    });
    let app = Router::new().fallback(answer).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer {
        url: format!("http://{addr}/webservices/chargepoint/services/5.0"),
        shared,
        task,
    }
}

async fn answer(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let seen = Seen {
        soap_action: header("soapaction"),
        content_type: header("content-type"),
        body: body.to_vec(),
    };
    let reply = (shared.handler)(&seen);
    shared.seen.lock().expect("lock").push(seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response =
        Response::builder().status(StatusCode::from_u16(reply.status).expect("valid status"));
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).expect("response")
}
