//! A panic in an engine thread outside any task (here: a component factory,
//! called while the worker thread builds its tasks) stops the whole run
//! with an error naming the thread, instead of leaving the other threads
//! running and `wait` hanging.

mod util;

use std::time::Duration;

use gale_engine::{LocalCluster, RunConfig, RunError, TopologyBuilder};
use util::{config, wait, Numbers};

#[test]
fn a_panic_outside_any_task_stops_the_run_with_an_error() {
    let mut b = TopologyBuilder::new("factory-panics");
    b.set_spout("numbers", Numbers::infinite, 1);
    // The builder calls the factory once to learn the declared streams;
    // the worker thread's call panics.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    b.set_spout(
        "broken",
        move || {
            if calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                panic!("no spout today");
            }
            Numbers::infinite()
        },
        1,
    );
    let topology = b.build().unwrap();
    let running = LocalCluster::new(RunConfig {
        duration: Some(Duration::from_secs(3600)),
        ..config(2, 1 << 16)
    })
    .submit(topology)
    .unwrap();
    match wait(running, "with a panicking factory") {
        Err(RunError::ThreadPanicked { thread, message }) => {
            assert!(thread.starts_with("worker thread"), "{thread}");
            assert!(message.contains("no spout today"), "{message}");
        }
        other => panic!("expected ThreadPanicked, got {other:?}"),
    }
}
