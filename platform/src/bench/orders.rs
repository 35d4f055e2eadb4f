//! `millwright bench orders`: C2B custom orders at scale. A plant of `lines` lines (four line
//! kinds, two machines a line, three shifts a day in Asia/Shanghai) and `orders` open orders
//! placed on them through the store (each under its lines' locks, as the API does); then
//!
//! - quote latency over HTTP (the storefront's `POST /shop/quotes`, which reads the whole
//!   schedule of the routing's lines and plans the order through the shift calendars), p50
//!   and p99 of `quotes` requests, beside the same quotes on the empty plant measured first
//!   in the same run (the reference);
//! - scheduling `orders` orders at once earliest-due-date first on the plant's machines (the
//!   pure scheduler), beside the same orders placed in arrival order, with the largest
//!   lateness of each.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, NaiveTime, Utc};
use serde_json::json;

use super::{progress, BenchDb};
use crate::api::Server;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::mes::calendar::{BreakDef, ShiftDef};
use crate::orders::schedule::{self, Job, Need};
use crate::orders::template::TemplateSpec;
use crate::store::entities::{EntityFields, Kind};
use crate::store::mes::plan::SiteCalendar;
use crate::store::orders::flow::{OrderOutcome, QuoteOutcome};

/// Figures of one run.
#[derive(Debug, Clone)]
pub struct OrderFigures {
    /// Quote p99 with the open orders, milliseconds.
    pub quote_p99_ms: f64,
    /// Quote p99 on the empty plant, milliseconds.
    pub empty_p99_ms: f64,
    /// Scheduling the batch earliest due date first, milliseconds.
    pub edd_ms: f64,
}

const KINDS: [&str; 4] = ["cutting_table", "sewing", "assembly", "cnc"];

fn shifts() -> Vec<ShiftDef> {
    let hm = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid time");
    [
        ("early", 6, 14, 10),
        ("late", 14, 22, 18),
        ("night", 22, 6, 2),
    ]
    .into_iter()
    .map(|(name, s, e, b)| ShiftDef {
        name: name.into(),
        start: hm(s),
        end: hm(e),
        weekdays: (1..=7).collect(),
        breaks: vec![BreakDef {
            start: hm(b),
            minutes: 30,
        }],
    })
    .collect()
}

fn template(code: &str, a: &str, b: &str) -> Result<TemplateSpec> {
    serde_json::from_value(json!({
        "code": code, "name": code, "currency": "CNY", "base_price_minor": 10000,
        "options": [
            {"key": "size", "type": "number", "min": 1, "max": 10, "step": 1, "price_minor_per_step": 500},
            {"key": "finish", "type": "choice", "choices": [{"value": "plain"}, {"value": "fine", "price_minor": 2000}]}
        ],
        "quantity": {"min": 1, "max": 50},
        "quantity_breaks": [{"min_quantity": 10, "percent_off_bp": 800}],
        "routing": [
            {"line_kind": a, "setup_secs": 300, "cycle_secs": 120},
            {"line_kind": b, "cycle_secs": 240, "adjustments": [
                {"if": {"option": "finish", "in": ["fine"]}, "add_secs": 60},
                {"if": {"option": "size", "at_least": 6}, "secs_per_option_unit": 10}]}
        ]
    }))
    .map_err(|e| Error::Bench(format!("template: {e}")))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Quote latencies over HTTP, sorted, milliseconds.
async fn quotes(url: &str, key: &str, templates: &[i64], n: usize) -> Result<Vec<f64>> {
    let http = reqwest::Client::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({
            "template_id": templates[i % templates.len()],
            "quantity": 1 + (i % 20) as i64,
            "configuration": {"size": 1 + (i % 10) as i64, "finish": if i % 3 == 0 { "fine" } else { "plain" }}
        });
        let t = Instant::now();
        let res = http
            .post(format!("{url}/api/v1/shop/quotes"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Bench(format!("quote: {e}")))?;
        let status = res.status();
        let _ = res.bytes().await;
        if status != reqwest::StatusCode::CREATED {
            return Err(Error::Bench(format!("quote answered {status}")));
        }
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Builds the plant, measures, prints.
pub async fn run(
    mut settings: Settings,
    lines: usize,
    orders: usize,
    n_quotes: usize,
) -> Result<OrderFigures> {
    let lines = lines.max(KINDS.len());
    let db = BenchDb::create(settings.clone(), 0).await?;
    let mut session = db.store.tenant(db.tenant).await?.acting_as("bench");
    let named = |name: String| EntityFields {
        name: Some(name),
        ..Default::default()
    };
    let site = session
        .create(Kind::Site, &named("orders-site".into()))
        .await?
        .id();
    session
        .put_site_calendar(&SiteCalendar {
            site_id: site,
            time_zone: "Asia/Shanghai".into(),
            shifts: shifts(),
            days_off: Vec::new(),
            updated_at: None,
        })
        .await?;
    for l in 0..lines {
        let kind = KINDS[l % KINDS.len()];
        let line = session
            .create(
                Kind::Line,
                &EntityFields {
                    parent_id: Some(site),
                    ..named(format!("{kind} line {l}"))
                },
            )
            .await?
            .id();
        for m in 0..2 {
            session
                .create(
                    Kind::Machine,
                    &EntityFields {
                        parent_id: Some(line),
                        kind: Some(kind.into()),
                        ..named(format!("{kind}-{l}-{m}"))
                    },
                )
                .await?;
        }
    }
    let mut templates = Vec::new();
    for (i, (a, b)) in [
        ("cutting_table", "sewing"),
        ("assembly", "cnc"),
        ("cnc", "assembly"),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = template(&format!("T{i}"), a, b)?;
        let t = session
            .create_order_template(&spec)
            .await?
            .ok_or_else(|| Error::Bench("template code taken".into()))?;
        templates.push(t.id);
    }
    let key = db.store.issue_storefront_key(db.tenant, "bench").await?;
    settings.http.listen = "127.0.0.1:0".parse().expect("valid address");
    let server = Server::bind(db.store.clone(), Arc::new(settings))
        .await?
        .spawn();
    let url = format!("http://{}", server.addr);

    progress(&format!(
        "quoting {n_quotes} times on the empty plant (reference)"
    ));
    let empty = quotes(&url, &key, &templates, n_quotes).await?;

    progress(&format!("placing {orders} orders on {lines} lines"));
    let t = Instant::now();
    let mut placed = 0;
    for i in 0..orders {
        let config = json!({"size": 1 + (i % 10) as i64, "finish": if i % 2 == 0 { "fine" } else { "plain" }});
        let config = config.as_object().cloned().unwrap_or_default();
        let QuoteOutcome::Quoted(o) = session
            .quote_order(
                templates[i % templates.len()],
                &config,
                1 + (i % 20) as i64,
                None,
                Utc::now(),
            )
            .await?
        else {
            return Err(Error::Bench("a bench order was not quoted".into()));
        };
        let mut outcome = session
            .place_order(&o.token, &json!({}), Utc::now())
            .await?;
        if let OrderOutcome::NewDate { .. } = outcome {
            outcome = session
                .place_order(&o.token, &json!({}), Utc::now())
                .await?;
        }
        if matches!(outcome, OrderOutcome::Done(_)) {
            placed += 1;
        }
    }
    let place_ms = t.elapsed().as_secs_f64() * 1000.0;
    if placed != orders {
        return Err(Error::Bench(format!(
            "only {placed} of {orders} orders were scheduled"
        )));
    }

    progress(&format!(
        "quoting {n_quotes} times with {orders} open orders"
    ));
    let loaded = quotes(&url, &key, &templates, n_quotes).await?;
    server.stop().await;

    progress(&format!("scheduling {orders} orders at once"));
    let now = Utc::now();
    let kinds: Vec<String> = KINDS.iter().map(|k| k.to_string()).collect();
    let machines = {
        let tx = session.begin().await?;
        crate::store::orders::flow::load_machines(&tx, db.tenant, &kinds, now).await?
    };
    let empty_machines: Vec<_> = machines
        .into_iter()
        .map(|mut m| {
            m.booked_until = now;
            m
        })
        .collect();
    let routes = [
        ("cutting_table", "sewing"),
        ("assembly", "cnc"),
        ("cnc", "assembly"),
    ];
    let jobs: Vec<Job> = (0..orders)
        .map(|i| {
            let (a, b) = routes[i % routes.len()];
            let q = 1.0 + (i % 20) as f64;
            Job {
                id: i as i64,
                // Due dates scattered over two weeks, not in arrival order.
                due: Some(now + Duration::hours(24 + ((i * 7919) % 336) as i64)),
                earliest: now,
                needs: vec![
                    Need {
                        line_kind: a.into(),
                        secs: 300.0 + q * 120.0,
                    },
                    Need {
                        line_kind: b.into(),
                        secs: q * 300.0,
                    },
                ],
                ship_buffer: Duration::zero(),
            }
        })
        .collect();
    let mut edd_runs = Vec::new();
    let mut fcfs_runs = Vec::new();
    let (mut edd_late, mut fcfs_late) = (0.0, 0.0);
    for _ in 0..3 {
        let mut ms = empty_machines.clone();
        let t = Instant::now();
        let plans = schedule::schedule_edd(&mut ms, jobs.clone());
        edd_runs.push(t.elapsed().as_secs_f64() * 1000.0);
        edd_late = schedule::max_lateness(&jobs, &plans).unwrap_or(0.0) / 3600.0;
        let mut ms = empty_machines.clone();
        let t = Instant::now();
        let mut plans = Vec::with_capacity(jobs.len());
        for j in &jobs {
            let p = schedule::plan(&ms, &j.needs, j.earliest, j.ship_buffer);
            if let Ok(p) = &p {
                schedule::book(&mut ms, p);
            }
            plans.push((j.id, p));
        }
        fcfs_runs.push(t.elapsed().as_secs_f64() * 1000.0);
        fcfs_late = schedule::max_lateness(&jobs, &plans).unwrap_or(0.0) / 3600.0;
    }
    edd_runs.sort_by(f64::total_cmp);
    fcfs_runs.sort_by(f64::total_cmp);
    let figures = OrderFigures {
        quote_p99_ms: pct(&loaded, 0.99),
        empty_p99_ms: pct(&empty, 0.99),
        edd_ms: edd_runs[1],
    };
    println!(
        "orders_lines={lines} orders_machines={} orders_open={orders} quotes={n_quotes} quote_p50_ms={:.1} quote_p99_ms={:.1} empty_quote_p50_ms={:.1} empty_quote_p99_ms={:.1}",
        empty_machines.len(),
        pct(&loaded, 0.5),
        figures.quote_p99_ms,
        pct(&empty, 0.5),
        figures.empty_p99_ms,
    );
    println!(
        "schedule_orders={orders} schedule_edd_ms={:.1} schedule_arrival_order_ms={:.1} max_lateness_edd_h={edd_late:.1} max_lateness_arrival_order_h={fcfs_late:.1} place_orders={orders} place_ms={place_ms:.0} place_per_order_ms={:.1}",
        figures.edd_ms,
        fcfs_runs[1],
        place_ms / orders.max(1) as f64,
    );
    Ok(figures)
}
