//! A connection's outbound frames: two frame buffers, so the next frame is
//! built while the previous one is still being sent, and both go out in one
//! gathered write when the socket lags.

use gale_codec::FrameWriter;

use super::seal::{Session, TAG_LEN};

/// Up to two finished frames waiting to be sent, oldest first.
pub(crate) struct OutFrames {
    frames: [FrameWriter; 2],
    /// Index of the oldest finished frame.
    head: usize,
    /// Finished frames (0..=2) from `head` on.
    ready: usize,
    /// Bytes of the head frame already sent.
    sent: usize,
}

impl OutFrames {
    pub fn new() -> Self {
        OutFrames {
            frames: [FrameWriter::new(), FrameWriter::new()],
            head: 0,
            ready: 0,
            sent: 0,
        }
    }

    /// Finished frames waiting to be sent.
    pub fn queued(&self) -> usize {
        self.ready
    }

    /// The free frame buffer to fill, if one is free. A frame being sent is
    /// never handed out, so its bytes stay put while the kernel reads them.
    pub fn free(&mut self) -> Option<&mut FrameWriter> {
        (self.ready < 2).then(|| &mut self.frames[(self.head + self.ready) % 2])
    }

    /// Finishes the frame filled through [`free`](Self::free), if it holds
    /// records, and seals it with the session (its tag follows it); returns
    /// whether it did.
    pub fn seal(&mut self, session: &mut Session) -> bool {
        if self.ready < 2 {
            let frame = &mut self.frames[(self.head + self.ready) % 2];
            if frame.count() > 0 {
                let (bytes, tag) = frame.finish_with_trailer(TAG_LEN);
                session.seal(bytes, tag);
                self.ready += 1;
                return true;
            }
        }
        false
    }

    /// Queues the goodbye: an empty frame, sealed like any other, that
    /// tells the peer this side stops on purpose. Returns whether it was
    /// queued (a free buffer with no records was there).
    pub fn seal_goodbye(&mut self, session: &mut Session) -> bool {
        if self.ready < 2 {
            let frame = &mut self.frames[(self.head + self.ready) % 2];
            if frame.count() == 0 {
                let (bytes, tag) = frame.finish_with_trailer(TAG_LEN);
                session.seal(bytes, tag);
                self.ready += 1;
                return true;
            }
        }
        false
    }

    /// Records in frames not yet (completely) sent.
    pub fn unsent_records(&self) -> u64 {
        (0..self.ready)
            .map(|i| self.frames[(self.head + i) % 2].count() as u64)
            .sum()
    }

    /// The unsent bytes, oldest first (the second slice may be empty).
    pub fn bufs(&self) -> [&[u8]; 2] {
        let mut out: [&[u8]; 2] = [&[], &[]];
        if self.ready > 0 {
            out[0] = &self.frames[self.head].bytes()[self.sent..];
        }
        if self.ready > 1 {
            out[1] = self.frames[1 - self.head].bytes();
        }
        out
    }

    /// Marks `n` bytes as sent; returns the records of the frames completed.
    pub fn advance(&mut self, mut n: usize) -> u64 {
        let mut records = 0;
        while n > 0 && self.ready > 0 {
            let frame = &mut self.frames[self.head];
            let take = n.min(frame.len_bytes() - self.sent);
            self.sent += take;
            n -= take;
            if self.sent == frame.len_bytes() {
                records += frame.count() as u64;
                frame.clear();
                self.head = 1 - self.head;
                self.ready -= 1;
                self.sent = 0;
            }
        }
        debug_assert_eq!(n, 0, "sent more than was queued");
        records
    }
}

#[cfg(test)]
mod tests {
    use super::super::seal::{Session, TAG_LEN};
    use super::OutFrames;

    #[test]
    fn frames_go_out_in_order_across_partial_sends() {
        let mut q = OutFrames::new();
        let mut s = Session::derive(b"k", true, (1, 2), (&[0; 32], &[1; 32]));
        q.free().unwrap().push_record(&[1; 8]).unwrap();
        q.seal(&mut s);
        q.free().unwrap().push_record(&[2; 16]).unwrap();
        q.seal(&mut s);
        assert!(q.free().is_none());
        let [a, b] = q.bufs();
        let (la, lb) = (a.len(), b.len());
        assert_eq!((la, lb), (16 + 16 + TAG_LEN, 16 + 24 + TAG_LEN));
        assert_eq!(q.advance(10), 0);
        assert_eq!(q.bufs()[0].len(), la - 10);
        assert_eq!(q.advance(la - 10 + 5), 1);
        assert_eq!(q.bufs()[0].len(), lb - 5);
        assert!(q.bufs()[1].is_empty());
        q.free().unwrap().push_record(&[3; 8]).unwrap();
        q.seal(&mut s);
        assert_eq!(q.advance(lb - 5), 1);
        // The third frame, whole: header, one 8-byte record, tag.
        assert_eq!(q.bufs()[0].len(), 32 + TAG_LEN);
        assert_eq!(q.bufs()[0][12], 1, "its record count");
        assert_eq!(q.advance(32 + TAG_LEN), 1);
        assert!(q.bufs()[0].is_empty());
    }
}
