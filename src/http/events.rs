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

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use futures::StreamExt;

    use super::*;

    /// Reads SSE frames until `count` events have arrived.
    async fn events(response: axum::response::Response, count: usize) -> Vec<String> {
        let mut stream = response.into_body().into_data_stream();
        let mut text = String::new();
        loop {
            let frames: Vec<String> = text
                .split("\n\n")
                .filter(|f| f.starts_with("event:"))
                .map(str::to_string)
                .collect();
            if frames.len() >= count {
                return frames;
            }
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next());
            let chunk = next
                .await
                .unwrap_or_else(|_| panic!("no more events after {text:?}"))
                .expect("more events")
                .expect("readable");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    #[tokio::test]
    async fn a_lagging_client_is_told_how_many_it_missed_and_continues() {
        let (sender, receiver) = broadcast::channel(2);
        for n in 1..=5 {
            sender
                .send(serde_json::json!({ "n": n }))
                .expect("a receiver exists");
        }
        // The channel holds the last two; the client missed three.
        let response = publish_stream(receiver).into_response();
        assert_eq!(
            events(response, 3).await,
            [
                "event: lagged\ndata: 3",
                "event: publish\ndata: {\"n\":4}",
                "event: publish\ndata: {\"n\":5}",
            ]
        );
    }
}
