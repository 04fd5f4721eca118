//! A child's stdin: the worker thread appends bytes without blocking, and
//! a thread of the child's writes them to the pipe, everything appended
//! meanwhile in one write. A buffer under a mutex, not a channel of
//! messages: the worker's bytes join the buffer however many messages
//! they hold, and the thread sleeps on a condition variable (no spinning,
//! and a wake-up only when it waits).

use std::io::Write;
use std::process::ChildStdin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

/// Largest buffer kept between writes (a bigger one, from a burst, is let
/// go).
const KEEP: usize = 1 << 20;

/// The worker's end of a child's stdin. Dropping it (or [`close`]) ends
/// the writing thread once it has written what it holds.
///
/// [`close`]: Self::close
pub(crate) struct StdinWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Bytes not yet taken by the thread.
    bytes: Vec<u8>,
    /// The thread waits for bytes (a write must wake it).
    waiting: bool,
    /// No more bytes: closed by the worker, or the pipe broke.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StdinWriter {
    /// Starts the thread `name` writing to `stdin`.
    pub(crate) fn spawn(stdin: ChildStdin, name: String) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            wake: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        thread::Builder::new()
            .name(name)
            .spawn(move || write_loop(stdin, &theirs))?;
        Ok(Self { shared })
    }

    /// Hands `bytes` (left empty) to the thread; dropped if the pipe broke
    /// (the reader reports the child's exit).
    pub(crate) fn write(&self, bytes: &mut Vec<u8>) {
        let mut state = self.shared.lock();
        if state.closed {
            bytes.clear();
            return;
        }
        if state.bytes.is_empty() {
            std::mem::swap(&mut state.bytes, bytes);
        } else {
            state.bytes.append(bytes);
        }
        if state.waiting {
            state.waiting = false;
            self.shared.wake.notify_one();
        }
    }

    /// No more bytes: the thread ends after writing what it holds.
    pub(crate) fn close(&self) {
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for StdinWriter {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(mut stdin: ChildStdin, shared: &Shared) {
    let mut taken = Vec::new();
    loop {
        {
            let mut state = shared.lock();
            while state.bytes.is_empty() && !state.closed {
                state.waiting = true;
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.bytes.is_empty() {
                return; // closed, all written
            }
            std::mem::swap(&mut state.bytes, &mut taken);
        }
        if stdin
            .write_all(&taken)
            .and_then(|()| stdin.flush())
            .is_err()
        {
            let mut state = shared.lock();
            state.closed = true;
            state.bytes = Vec::new();
            return;
        }
        taken.clear();
        if taken.capacity() > KEEP {
            taken = Vec::new();
        }
    }
}
