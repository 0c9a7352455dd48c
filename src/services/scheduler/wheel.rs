//! A hierarchical timing wheel over (due ms, schedule id) entries.
//!
//! Geometry (1 ms resolution, 32 bits of range, then an ordered overflow set):
//!
//! | level | slots | slot width  | level span  |
//! |-------|-------|-------------|-------------|
//! | 0     | 256   | 1 ms        | 256 ms      |
//! | 1     | 64    | 256 ms      | 16.4 s      |
//! | 2     | 64    | 16.4 s      | 17.5 min    |
//! | 3     | 64    | 17.5 min    | 18.6 h      |
//! | 4     | 64    | 18.6 h      | 49.7 days   |
//!
//! An entry goes to the lowest level whose span covers the highest bit in which its due time
//! differs from the wheel's `now` (the "xor" placement): so every entry of level k lies in a later
//! level-k slot than `now`, all entries of a lower level come before all entries of a higher one,
//! and finding the next deadline is a bitmap search per level. When `now` reaches the start of an
//! occupied slot of level k > 0, its entries cascade to lower levels; level-0 slots hold one
//! millisecond each and are emitted. Entries that differ from `now` above bit 32 (more than ~50
//! days ahead, or across a 2^32 ms boundary) wait in the overflow set until `now` enters their
//! window. Advancing over a long quiet stretch costs one step per occupied slot, not per ms.
//!
//! Entries cannot be removed: the scheduler resolves cancelled or already-handled entries when
//! they fire (a compare-and-set in redb), so a stale entry costs 16 bytes until its time.

use std::collections::BTreeSet;

/// (due time in Unix ms, schedule id).
pub type Entry = (i64, u64);

/// Bits per level, lowest first; slot width of level k is 2^(sum of the bits below k) ms.
const LEVEL_BITS: [u32; 5] = [8, 6, 6, 6, 6];
/// Total bits covered by the levels; beyond this entries sit in the overflow set.
const WHEEL_BITS: u32 = 32;

struct Level {
    shift: u32,
    bits: u32,
    slots: Vec<Vec<Entry>>,
    /// Bit i set when slot i holds entries (256 bits is enough for every level).
    occupied: [u64; 4],
}

impl Level {
    fn new(shift: u32, bits: u32) -> Level {
        Level {
            shift,
            bits,
            slots: (0..1usize << bits).map(|_| Vec::new()).collect(),
            occupied: [0; 4],
        }
    }

    /// The slot an instant falls in at this level.
    fn slot_of(&self, at: i64) -> usize {
        ((at >> self.shift) & ((1i64 << self.bits) - 1)) as usize
    }

    /// This level's span: entries whose due differs from `now` only below it belong here.
    fn span_bits(&self) -> u32 {
        self.shift + self.bits
    }

    /// The first occupied slot strictly after `slot`, if any.
    fn next_occupied_after(&self, slot: usize) -> Option<usize> {
        let start = slot + 1;
        let count = 1usize << self.bits;
        let mut word = start / 64;
        while word * 64 < count {
            let mut bits = self.occupied.get(word).copied().unwrap_or(0);
            if word == start / 64 {
                let skip = start % 64;
                bits = if skip == 0 {
                    bits
                } else {
                    bits & (!0u64 << skip)
                };
            }
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
            word += 1;
        }
        None
    }

    fn mark(&mut self, slot: usize, occupied: bool) {
        if let Some(word) = self.occupied.get_mut(slot / 64) {
            if occupied {
                *word |= 1 << (slot % 64);
            } else {
                *word &= !(1 << (slot % 64));
            }
        }
    }
}

/// Where the next deadline comes from.
enum Next {
    Slot { level: usize, slot: usize, at: i64 },
    Overflow { at: i64 },
}

/// The wheel. Time only moves forward: [`Wheel::advance`] to an earlier instant does nothing.
pub struct Wheel {
    /// Every entry due at or before this instant has been moved to `ready` or emitted.
    now: i64,
    levels: Vec<Level>,
    overflow: BTreeSet<Entry>,
    /// Entries already due, waiting for the next `advance`.
    ready: Vec<Entry>,
    len: usize,
}

impl Wheel {
    pub fn new(now: i64) -> Wheel {
        let mut shift = 0;
        let levels = LEVEL_BITS
            .iter()
            .map(|&bits| {
                let level = Level::new(shift, bits);
                shift += bits;
                level
            })
            .collect();
        Wheel {
            now,
            levels,
            overflow: BTreeSet::new(),
            ready: Vec::new(),
            len: 0,
        }
    }

    /// How many entries the wheel holds (including due ones not yet taken).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The instant up to which the wheel has been advanced.
    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn insert(&mut self, due_ms: i64, id: u64) {
        self.len += 1;
        self.place((due_ms, id));
    }

    fn place(&mut self, entry: Entry) {
        if entry.0 <= self.now {
            self.ready.push(entry);
            return;
        }
        let diff = (self.now ^ entry.0) as u64;
        for level in &mut self.levels {
            if diff < 1u64 << level.span_bits() {
                let slot = level.slot_of(entry.0);
                if let Some(list) = level.slots.get_mut(slot) {
                    list.push(entry);
                    level.mark(slot, true);
                    return;
                }
            }
        }
        self.overflow.insert(entry);
    }

    /// When [`Wheel::advance`] next has something to do: the wheel's `now` if entries are already
    /// due, else the start of the next occupied slot (a cascade or an emission). A caller that
    /// sleeps until then never misses an entry.
    pub fn next_deadline(&self) -> Option<i64> {
        if !self.ready.is_empty() {
            return Some(self.now);
        }
        self.next_slot().map(|next| match next {
            Next::Slot { at, .. } | Next::Overflow { at } => at,
        })
    }

    fn next_slot(&self) -> Option<Next> {
        for (index, level) in self.levels.iter().enumerate() {
            let current = level.slot_of(self.now);
            if let Some(slot) = level.next_occupied_after(current) {
                let base = self.now & !((1i64 << level.span_bits()) - 1);
                let at = base + ((slot as i64) << level.shift);
                return Some(Next::Slot {
                    level: index,
                    slot,
                    at,
                });
            }
        }
        self.overflow.first().map(|&(due, _)| Next::Overflow {
            at: due & !((1i64 << WHEEL_BITS) - 1),
        })
    }

    /// Moves time to `to` and returns every entry due at or before it, ordered by (due, id).
    pub fn advance(&mut self, to: i64) -> Vec<Entry> {
        let mut out = std::mem::take(&mut self.ready);
        while let Some(next) = self.next_slot() {
            match next {
                Next::Slot { level, slot, at } if at <= to => {
                    self.now = at;
                    let entries = match self.levels.get_mut(level) {
                        Some(l) => {
                            l.mark(slot, false);
                            l.slots
                                .get_mut(slot)
                                .map(std::mem::take)
                                .unwrap_or_default()
                        }
                        None => Vec::new(),
                    };
                    for entry in entries {
                        self.place(entry);
                    }
                }
                Next::Overflow { at } if at <= to => {
                    self.now = at;
                    let window = at >> WHEEL_BITS;
                    while let Some(&entry) = self.overflow.first() {
                        if entry.0 >> WHEEL_BITS != window {
                            break;
                        }
                        self.overflow.remove(&entry);
                        self.place(entry);
                    }
                }
                _ => break,
            }
            out.append(&mut self.ready);
        }
        if to > self.now {
            self.now = to;
        }
        self.len -= out.len();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_in_due_order_at_their_time() {
        let start = 1_759_752_000_123;
        let mut wheel = Wheel::new(start);
        let offsets = [
            5,
            1,
            300,
            20_000,
            2_000_000,
            90_000_000,
            5_000_000_000,
            0,
            -7,
        ];
        for (id, offset) in offsets.iter().enumerate() {
            wheel.insert(start + offset, id as u64);
        }
        assert_eq!(wheel.len(), offsets.len());
        let mut sorted: Vec<Entry> = offsets
            .iter()
            .enumerate()
            .map(|(id, o)| (start + o, id as u64))
            .collect();
        sorted.sort_unstable();
        let mut seen = Vec::new();
        for entry in &sorted {
            // Just before its time nothing new comes out; at its time it does. (Entries due
            // at or before the wheel's start are ready at once.)
            if entry.0 > start {
                let early = wheel.advance(entry.0 - 1);
                assert!(
                    early.iter().all(|e| e.0 < entry.0),
                    "{early:?} before {entry:?}"
                );
                seen.extend(early);
            }
            let now = wheel.advance(entry.0);
            assert!(now.iter().all(|e| e.0 <= entry.0.max(start)));
            seen.extend(now);
        }
        assert_eq!(seen, sorted);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn next_deadline_never_passes_an_entry() {
        let start = (1i64 << 32) - 1000; // crosses the 2^32 boundary: the overflow path
        let mut wheel = Wheel::new(start);
        let dues = [
            start + 10,
            start + 999,
            start + 1000,
            start + 1500,
            start + 70_000,
        ];
        for (id, due) in dues.iter().enumerate() {
            wheel.insert(*due, id as u64);
        }
        let mut emitted = Vec::new();
        while let Some(at) = wheel.next_deadline() {
            assert!(at > start - 1);
            for entry in wheel.advance(at) {
                assert_eq!(entry.0, at, "emitted exactly at its due time");
                emitted.push(entry.0);
            }
        }
        assert_eq!(emitted, dues);
    }

    #[test]
    fn a_long_jump_emits_everything_in_order() {
        let mut wheel = Wheel::new(0);
        let mut expected = Vec::new();
        let mut x: i64 = 12345;
        for id in 0..5000u64 {
            x = (x * 1_103_515_245 + 12_345) % (1 << 31);
            let due = x % (60 * 86_400_000);
            wheel.insert(due, id);
            expected.push((due, id));
        }
        expected.sort_unstable();
        let half = wheel.advance(30 * 86_400_000);
        let rest = wheel.advance(61 * 86_400_000);
        assert!(half.iter().all(|e| e.0 <= 30 * 86_400_000));
        assert!(rest.iter().all(|e| e.0 > 30 * 86_400_000));
        let all: Vec<Entry> = half.into_iter().chain(rest).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn entries_due_now_or_earlier_are_ready_at_once() {
        let mut wheel = Wheel::new(1000);
        wheel.insert(1000, 2);
        wheel.insert(10, 1);
        assert_eq!(wheel.next_deadline(), Some(1000));
        assert_eq!(wheel.advance(1000), vec![(10, 1), (1000, 2)]);
        assert_eq!(wheel.advance(999), vec![]);
        assert_eq!(wheel.now(), 1000);
    }

    /// Random inserts interleaved with random advances, checked against a sorted-set model:
    /// each advance returns exactly the model's entries due by then, in order.
    #[test]
    fn matches_a_sorted_set_model_under_random_operations() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let start = (1i64 << 32) * 409 - 5_000; // near a 2^32 boundary on purpose
        let mut wheel = Wheel::new(start);
        let mut model = BTreeSet::new();
        let mut now = start;
        let mut id = 0u64;
        for _ in 0..20_000 {
            if next() % 3 == 0 {
                let scale =
                    [300u64, 20_000, 2_000_000, 100_000_000, 8_000_000_000][(next() % 5) as usize];
                let due = now - 50 + (next() % scale) as i64;
                id += 1;
                wheel.insert(due, id);
                model.insert((due, id));
            } else {
                now += (next() % [3u64, 700, 90_000, 40_000_000][(next() % 4) as usize]) as i64;
                let got = wheel.advance(now);
                let mut want = Vec::new();
                while let Some(&first) = model.first() {
                    if first.0 > now {
                        break;
                    }
                    model.remove(&first);
                    want.push(first);
                }
                assert_eq!(got, want);
                assert_eq!(wheel.len(), model.len());
                if let (Some(deadline), Some(first)) = (wheel.next_deadline(), model.first()) {
                    assert!(deadline <= first.0, "deadline {deadline} after {first:?}");
                }
            }
        }
    }
}
