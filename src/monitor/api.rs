//! The JSON API, shaped like Storm UI's REST API (`/api/v1/...`): field
//! names are Storm's where Storm has the figure (`spoutId`, `boltId`,
//! `emitted`, `executeLatency`, `capacity`, `componentErrors`...), with
//! Gale's additions (latency percentiles, `backpressureSeconds`,
//! `ringOccupancy`, `rate`, `edges`). Latencies are in milliseconds.

use std::time::{Duration, SystemTime};

use gale_engine::{
    ComponentKind, ComponentMetrics, Counters, ErrorSummary, LatencyStats, TaskMetrics,
    TopologyMetrics, WindowStats,
};
use serde_json::{json, Value as Json};

fn ms(l: &Option<LatencyStats>) -> Json {
    l.as_ref()
        .map_or(json!(0.0), |l| json!(l.mean_ns as f64 / 1e6))
}

fn percentiles(l: &Option<LatencyStats>) -> Json {
    match l {
        None => Json::Null,
        Some(l) => json!({
            "count": l.count,
            "meanMs": l.mean_ns as f64 / 1e6,
            "p50Ms": l.p50_ns as f64 / 1e6,
            "p99Ms": l.p99_ns as f64 / 1e6,
            "p999Ms": l.p999_ns as f64 / 1e6,
            "maxMs": l.max_ns as f64 / 1e6,
        }),
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `1h 2m 3s` (Storm's uptime string).
pub fn pretty(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

fn status(m: &TopologyMetrics) -> &'static str {
    if m.finished {
        "INACTIVE"
    } else {
        "ACTIVE"
    }
}

fn kind(k: ComponentKind) -> &'static str {
    match k {
        ComponentKind::Spout => "spout",
        ComponentKind::Bolt => "bolt",
        ComponentKind::System => "system",
    }
}

fn window_of<'a>(window: &'a [WindowStats], name: &str) -> Option<&'a WindowStats> {
    window.iter().find(|w| w.component == name)
}

fn errors_json(errors: &[ErrorSummary], now: SystemTime) -> Vec<Json> {
    errors
        .iter()
        .map(|e| {
            json!({
                "errorTime": unix_secs(e.last),
                "errorLapsedSecs": now.duration_since(e.last).map_or(0, |d| d.as_secs()),
                "firstErrorTime": unix_secs(e.first),
                "errorHost": "",
                "errorPort": "",
                "errorWorkerLogLink": "",
                "task": e.task,
                "error": e.message,
                "count": e.count,
            })
        })
        .collect()
}

/// The six counters as one JSON object (`emitted`, `transferred`,
/// `executed`, `acked`, `failed`, `errors`): the one writer of counters,
/// used by this API's rows and by `gale run`'s report.
pub fn counters_json(c: &Counters) -> Json {
    json!({
        "emitted": c.emitted,
        "transferred": c.transferred,
        "executed": c.executed,
        "acked": c.acked,
        "failed": c.failed,
        "errors": c.errors,
    })
}

/// The object `fields` with the six counters of `c` added
/// ([`counters_json`]).
pub fn with_counters(c: &Counters, mut fields: Json) -> Json {
    if let (Json::Object(f), Json::Object(counters)) = (&mut fields, counters_json(c)) {
        f.extend(counters);
    }
    fields
}

/// `/api/v1/topology/summary`.
pub fn summary(all: &[TopologyMetrics]) -> Json {
    let topologies: Vec<Json> = all.iter().map(topology_head).collect();
    json!({ "topologies": topologies })
}

/// What the summary and the topology page both say of a topology.
fn topology_head(m: &TopologyMetrics) -> Json {
    json!({
        "id": m.id,
        "name": m.name,
        "status": status(m),
        "uptime": pretty(m.uptime),
        "uptimeSeconds": m.uptime.as_secs(),
        "tasksTotal": m.tasks.len(),
        "executorsTotal": m.tasks.len(),
        "workersTotal": m.workers.len(),
        "host": m.node,
    })
}

/// The summary of one component (a row of the topology page).
fn component_row(m: &TopologyMetrics, c: &ComponentMetrics, window: &[WindowStats]) -> Json {
    let last_error = m.errors.iter().find(|e| e.component == c.name);
    let now = SystemTime::now();
    let mut row = with_counters(
        &c.counters,
        json!({
            "executors": c.tasks.len(),
            "tasks": c.tasks.len(),
            "type": kind(c.kind),
            "lastError": last_error.map_or("", |e| e.message.as_str()),
            "errorLapsedSecs": last_error.and_then(|e| now.duration_since(e.last).ok()).map(|d| d.as_secs()),
            "rate": window_of(window, &c.name).map_or(0.0, |w| w.rate),
            "backpressureSeconds": c.backpressure.as_secs_f64(),
            "ringOccupancy": c.ring_occupancy,
        }),
    );
    match c.kind {
        ComponentKind::Spout => {
            // Storm's spout rows have no `executed`.
            if let Json::Object(r) = &mut row {
                r.remove("executed");
            }
            row["spoutId"] = json!(c.name);
            row["completeLatency"] = ms(&c.complete_latency);
            row["completeLatencyPercentiles"] = percentiles(&c.complete_latency);
        }
        _ => {
            row["boltId"] = json!(c.name);
            // Storm shows capacity over a recent window: the last second.
            let capacity = window_of(window, &c.name).map_or(c.capacity, |w| w.capacity);
            row["capacity"] = json!(capacity);
            row["capacitySinceStart"] = json!(c.capacity);
            row["executeLatency"] = ms(&c.execute_latency);
            row["processLatency"] = ms(&c.process_latency);
            row["executeLatencyPercentiles"] = percentiles(&c.execute_latency);
            row["processLatencyPercentiles"] = percentiles(&c.process_latency);
        }
    }
    row
}

/// `/api/v1/topology/<id>`; `window` has each component's rate and
/// capacity over the last window (see [`TopologyMetrics::window_since`]).
pub fn topology(m: &TopologyMetrics, window: &[WindowStats]) -> Json {
    let of = |k: ComponentKind| -> Vec<Json> {
        m.components
            .iter()
            .filter(|c| c.kind == k)
            .map(|c| component_row(m, c, window))
            .collect()
    };
    let spouts = m
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Spout);
    let complete = spouts
        .filter_map(|c| c.complete_latency.as_ref())
        .map(|l| l.mean_ns as f64 / 1e6)
        .fold(0.0, f64::max);
    let totals = m.node_totals();
    let spout_totals = m
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Spout)
        .fold((0, 0, 0, 0), |a, c| {
            (
                a.0 + c.counters.emitted,
                a.1 + c.counters.transferred,
                a.2 + c.counters.acked,
                a.3 + c.counters.failed,
            )
        });
    let edges: Vec<Json> = m
        .components
        .iter()
        .flat_map(|c| {
            c.inputs
                .iter()
                .filter(|i| i.grouping != "system")
                .map(|i| {
                    json!({
                        "from": i.component,
                        "to": c.name,
                        "stream": i.stream,
                        "grouping": i.grouping,
                        "executed": i.executed,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut page = topology_head(m);
    let rest = json!({
        "metricsEnabled": m.config.enabled,
        "sampleRate": m.config.sample_rate,
        "minSampleIntervalNs": u64::try_from(m.config.min_sample_interval.as_nanos()).unwrap_or(u64::MAX),
        "topologyStats": [{
            "windowPretty": "All time",
            "window": ":all-time",
            "emitted": spout_totals.0,
            "transferred": spout_totals.1,
            "acked": spout_totals.2,
            "failed": spout_totals.3,
            "completeLatency": complete,
        }],
        "nodeTotals": counters_json(&totals),
        "spouts": of(ComponentKind::Spout),
        "bolts": of(ComponentKind::Bolt),
        "systemComponents": of(ComponentKind::System),
        "edges": edges,
        "workers": m.workers.iter().map(|w| json!({
            "index": w.index,
            "tasks": w.tasks,
            "ringBytes": w.ring_bytes,
            "ringCapacity": w.ring_capacity,
            "overflowBytes": w.overflow_bytes,
            "backpressureSeconds": w.backpressure.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "metrics": m.samples.iter().map(|s| json!({
            "name": s.name,
            "labels": s.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "value": s.value,
        })).collect::<Vec<_>>(),
        "topologyErrors": errors_json(&m.errors, SystemTime::now()),
    });
    if let (Json::Object(page), Json::Object(rest)) = (&mut page, rest) {
        page.extend(rest);
    }
    page
}

fn executor(t: &TaskMetrics, m: &TopologyMetrics) -> Json {
    with_counters(
        &t.counters,
        json!({
            "id": format!("[{}-{}]", t.id, t.id),
            "task": t.id,
            "worker": t.thread,
            "host": m.node,
            "uptime": pretty(m.uptime),
            "uptimeSeconds": m.uptime.as_secs(),
            "capacity": t.capacity,
            "executeLatency": ms(&t.execute_latency),
            "processLatency": ms(&t.process_latency),
            "completeLatency": ms(&t.complete_latency),
        }),
    )
}

/// `/api/v1/topology/<id>/component/<component>`, or `None` if there is no
/// such component.
pub fn component(m: &TopologyMetrics, name: &str, window: &[WindowStats]) -> Option<Json> {
    let c = m.component(name)?;
    let mut doc = component_row(m, c, window);
    let errors: Vec<ErrorSummary> = m
        .errors
        .iter()
        .filter(|e| e.component == name)
        .cloned()
        .collect();
    doc["id"] = json!(c.name);
    doc["name"] = json!(m.name);
    doc["topologyId"] = json!(m.id);
    doc["componentType"] = json!(kind(c.kind));
    doc["outputStats"] = c
        .outputs
        .iter()
        .map(|o| json!({"stream": o.stream, "emitted": o.emitted, "transferred": o.transferred}))
        .collect();
    doc["inputStats"] = c
        .inputs
        .iter()
        .map(|i| {
            json!({
                "component": i.component,
                "stream": i.stream,
                "grouping": i.grouping,
                "executed": i.executed,
                "acked": i.acked,
                "failed": i.failed,
            })
        })
        .collect();
    doc["executorStats"] = m
        .tasks
        .iter()
        .filter(|t| t.component == name)
        .map(|t| executor(t, m))
        .collect();
    doc["componentErrors"] = json!(errors_json(&errors, SystemTime::now()));
    Some(doc)
}
