//! Poison events, published straight to the campaign's exchange as a producer would:
//!
//! - an undecodable body (routing key `message.received`): routing cannot read it, so it is
//!   parked at once — by design, without spending the delivery limit;
//! - a decodable `message.declined` of a message routing never routed. Routing's handler
//!   (`reroute_declined`) answers `DbError::Refused`: neither "the database is away" (which
//!   waits without counting) nor "invalid" (parked at once), so it is retried up to the
//!   delivery limit, each attempt failing the same way, and then parked. Deadline-timer, the
//!   other consumer of the type, finds no clock to stop and applies it.
//!
//! Both must land in `<namespace>.routing.parked`, and the flow around them must not wait
//! more than a few seconds.

use std::time::Duration;

use crate::support::AGENCY;
use anyhow::{Context, Result, bail};
use chrono::Utc;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use nazer_shared::events::{Envelope, MessageDeclined};
use nazer_shared::topology;

use crate::report::Row;
use crate::run::{Campaign, Run, Shape};

/// The flow around the poison may be delayed by less than this.
const FLOW_DELAY: f64 = 5.0;

async fn publish(url: &str, namespace: &str) -> Result<(String, String)> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let exchange = format!("{namespace}.events");
    let undecodable = uuid::Uuid::now_v7().to_string();
    let declined = MessageDeclined {
        message_id: uuid::Uuid::now_v7().to_string(),
        tracking_code: "1000000001".into(),
        agency_id: AGENCY.into(),
        reason: "fault campaign: a decline of a message never routed".into(),
        decline_count: 1,
        declined_at: Utc::now(),
    };
    let envelope = Envelope::new("intake", &declined, Utc::now())?;
    let failing = envelope.event_id.to_string();
    let events = [
        ("message.received", undecodable.clone(), b"{\"type\": \"message.received\", \"payload\": ".to_vec()),
        ("message.declined", failing.clone(), envelope.to_bytes()?),
    ];
    for (event_type, id, body) in events {
        let mut headers = FieldTable::default();
        headers.insert("producer".into(), AMQPValue::LongString(LongString::from("intake")));
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(id))
            .with_type(ShortString::from(event_type))
            .with_headers(headers);
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                event_type.into(),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await?
            .await?;
        if !matches!(confirm, Confirmation::Ack(_)) {
            bail!("the broker did not take the {event_type} poison: {confirm:?}");
        }
    }
    let _ = connection.close(200, "poison published".into()).await;
    Ok((undecodable, failing))
}

pub async fn poison(c: &Campaign) -> Result<Row> {
    let mut run = Run::start(c, "poison", Shape { expect_parked: 2, ..Shape::default() }).await?;
    run.at(run.load_secs() / 2.0).await;
    let namespace = run.stack.world.namespace().to_string();
    let fault = run.faults.begin("poison: undecodable + failing decline");
    let published = publish(&c.broker_url, &namespace).await;
    run.faults.end(fault);
    let (_, failing) = published.context("publishing the poison")?;
    // Parked within: the delivery limit's backoffs (0.1 + 0.2 + 0.4 + 0.8 s) and some margin.
    let parking = format!("{namespace}.routing.parked");
    let started = tokio::time::Instant::now();
    let mut parked = 0;
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(queues) = c.broker.queues().await {
            parked = queues.iter().find(|q| q.name == parking).map(|q| q.ready).unwrap_or(0);
            if parked >= 2 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = run.stack.logs_of("routing");
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&failing)).collect();
    let of_failing = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    let (retried, parked_log) = (of_failing("will retry"), of_failing("parking event"));
    let instant = |line: &&str| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str()?).ok()
    };
    let span = match (lines.first().and_then(instant), lines.last().and_then(instant)) {
        (Some(first), Some(last)) => format!("{:.1} s", (last - first).num_milliseconds() as f64 / 1000.0),
        _ => "?".into(),
    };
    let undecodable_logged = logs.lines().filter(|l| l.contains("undecodable event")).count();
    run.notes.push(format!(
        "{parking} holds {parked} after {:.1} s; the failing decline was retried {retried} times, then parked \
         ({parked_log} log line) {span} after its first failure; the undecodable body parked at once \
         ({undecodable_logged} log line)",
        started.elapsed().as_secs_f64()
    ));
    if parked < 2 {
        run.failures.push(format!("{parking} holds {parked} poison events, not 2"));
    }
    let limit = nazer_shared::config::BrokerSettings::default().delivery_limit as usize;
    if retried + 1 != limit || parked_log != 1 {
        run.failures.push(format!(
            "the failing decline was not parked after the delivery limit of {limit} (retried {retried}, parked {parked_log})"
        ));
    }
    let mut row = run.finish().await?;
    // The consumers the poison reaches, beyond what they waited before it (a busy machine
    // waits anyway).
    for consumer in [topology::ROUTING, topology::DEADLINE_TIMER] {
        let before = row.baseline.as_ref().map(|d| d.consumed_by(consumer)).unwrap_or(0.0);
        let Some(delay) = row.faults.first().map(|f| f.delays.consumed_by(consumer)) else { continue };
        row.notes.push(format!("{consumer} took up to {delay:.1} s around the poison, {before:.1} s before it"));
        if delay - before >= FLOW_DELAY {
            row.failures.push(format!(
                "{consumer}'s flow around the poison waited {delay:.1} s, {:.1} s more than before it \
                 (limit {FLOW_DELAY:.0} s)",
                delay - before
            ));
        }
    }
    Ok(row)
}
