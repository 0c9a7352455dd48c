//! One delivery attempt: POST the event's body to the client's webhook URL with the signed
//! headers, and read the answer.
//!
//! Any status outside 2xx, a timeout, a refused address or a transport error is a failure.
//! Redirects are not followed (a 3xx is a failure). The answer is read up to [`MAX_ANSWER_BYTES`]
//! and parsed as JSON if it is JSON; a 2xx with no or non-JSON body still counts as delivered.

use super::policy::PolicyResolver;
use super::signing;
use crate::services::webhook_url;
use crate::store::outbox::OutboxRecord;
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// Answers longer than this are not parsed (the fields we read are short).
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Everything one attempt needs.
#[derive(Debug)]
pub struct DeliveryRequest<'a> {
    pub url: &'a str,
    /// The client's API key: sent as `X-Api-Key` and the HMAC key.
    pub api_key: &'a str,
    pub record: &'a OutboxRecord,
    pub timestamp_secs: i64,
    pub timeout: Duration,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Delivered { status: u16, answer: Option<Value> },
    Failed { status: Option<u16>, error: String },
}

/// The agent every attempt of a worker uses: policy-checking resolver, no redirects, no proxy,
/// a few pooled connections per receiver.
pub fn build_agent(resolver: PolicyResolver) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .resolver(resolver)
        .redirects(0)
        .max_idle_connections(32)
        .max_idle_connections_per_host(4)
        .user_agent(concat!("chattu-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends one attempt (blocking, bounded by `request.timeout`).
pub fn attempt(agent: &ureq::Agent, request: &DeliveryRequest<'_>) -> AttemptResult {
    if let Err(e) = webhook_url::parse(request.url) {
        return AttemptResult::Failed {
            status: None,
            error: format!("invalid webhook URL: {e}"),
        };
    }
    let record = request.record;
    let signature = signing::sign(request.api_key, request.timestamp_secs, &record.body);
    let result = agent
        .post(request.url)
        .timeout(request.timeout)
        .set("Content-Type", "application/json")
        .set("X-Api-Key", request.api_key)
        .set("X-Chattu-Event", &record.event)
        .set("X-Chattu-Event-Id", &record.event_id)
        .set("X-Chattu-Sequence", &record.seq.to_string())
        .set("X-Chattu-Timestamp", &request.timestamp_secs.to_string())
        .set("X-Chattu-Signature", &signature)
        .send_string(&record.body);
    match result {
        Ok(response) => {
            let status = response.status();
            let answer = read_answer(response);
            if (200..300).contains(&status) {
                AttemptResult::Delivered {
                    status,
                    answer: answer.and_then(|bytes| serde_json::from_slice(&bytes).ok()),
                }
            } else {
                AttemptResult::Failed {
                    status: Some(status),
                    error: format!("HTTP {status} (redirects are not followed)"),
                }
            }
        }
        Err(ureq::Error::Status(status, response)) => {
            drop(read_answer(response));
            AttemptResult::Failed {
                status: Some(status),
                error: format!("HTTP {status}"),
            }
        }
        Err(ureq::Error::Transport(transport)) => AttemptResult::Failed {
            status: None,
            error: describe_transport(&transport),
        },
    }
}

/// Reads the answer to the end (so the connection can be reused) if it is small enough.
fn read_answer(response: ureq::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut reader = response.into_reader().take(MAX_ANSWER_BYTES + 1);
    reader.read_to_end(&mut body).ok()?;
    if body.len() as u64 > MAX_ANSWER_BYTES {
        return None;
    }
    Some(body)
}

/// ureq's message plus the underlying cause (e.g. the policy refusal or "timed out").
fn describe_transport(transport: &ureq::Transport) -> String {
    let mut text = transport.to_string();
    let mut source = std::error::Error::source(transport);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
