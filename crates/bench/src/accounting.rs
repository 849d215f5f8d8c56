//! Loss and duplicate accounting: which sequence numbers each subscriber has seen from each
//! publisher.
//!
//! Every subscriber keeps one bit per (publisher, sequence number). A message counts once,
//! as `unique`, the first time its bit is set and its send time lies in the measured
//! window; later copies count as `duplicates`. After the run, `expected` is what the
//! publishers had acknowledged (QoS 1/2) or written (QoS 0) in the window times the number
//! of subscribers each message is meant for, and `lost = expected - unique`.

use crate::payload::Stamp;

/// Highest sequence number tracked per publisher; later ones count as `foreign`.
///
/// Bounds the bitmap at 128 MiB per (subscriber, publisher). No bounded run gets near it:
/// publishers stop at the end of the window.
pub const MAX_TRACKED_SEQ: u64 = 1 << 30;

/// What one received message turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// First copy of this message.
    New,
    /// A copy of a message seen before.
    Duplicate,
    /// Not ours: a publisher index or sequence number out of range.
    Foreign,
}

/// Counts kept by one subscriber, merged across subscribers at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct messages from the measured window.
    pub unique: u64,
    /// Messages of any time received more than once (each extra copy counts).
    pub duplicates: u64,
    /// Messages that carry no valid stamp of this run.
    pub foreign: u64,
    /// Messages that arrived while the window was open, whenever they were sent.
    pub arrived_in_window: u64,
}

impl Counts {
    /// Adds another subscriber's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.unique += other.unique;
        self.duplicates += other.duplicates;
        self.foreign += other.foreign;
        self.arrived_in_window += other.arrived_in_window;
    }
}

/// One subscriber's record of the messages it has seen.
#[derive(Debug, Default)]
pub struct Reception {
    seen: Vec<SeqBits>,
    counts: Counts,
}

impl Reception {
    /// A record for a run with `publishers` publishers.
    pub fn new(publishers: u32) -> Self {
        Self {
            seen: (0..publishers).map(|_| SeqBits::default()).collect(),
            counts: Counts::default(),
        }
    }

    /// Records one message; `in_window` says whether its send time was measured.
    pub fn record(&mut self, stamp: &Stamp, in_window: bool) -> Outcome {
        let Some(bits) = self.seen.get_mut(stamp.publisher as usize) else {
            self.counts.foreign += 1;
            return Outcome::Foreign;
        };
        if stamp.seq >= MAX_TRACKED_SEQ {
            self.counts.foreign += 1;
            return Outcome::Foreign;
        }
        if bits.test_and_set(stamp.seq) {
            self.counts.duplicates += 1;
            Outcome::Duplicate
        } else {
            if in_window {
                self.counts.unique += 1;
            }
            Outcome::New
        }
    }

    /// Counts a message that could not be parsed as one of ours.
    pub fn record_foreign(&mut self) {
        self.counts.foreign += 1;
    }

    /// Counts `n` messages that arrived while the window was open.
    pub fn arrived_in_window(&mut self, n: u64) {
        self.counts.arrived_in_window += n;
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

/// A growable bitmap of sequence numbers.
#[derive(Debug, Default)]
struct SeqBits {
    words: Vec<u64>,
}

impl SeqBits {
    /// Sets the bit for `seq`, returning whether it was already set.
    fn test_and_set(&mut self, seq: u64) -> bool {
        let word = (seq / 64) as usize;
        let mask = 1u64 << (seq % 64);
        if word >= self.words.len() {
            // Grow geometrically so steady streams allocate O(log n) times.
            let len = (word + 1).max(self.words.len() * 2).max(1024);
            self.words.resize(len, 0);
        }
        let slot = &mut self.words[word];
        let was_set = *slot & mask != 0;
        *slot |= mask;
        was_set
    }
}

/// The outcome of a run's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// Deliveries that should have happened.
    pub expected: u64,
    /// Distinct deliveries that did.
    pub received: u64,
    /// `expected - received`, never negative.
    pub lost: u64,
}

impl Loss {
    /// Loss for `sent` messages each meant for `fanout` subscribers, `received` of which
    /// (distinct, across all subscribers) arrived.
    pub fn compute(sent: u64, fanout: u64, received: u64) -> Self {
        let expected = sent.saturating_mul(fanout);
        Self {
            expected,
            received,
            lost: expected.saturating_sub(received),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(publisher: u32, seq: u64) -> Stamp {
        Stamp {
            publisher,
            seq,
            sent_ns: 0,
        }
    }

    #[test]
    fn first_copy_is_new_and_later_copies_are_duplicates() {
        let mut r = Reception::new(2);
        assert_eq!(r.record(&stamp(0, 5), true), Outcome::New);
        assert_eq!(r.record(&stamp(1, 5), true), Outcome::New);
        assert_eq!(r.record(&stamp(0, 5), true), Outcome::Duplicate);
        assert_eq!(r.record(&stamp(0, 5), false), Outcome::Duplicate);
        let c = r.counts();
        assert_eq!((c.unique, c.duplicates, c.foreign), (2, 2, 0));
    }

    #[test]
    fn messages_outside_the_window_are_not_counted_as_received() {
        let mut r = Reception::new(1);
        assert_eq!(r.record(&stamp(0, 0), false), Outcome::New);
        assert_eq!(r.record(&stamp(0, 1), true), Outcome::New);
        assert_eq!(r.counts().unique, 1);
    }

    #[test]
    fn unknown_publishers_and_huge_sequences_are_foreign() {
        let mut r = Reception::new(1);
        assert_eq!(r.record(&stamp(1, 0), true), Outcome::Foreign);
        assert_eq!(r.record(&stamp(0, MAX_TRACKED_SEQ), true), Outcome::Foreign);
        r.record_foreign();
        assert_eq!(r.counts().foreign, 3);
        assert_eq!(r.counts().unique, 0);
    }

    #[test]
    fn out_of_order_and_sparse_sequences_are_tracked() {
        let mut r = Reception::new(1);
        for seq in [100_000, 3, 64, 63, 0, 99_999] {
            assert_eq!(r.record(&stamp(0, seq), true), Outcome::New, "seq {seq}");
        }
        for seq in [100_000, 3, 64, 63, 0, 99_999] {
            assert_eq!(r.record(&stamp(0, seq), true), Outcome::Duplicate);
        }
        assert_eq!(r.counts().unique, 6);
    }

    #[test]
    fn loss_is_expected_minus_received_and_never_negative() {
        let fan_in = Loss::compute(1_000, 3, 2_990);
        assert_eq!((fan_in.expected, fan_in.lost), (3_000, 10));
        let extra = Loss::compute(10, 1, 12);
        assert_eq!(extra.lost, 0);
    }

    #[test]
    fn counts_merge_by_addition() {
        let mut total = Counts::default();
        let one = Counts {
            unique: 1,
            duplicates: 2,
            foreign: 3,
            arrived_in_window: 4,
        };
        total.merge(&one);
        total.merge(&one);
        assert_eq!(total.unique, 2);
        assert_eq!(total.arrived_in_window, 8);
    }
}
