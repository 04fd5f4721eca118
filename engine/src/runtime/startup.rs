//! Starting a topology: [`launch`] makes the rings between this node's
//! worker threads (and to and from the link), builds each worker on its own
//! thread, and starts the [`Coordinator`] it is given.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Instant, SystemTime};

use gale_transport::link::{Link, LinkRings};
use gale_transport::ring;

use super::chain::Chain;
use super::collector::panic_message;
use super::config::RunConfig;
use super::coordinator::Coordinator;
use super::error::{RunError, TaskError};
use super::outbox::{Outbound, Outbox};
use super::output::{Emitter, StreamOut};
use super::plan::Plan;
use super::recorder::MetricsStore;
use super::running::RunningTopology;
use super::shared::Shared;
use super::tracking::Tracking;
use super::worker::{Core, FlushClock, Inbound, Instance, TaskSlot, Worker};
use crate::acker::{Acker, SpoutPending};
use crate::grouping::Router;
use crate::topology::Kind;

/// The rings between this node's workers and its link: filled in by
/// `launch`, handed to `start_link` before the workers start.
pub(crate) type LinkStarter<'a> = &'a mut dyn FnMut(LinkRings) -> Result<Link, RunError>;

/// Starts the workers of `plan` (this node's threads) and the coordinator.
/// With pinning, worker `i` goes to core `(first_core + i) % cores`. With
/// `link`, each worker also gets an outbound ring per peer node and an
/// inbound ring from the link, which `link` starts. `coordinator` then
/// runs on a thread of its own until the workers have exited.
pub(crate) fn launch(
    plan: Arc<Plan>,
    config: &RunConfig,
    first_core: usize,
    link: Option<LinkStarter<'_>>,
    coordinator: Coordinator,
) -> Result<RunningTopology, RunError> {
    let config = config.clone();
    let threads = plan.threads;
    if let Some(handoff) = &config.handoff {
        // Spouts parked by the run this one replaces: those whose task is
        // not on this node any more are closed now, before the workers
        // take theirs.
        let places: Vec<_> = plan
            .tasks
            .iter()
            .filter(|t| plan.is_local(t))
            .filter_map(|t| {
                let c = &plan.topology.components[t.component];
                c.is_spout()
                    .then(|| (c.name.clone(), t.index, c.parallelism))
            })
            .collect();
        handoff.close_except(&places);
    }
    let store = MetricsStore::new(config.metrics.clone(), &plan, threads);
    let shared = Arc::new(Shared::new(threads, plan.tasks.len(), store));
    // SYNC: Release pairs with the Acquire load in `Shared::inactive` (the
    // workers, spawned below, read it).
    shared
        .inactive
        .store(config.start_inactive, Ordering::Release);
    tracing::info!(
        topology = plan.topology.name,
        tasks = plan.tasks.len(),
        threads,
        "starting topology"
    );

    // rings[from][to]
    let ring_config = config.ring_config();
    let mut producers: Vec<Vec<Option<Outbound>>> = (0..threads).map(|_| Vec::new()).collect();
    let mut consumers: Vec<Vec<Inbound>> = (0..threads).map(|_| Vec::new()).collect();
    for (from, outs) in producers.iter_mut().enumerate() {
        for (to, ins) in consumers.iter_mut().enumerate() {
            if from == to {
                outs.push(None);
                continue;
            }
            let (tx, rx) = ring(ring_config)?;
            outs.push(Some(Outbound::new(tx)));
            ins.push(Inbound::from_worker(rx));
        }
    }
    let link = match link {
        None => None,
        Some(start) => {
            // Outbound ring `threads + i` of each worker goes to peer i.
            let mut rings = LinkRings {
                outbound: Vec::with_capacity(plan.peers.len()),
                inbound: Vec::with_capacity(threads),
            };
            // Record batches to the link, and runs of them out of a
            // peer's frames, have the same layout (`InboundRecords`) and
            // the same record limit.
            for &peer in &plan.peers {
                let mut per_thread = Vec::with_capacity(threads);
                for outs in producers.iter_mut() {
                    let (tx, rx) = ring(ring_config)?;
                    outs.push(Some(Outbound::new(tx)));
                    per_thread.push(rx);
                }
                rings.outbound.push((peer, per_thread));
            }
            for ins in consumers.iter_mut() {
                let (tx, rx) = ring(ring_config)?;
                ins.push(Inbound::from_link(rx));
                rings.inbound.push(tx);
            }
            Some(start(rings)?)
        }
    };

    let cores = if config.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let started = SystemTime::now();
    let mut handles = Vec::with_capacity(threads);
    for (index, (outbound, inbound)) in producers.into_iter().zip(consumers).enumerate() {
        let core = cores
            .get((first_core + index) % cores.len().max(1))
            .copied();
        let (w_plan, w_shared, w_config) = (Arc::clone(&plan), Arc::clone(&shared), config.clone());
        let spawned = thread::Builder::new()
            .name(format!("gale-worker-{index}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                // Built on its own thread, so everything the worker
                // writes per tuple comes from this thread's allocator
                // arena, away from other workers' cache lines.
                // Tasks' panics are caught around each call; one outside a
                // task (the engine's own) stops the run with an error too.
                let shared = Arc::clone(&w_shared);
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    build_worker(&w_plan, &w_shared, &w_config, index, outbound, inbound).run()
                }));
                if let Err(payload) = run {
                    shared.fail(TaskError {
                        component: format!("worker thread {index}"),
                        task: 0,
                        message: panic_message(&*payload),
                    });
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(source) => {
                shared.stop.store(true, Ordering::Release);
                for h in handles {
                    let _ = h.join();
                }
                if let Some(link) = link {
                    link.stop();
                }
                return Err(RunError::Spawn {
                    thread: index,
                    source,
                });
            }
        }
    }
    let coordinator = {
        let shared = Arc::clone(&shared);
        let link_stats = link.as_ref().map(Link::stats_handle);
        thread::Builder::new()
            .name("gale-coordinator".into())
            .spawn(move || coordinator(&shared, handles, start, link_stats.as_ref()))
            .map_err(|source| RunError::Spawn {
                thread: threads,
                source,
            })?
    };
    Ok(RunningTopology::new(
        plan,
        shared,
        (start, started),
        coordinator,
        link,
    ))
}

fn build_worker(
    plan: &Arc<Plan>,
    shared: &Arc<Shared>,
    config: &RunConfig,
    index: usize,
    outbound: Vec<Option<Outbound>>,
    inbound: Vec<Inbound>,
) -> Worker {
    // Move the ring ends (whose cached indices change per record) into
    // allocations of this thread.
    // (`collect` would reuse the old buffer; `extend` copies into a new one.)
    let outbound = {
        let mut v = Vec::with_capacity(outbound.len());
        v.extend(outbound);
        v
    };
    let inbound = {
        let mut v = Vec::with_capacity(inbound.len());
        v.extend(inbound);
        v
    };
    let ids: Vec<u32> = plan.thread_tasks(index).collect();
    let thread_of: Vec<usize> = std::iter::once(index)
        .chain(plan.tasks.iter().map(|t| plan.destination(t)))
        .collect();
    let mut slot_of = vec![usize::MAX; plan.tasks.len() + 1];
    let mut tasks = Vec::with_capacity(ids.len());
    let mut bolts = Vec::with_capacity(ids.len());
    let mut streams = Vec::with_capacity(ids.len());
    for (slot, &id) in ids.iter().enumerate() {
        slot_of[id as usize] = slot;
        let info = &plan.tasks[id as usize - 1];
        let component = &plan.topology.components[info.component];
        // A spout parked by the run this one replaces keeps its instance.
        let carried = match &component.kind {
            Kind::Spout(_) => config
                .handoff
                .as_ref()
                .and_then(|h| h.take(&component.name, info.index, component.parallelism)),
            _ => None,
        };
        let reopen = carried.is_none();
        let (instance, bolt) = match (&component.kind, carried) {
            (Kind::Spout(_), Some(spout)) => (Instance::Spout(spout), None),
            (Kind::Spout(f), None) => (Instance::Spout(f()), None),
            (Kind::Bolt(f), _) => (Instance::Bolt, Some(f())),
            (Kind::Acker, _) => (
                Instance::Acker(Box::new(Acker::new(plan.spout_tasks()))),
                None,
            ),
        };
        bolts.push(bolt);
        let tick = component
            .config
            .tick_interval
            .filter(|_| !component.is_spout())
            .map(|every| (every, Instant::now() + every));
        tasks.push(TaskSlot {
            id,
            instance,
            done: false,
            tick,
            reopen,
        });
        // Each output stream with one router per subscription.
        let outs = plan.stream_ids[info.component]
            .iter()
            .zip(&component.streams)
            .map(|((name, sid), decl)| {
                let routes = plan.routes[*sid as usize]
                    .iter()
                    .map(|route| {
                        let local = local_targets(plan, &route.targets, index);
                        let mut router = Router::new(
                            &route.grouping,
                            &route.targets,
                            &local,
                            route.key.clone(),
                            info.index,
                        );
                        if plan.topology.config.load_aware {
                            router.balance_by_load(|t| {
                                let info = plan.task(t).filter(|i| plan.is_local(i))?;
                                Some(info.thread)
                            });
                        }
                        (router, route.targets.clone())
                    })
                    .collect();
                StreamOut::new(name.clone(), *sid, decl, routes, |t| {
                    thread_of.get(t as usize).copied().unwrap_or(index)
                })
            })
            .collect();
        streams.push(outs);
    }
    let chain = Chain::new(
        ids.iter()
            .zip(&bolts)
            .filter(|(_, b)| b.is_some())
            .map(|(&id, _)| id),
        plan.tasks.len(),
        config.chain,
    );
    let outbox = Outbox::new(index, thread_of, outbound, chain);
    let tracking = Tracking::new(plan.acker_tasks(), seed(index));
    let pending = ids
        .iter()
        .map(|&id| {
            let component = &plan.topology.components[plan.tasks[id as usize - 1].component];
            component.is_spout().then(|| {
                let seed = seed(index) ^ u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                SpoutPending::new(id, plan.topology.config.message_timeout, seed)
            })
        })
        .collect();
    let max_pending = ids
        .iter()
        .map(|&id| {
            let component = &plan.topology.components[plan.tasks[id as usize - 1].component];
            component
                .max_spout_pending(plan.topology.config.max_spout_pending)
                .unwrap_or(usize::MAX)
        })
        .collect();
    // Each task's first subscribed stream: its per-stream input counts
    // are settled from the totals (TaskRecorder).
    let main_inputs: Vec<Option<u32>> = ids
        .iter()
        .map(|&id| {
            let component = &plan.topology.components[plan.tasks[id as usize - 1].component];
            let first = component.inputs.first()?;
            plan.subscribed_stream(first)
        })
        .collect();
    let emitter = Emitter::new(
        Arc::clone(plan),
        Arc::clone(shared),
        bolts,
        slot_of,
        outbox,
        tracking,
        streams,
        &main_inputs,
        pending,
    );
    Worker {
        index,
        core: Core {
            plan: Arc::clone(plan),
            shared: Arc::clone(shared),
            tasks,
            emitter,
            processed: 0,
            max_pending,
            polled: Vec::new(),
            flushes: FlushClock::new(config.flush_interval),
        },
        inbound,
        config: config.clone(),
    }
}

/// The targets a local-or-shuffle grouping prefers for an emitter on
/// worker `thread` of this node: those on the same thread, else those on
/// the same node (empty: none is local, shuffle over all).
fn local_targets(plan: &Plan, targets: &[u32], thread: usize) -> Vec<u32> {
    let info = |t: &u32| &plan.tasks[*t as usize - 1];
    let same_thread: Vec<u32> = targets
        .iter()
        .filter(|t| plan.is_local(info(t)) && info(t).thread == thread)
        .copied()
        .collect();
    if !same_thread.is_empty() {
        return same_thread;
    }
    targets
        .iter()
        .filter(|t| plan.is_local(info(t)))
        .copied()
        .collect()
}

/// A seed for a worker's id generator: distinct per worker and per run.
fn seed(worker: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id())
}
