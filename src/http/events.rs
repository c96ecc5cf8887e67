//! `GET /api/events`: the fleet's publish messages as a server-sent event stream.
//!
//! Each client reads its own `broadcast::Receiver`, so a slow client never slows the fleet or
//! other clients: when it falls behind the channel's capacity, the messages it missed are
//! dropped for it alone and it receives one `lagged` event saying how many, then continues.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};

/// How often an idle stream sends a keep-alive comment, so proxies do not cut it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Turns a subscription into an SSE response: `publish` events with the message as JSON,
/// `lagged` events with the number of messages skipped. The stream ends when the fleet closes
/// the channel (shutdown).
pub(crate) fn publish_stream<T>(
    receiver: broadcast::Receiver<T>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    T: Serialize + Clone + Send + 'static,
{
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(message) => match Event::default().event("publish").json_data(&message) {
                    Ok(event) => event,
                    Err(error) => {
                        // A message that cannot be serialised is a bug upstream; skip it rather
                        // than end every client's stream.
                        tracing::warn!(cause = %error, "publish message not serialisable");
                        continue;
                    }
                },
                Err(RecvError::Lagged(skipped)) => {
                    Event::default().event("lagged").data(skipped.to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), receiver));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
