//! `GET /api/events`: the fleet's publish messages and settled writes as a server-sent event
//! stream.
//!
//! Two kinds of event, interleaved as they happen: `publish`, one per scrape (the message as
//! JSON), and `write`, one per write as it settles (its entry in the write log, as
//! `GET /api/writes/{id}` shows it), so a caller answered `pending` can wait for the outcome.
//!
//! Each client reads its own `broadcast::Receiver`s, so a slow client never slows the fleet or
//! other clients: when it falls behind a channel's capacity, the messages it missed are dropped
//! for it alone and it receives one `lagged` (publishes) or `write_lagged` (writes) event
//! saying how many, then continues.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};

/// How often an idle stream sends a keep-alive comment, so proxies do not cut it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Turns the two subscriptions into an SSE response (see the module doc). The stream ends when
/// the fleet closes the publish channel (shutdown).
pub(crate) fn event_stream<P, W>(
    publishes: broadcast::Receiver<P>,
    writes: broadcast::Receiver<W>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    P: Serialize + Clone + Send + 'static,
    W: Serialize + Clone + Send + 'static,
{
    // The publish channel closes on shutdown and ends the stream; the write log's lives as
    // long as any handle on the fleet (this server's included), so it never does first.
    let publishes = events_of(publishes, "publish", "lagged")
        .map(Some)
        .chain(futures::stream::once(std::future::ready(None)));
    let writes = events_of(writes, "write", "write_lagged").map(Some);
    let merged = futures::stream::select(publishes, writes)
        .take_while(|event| std::future::ready(event.is_some()))
        .filter_map(std::future::ready);
    Sse::new(merged).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// One channel's messages as `name` events, with a `lagged` event for each skip.
fn events_of<T>(
    receiver: broadcast::Receiver<T>,
    name: &'static str,
    lagged: &'static str,
) -> impl Stream<Item = Result<Event, Infallible>>
where
    T: Serialize + Clone + Send + 'static,
{
    futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(message) => match Event::default().event(name).json_data(&message) {
                    Ok(event) => event,
                    Err(error) => {
                        // A message that cannot be serialised is a bug upstream; skip it rather
                        // than end every client's stream.
                        tracing::warn!(event = name, cause = %error, "event not serialisable");
                        continue;
                    }
                },
                Err(RecvError::Lagged(skipped)) => {
                    Event::default().event(lagged).data(skipped.to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), receiver));
        }
    })
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
        let (_writes, no_writes) = broadcast::channel::<serde_json::Value>(1);
        for n in 1..=5 {
            sender
                .send(serde_json::json!({ "n": n }))
                .expect("a receiver exists");
        }
        // The channel holds the last two; the client missed three.
        let response = event_stream(receiver, no_writes).into_response();
        assert_eq!(
            events(response, 3).await,
            [
                "event: lagged\ndata: 3",
                "event: publish\ndata: {\"n\":4}",
                "event: publish\ndata: {\"n\":5}",
            ]
        );
    }

    #[tokio::test]
    async fn settled_writes_come_as_write_events_between_publishes() {
        let (publishes, publish_receiver) = broadcast::channel::<serde_json::Value>(4);
        let (writes, write_receiver) = broadcast::channel(4);
        let response = event_stream(publish_receiver, write_receiver).into_response();
        writes
            .send(serde_json::json!({"write": 7, "outcome": "confirmed"}))
            .expect("a receiver exists");
        let mut frames = events(response, 1).await;
        assert_eq!(
            frames.pop().as_deref(),
            Some("event: write\ndata: {\"outcome\":\"confirmed\",\"write\":7}")
        );
        drop(publishes);
    }
}
