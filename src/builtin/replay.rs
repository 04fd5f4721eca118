//! [`Replayer`]: the bookkeeping of a reliable built-in spout: message ids
//! in flight and failed ones to emit again (at-least-once).

/// Tracks a spout's reliable emits. With reliability off it only numbers
/// positions; with it on, every position is emitted with its number as the
/// message id until it is acked, and failed ones come back first.
#[derive(Debug, Clone, Default)]
pub struct Replayer {
    reliable: bool,
    outstanding: u64,
    replays: Vec<u64>,
}

impl Replayer {
    /// A replayer; `reliable` makes emits carry message ids.
    pub fn new(reliable: bool) -> Self {
        Self {
            reliable,
            ..Self::default()
        }
    }

    /// Whether emits carry message ids.
    pub fn reliable(&self) -> bool {
        self.reliable
    }

    /// A failed position to emit again, if any (its emit is in flight again).
    pub fn next_replay(&mut self) -> Option<u64> {
        let id = self.replays.pop()?;
        self.outstanding += 1;
        Some(id)
    }

    /// Records a reliable emit of a new position.
    pub fn emitted(&mut self) {
        self.emitted_many(1);
    }

    /// Records reliable emits of `n` new positions.
    pub fn emitted_many(&mut self, n: u64) {
        if self.reliable {
            self.outstanding += n;
        }
    }

    /// The tree of `id` completed.
    pub fn ack(&mut self, _id: u64) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    /// The tree of `id` failed: emit it again.
    pub fn fail(&mut self, id: u64) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.replays.push(id);
    }

    /// Nothing in flight and nothing to replay.
    pub fn settled(&self) -> bool {
        self.outstanding == 0 && self.replays.is_empty()
    }
}
